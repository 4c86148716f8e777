import { createHash, randomUUID } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Action, Decision, Reason, Scope } from "../domain/decision.js";
import { MINUTE_MS } from "../state/decision-stats.js";
import { nextTurn } from "../domain/next-turn.js";
import type { DecisionRecordLimits, DecisionRecordStore, DecisionRecordWrite, StoredDecisionRecord } from "../state/decision-records.js";
import type { ResponseLog } from "./events.js";
import { PeriodicFlush } from "./periodic-flush.js";

/** The actions that leave a decision record: every one but allow. */
export function isRecorded(action: Action): boolean {
  return action !== "allow";
}

/**
 * A decision record as the analyst API shows it: one aggregate of decisions with the same
 * action, rule, scope, subject and endpoint in one minute. Pseudonyms only.
 */
export interface DecisionRecord {
  /** The id of the first decision of the aggregate. */
  firstDecisionId: string;
  action: Action;
  rule?: string;
  scope?: Scope;
  /** The pseudonymous subject (absent on an overflow record: the minute was full). */
  subject?: string;
  /** The client's network in clear (its subnet, as the policy groups addresses; never an address). */
  network?: string;
  endpoint?: string;
  policyVersion: string;
  risk: number;
  /** The first decision's reasons, with their values and thresholds: the rationale. */
  reasons: Reason[];
  degraded: boolean;
  /** Event time of the first decision, ISO 8601 (a replay's or a late event's own time). */
  eventTime: string;
  /** Wall-clock time of the first decision counted, ISO 8601. */
  first: string;
  /** Wall-clock time of the last decision counted, ISO 8601. */
  last: string;
  /** The minute the aggregate covers, ISO 8601. */
  minute: string;
  /** Decisions the aggregate covers. */
  count: number;
  /** True when the minute held too many records and this one counts a rule's decisions over all subjects. */
  overflow: boolean;
}

/**
 * A recorded decision's id: `d<minute, base 36>-<aggregate hash>-<overflow hash>-<random>`. The
 * hashes are SHA-256 of the aggregate's key (pseudonyms, rule, endpoint names) cut to 64 and 48
 * bits: they name a record, they reveal nothing, and the random part keeps every id unique. Any
 * replica finds the record from the id alone; clients treat it as opaque.
 */
const RECORDED_ID = /^d([0-9a-z]{1,11})-([0-9a-f]{16})-([0-9a-f]{12})-[0-9a-f]{12}$/;

export interface RecordAddress {
  minuteMs: number;
  field: string;
  overflowField: string;
}

/** Where the record of a recorded decision's id lives; undefined for any other id. */
export function recordAddressOf(decisionId: string): RecordAddress | undefined {
  const match = RECORDED_ID.exec(decisionId);
  if (!match) return undefined;
  const minuteMs = parseInt(match[1]!, 36) * MINUTE_MS;
  if (!Number.isSafeInteger(minuteMs)) return undefined;
  return { minuteMs, field: match[2]!, overflowField: `o${match[3]!}` };
}

function hash(parts: readonly (string | undefined)[], hexDigits: number): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, hexDigits);
}

export interface DecisionRecordsDependencies {
  store: DecisionRecordStore;
  /** From the policy in force (`response.decisions`). */
  limits: () => DecisionRecordLimits;
  /** Wall clock, ms since the epoch: records are kept by it, whatever the event time. */
  clock: () => number;
  log: ResponseLog;
  /** How often pending counts go to the shared store; 2 s when absent. */
  flushEveryMs?: number;
  /** Aggregates this replica keeps at hand; 10,000 when absent. */
  capacity?: number;
}

interface Pending {
  write: DecisionRecordWrite;
}

/**
 * Records every enforcement in the shared store, cheaply enough for the Check path: the first
 * decision of an aggregate (action, rule, scope, subject, endpoint, minute) is written at once;
 * later ones only count in memory, and the counts are added every few seconds. A flood from one
 * client thus costs one record and a write per flush, not one per request. The aggregates at
 * hand are an LRU: one pushed out with counts not yet written is written on the next flush.
 * Writes of one aggregate may overlap (a first write and a flush): the store adds counts, and
 * only the first write to reach it creates the record.
 */
export class DecisionRecords {
  readonly #deps: DecisionRecordsDependencies;
  readonly #pending: LRUCache<string, Pending>;
  /** Aggregates pushed out of the LRU with counts still to write. */
  #evicted: DecisionRecordWrite[] = [];
  /** Minutes the store said are full (a new aggregate went to the overflow): new clients count locally. */
  readonly #fullMinutes = new Set<number>();
  /** Overflow aggregates of full minutes, counted here and written on each flush. */
  readonly #overflows = new LRUCache<string, Pending>({ max: 1_000, disposeAfter: (entry) => entry.write.count > 0 && this.#keepEvicted([{ ...entry.write }]) });
  /** Writes of new aggregates under way (made on the Check path, not awaited there). */
  readonly #firstWrites = new Set<Promise<void>>();
  readonly #flusher: PeriodicFlush;
  #failing = false;

  constructor(deps: DecisionRecordsDependencies) {
    this.#deps = deps;
    this.#flusher = new PeriodicFlush(() => this.#flushAll(), deps.flushEveryMs ?? 2_000);
    this.#pending = new LRUCache<string, Pending>({
      max: deps.capacity ?? 10_000,
      disposeAfter: (entry, _key, reason) => {
        if ((reason === "evict" || reason === "delete") && entry.write.count > 0) this.#keepEvicted([{ ...entry.write }]);
      },
    });
  }

  /**
   * Counts a decision that is not an allow into its aggregate and returns the decision id to give
   * the client: one that names the aggregate. `subject` is the pseudonym of the rule's scope.
   */
  record(decision: Decision, subject: string | undefined, network?: string): string {
    const nowMs = this.#deps.clock();
    const minuteMs = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    const { action, rule, scope, endpoint } = decision;
    const key = JSON.stringify([minuteMs, action, rule, scope, subject, endpoint]);
    let pending = this.#pending.get(key);
    let field: string;
    let overflowField: string;
    if (pending) {
      pending.write.count += 1;
      pending.write.lastMs = nowMs;
      ({ field, overflowField } = pending.write);
    } else {
      field = hash([action, rule, scope, subject, endpoint], 16);
      overflowField = `o${hash([action, rule, scope, endpoint], 12)}`;
      const record = recordOf(decision, subject, network, nowMs);
      // An overflow aggregate counts many clients: it names neither a subject nor a network.
      const { subject: _subject, network: _network, ...overflowRecord } = record;
      if (this.#fullMinutes.has(minuteMs)) {
        // The minute is full: count in the overflow aggregate here, not one write per new client.
        this.#countOverflow(JSON.stringify([minuteMs, action, rule, scope, endpoint]), { minuteMs, field: overflowField, overflowField, record: overflowRecord, overflowRecord, count: 0, lastMs: nowMs });
      } else {
        pending = { write: { minuteMs, field, overflowField, record, overflowRecord, count: 1, lastMs: nowMs } };
        this.#pending.set(key, pending);
        const first = this.#writeFirst(key, pending);
        this.#firstWrites.add(first);
        void first.finally(() => this.#firstWrites.delete(first));
      }
    }
    // randomUUID draws from a pooled buffer (randomBytes does not): 48 random bits from its first groups.
    const random = randomUUID();
    return `d${(minuteMs / MINUTE_MS).toString(36)}-${field}-${overflowField.slice(1)}-${random.slice(0, 8)}${random.slice(9, 13)}`;
  }

  #countOverflow(key: string, write: DecisionRecordWrite): void {
    let pending = this.#overflows.get(key);
    if (!pending) this.#overflows.set(key, (pending = { write }));
    pending.write.count += 1;
    pending.write.lastMs = write.lastMs;
  }

  /** The aggregate a recorded decision's id names, from the shared store; undefined for other ids. */
  async find(decisionId: string): Promise<DecisionRecord | undefined> {
    const address = recordAddressOf(decisionId);
    if (!address) return undefined;
    const stored = await this.#deps.store.get(address.minuteMs, address.field, address.overflowField);
    return stored && view(stored);
  }

  /** Records of [fromMs, toMs], newest first, that match. */
  async list(query: { fromMs: number; toMs: number; limit: number; match?: (record: DecisionRecord) => boolean }): Promise<DecisionRecord[]> {
    const { match } = query;
    const found = await this.#deps.store.list({ fromMs: query.fromMs, toMs: query.toMs, limit: query.limit, match: match && ((stored) => match(view(stored))) });
    return found.map(view);
  }

  start(): void {
    this.#flusher.start();
  }

  stop(): Promise<void> {
    return this.#flusher.stop();
  }

  /** Adds every pending count to the store; what fails is kept for the next flush. */
  flush(): Promise<void> {
    return this.#flusher.flush();
  }

  async #writeFirst(key: string, pending: Pending): Promise<void> {
    const write = this.#take(pending);
    await this.#write([write], () => this.#putBack(key, pending, write));
  }

  async #flushAll(): Promise<void> {
    // First writes still under way are waited for: a flush (and stop) leaves nothing behind.
    await Promise.all(this.#firstWrites);
    const writes: { write: DecisionRecordWrite; putBack: () => void }[] = this.#evicted.map((write) => ({ write, putBack: () => this.#keepEvicted([write]) }));
    this.#evicted = [];
    for (const entries of [this.#pending, this.#overflows]) {
      for (const [key, pending] of entries.entries()) {
        if (pending.write.count === 0) continue;
        const write = this.#take(pending);
        writes.push({ write, putBack: () => this.#putBack(key, pending, write) });
      }
    }
    // A flood from many clients leaves thousands of aggregates to write. Sent all at once, 10,000
    // of them held the event loop for 133-471 ms of CPU (bench/record-flush.ts); in batches, each
    // sent once the previous one is answered and after a turn of the event loop, Checks are
    // served in between and each reply stays small.
    for (let start = 0; start < writes.length; start += RECORD_FLUSH_BATCH) {
      if (start > 0) await nextTurn();
      const batch = writes.slice(start, start + RECORD_FLUSH_BATCH);
      const written = await this.#write(
        batch.map(({ write }) => write),
        () => {
          for (const { putBack } of writes.slice(start)) putBack();
        },
      );
      if (!written) return;
    }
  }

  /** The pending write of an aggregate, its count reset for the decisions that follow. */
  #take(pending: Pending): DecisionRecordWrite {
    const write = { ...pending.write };
    pending.write.count = 0;
    return write;
  }

  /** A failed write's count goes back to its aggregate, or waits with the evicted ones if it is gone. */
  #putBack(key: string, pending: Pending, write: DecisionRecordWrite): void {
    if (this.#pending.peek(key) === pending || this.#overflows.peek(key) === pending) pending.write.count += write.count;
    else this.#keepEvicted([write]);
  }

  #minuteFull(minuteMs: number): void {
    this.#fullMinutes.add(minuteMs);
    for (const minute of this.#fullMinutes) if (minute < minuteMs - 2 * MINUTE_MS) this.#fullMinutes.delete(minute);
  }

  #keepEvicted(writes: DecisionRecordWrite[]): void {
    this.#evicted.push(...writes.slice(0, Math.max(0, MAX_EVICTED - this.#evicted.length)));
  }

  /** False when the store failed (`onFailure` has then put the counts back). */
  async #write(writes: DecisionRecordWrite[], onFailure: () => void): Promise<boolean> {
    try {
      const own = await this.#deps.store.write(writes, this.#deps.limits());
      for (const [i, write] of writes.entries()) if (own[i] === false && write.field !== write.overflowField) this.#minuteFull(write.minuteMs);
      if (this.#failing) this.#deps.log.info({}, "decision records written again");
      this.#failing = false;
      return true;
    } catch (error) {
      onFailure();
      if (!this.#failing) this.#deps.log.warn({ err: error }, "decision records not written: store unavailable, counts kept for the next try");
      this.#failing = true;
      return false;
    }
  }
}

/** Aggregates pushed out of the LRU that wait for a flush; beyond this, their counts are lost. */
const MAX_EVICTED = 10_000;

/** Aggregates a flush writes per store call, with a turn of the event loop between calls. */
export const RECORD_FLUSH_BATCH = 100;

function recordOf(decision: Decision, subject: string | undefined, network: string | undefined, nowMs: number): Record<string, unknown> {
  return {
    firstDecisionId: decision.decisionId,
    action: decision.action,
    rule: decision.rule,
    scope: decision.scope,
    subject,
    network,
    endpoint: decision.endpoint,
    policyVersion: decision.policyVersion,
    risk: decision.risk,
    reasons: decision.reasons,
    degraded: decision.degraded,
    eventTimeMs: decision.eventTimeMs,
    firstMs: nowMs,
  };
}

function view(stored: StoredDecisionRecord): DecisionRecord {
  const r = stored.record;
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return {
    firstDecisionId: text(r.firstDecisionId) ?? "",
    action: (text(r.action) ?? "block") as Action,
    rule: text(r.rule),
    scope: text(r.scope) as Scope | undefined,
    subject: stored.overflow ? undefined : text(r.subject),
    network: stored.overflow ? undefined : text(r.network),
    endpoint: text(r.endpoint),
    policyVersion: text(r.policyVersion) ?? "",
    risk: typeof r.risk === "number" ? r.risk : 0,
    reasons: Array.isArray(r.reasons) ? (r.reasons as Reason[]) : [],
    degraded: r.degraded === true,
    eventTime: isoTime(r.eventTimeMs, stored.minuteMs),
    first: isoTime(r.firstMs, stored.minuteMs),
    last: isoTime(stored.lastMs, stored.minuteMs),
    minute: new Date(stored.minuteMs).toISOString(),
    count: stored.count,
    overflow: stored.overflow,
  };
}

function isoTime(ms: unknown, fallback: number): string {
  const value = typeof ms === "number" && Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? ms : fallback;
  return new Date(value).toISOString();
}
