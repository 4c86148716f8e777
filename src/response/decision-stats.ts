import type { Decision } from "../domain/decision.js";
import {
  bucketStart,
  MAX_STATS_FIELDS,
  MINUTE_MS,
  STATS_OVERFLOW_FIELD,
  type DecisionStatsStore,
  type StatsBucket,
  type StatsResolution,
  type StatsRetention,
} from "../state/decision-stats.js";
import type { ResponseLog } from "./events.js";
import { PeriodicFlush } from "./periodic-flush.js";
import type { ReliefKind } from "./relief.js";

/**
 * The counters of one bucket. Names are short because every replica writes them every few
 * seconds; `<x>` parts are rule ids, endpoint names and reason families from the policy, never a
 * client's identifier.
 */
export const STAT = {
  /** Every decision. */
  total: "n",
  /** Decisions by action: `a:<action>`. */
  action: (action: string) => `a:${action}`,
  /** Decisions a rule chose, by rule and action: `r:<rule>:<action>`. */
  rule: (rule: string, action: string) => `r:${clean(rule)}:${action}`,
  /** Decisions on an endpoint: `e:<endpoint>:n`; of them not allowed: `e:<endpoint>:m`. */
  endpoint: (endpoint: string, mitigated: boolean) => `e:${clean(endpoint)}:${mitigated ? "m" : "n"}`,
  /** Mitigated decisions by the family of their strongest reason: `f:<family>`. */
  family: (family: string) => `f:${clean(family)}`,
  /** A shadow rule that would have acted: `s:<rule>`. */
  shadow: (rule: string) => `s:${clean(rule)}`,
  /** Friction waived because the client had proved itself (challenge passed, MFA). */
  waived: "w",
  /** A decision on an endpoint while a site-wide anomaly (a `site.*` reason) was in force there: `i:<endpoint>`. */
  incident: (endpoint: string) => `i:${clean(endpoint)}`,
  /** Decided without the shared store (degraded). */
  degraded: "d",
  /** A passed challenge or MFA reported by the application: friction met by a legitimate user. */
  relief: (kind: ReliefKind) => `l:${kind}`,
  /** Fields past the bucket's bound are counted here instead. */
  overflow: STATS_OVERFLOW_FIELD,
} as const;

function clean(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64);
}

/** Reason code of a request denied by a quarantine already in force (see responder.ts). */
const HELD_CODE = "quarantine.active";

/** The family of a decision: the first part of its strongest reason's code (`velocity.ip` → velocity). */
export function familyOf(decision: Pick<Decision, "reasons">): string {
  let best: Decision["reasons"][number] | undefined;
  for (const reason of decision.reasons) if (reason.weight > 0 && (!best || reason.weight > best.weight)) best = reason;
  const code = (best ?? decision.reasons[0])?.code;
  return code ? (code.split(".")[0] ?? "other") : "other";
}

/** Rules whose family is remembered, for requests a quarantine holds (they carry no signal of their own). */
const MAX_RULE_FAMILIES = 256;

/** Field names by the policy names they are made of, built once each (at most MAX_NAMES per kind). */
class FieldNames {
  readonly #actions = new Map<string, string>();
  readonly #rules = new Map<string, Map<string, string>>();
  readonly #endpoints = new Map<string, { all: string; mitigated: string; incident: string }>();
  readonly #families = new Map<string, string>();
  readonly #shadows = new Map<string, string>();

  action(action: string): string {
    return cached(this.#actions, action, () => STAT.action(action));
  }

  rule(rule: string, action: string): string {
    const byAction = cached(this.#rules, rule, () => new Map<string, string>());
    return cached(byAction, action, () => STAT.rule(rule, action));
  }

  endpoint(endpoint: string): { all: string; mitigated: string; incident: string } {
    return cached(this.#endpoints, endpoint, () => ({ all: STAT.endpoint(endpoint, false), mitigated: STAT.endpoint(endpoint, true), incident: STAT.incident(endpoint) }));
  }

  family(family: string): string {
    return cached(this.#families, family, () => STAT.family(family));
  }

  shadow(rule: string): string {
    return cached(this.#shadows, rule, () => STAT.shadow(rule));
  }
}

const MAX_NAMES = 1_024;

/** The value under `key`, made and kept while the map has room (made each time once it is full). */
function cached<V>(map: Map<string, V>, key: string, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    if (map.size < MAX_NAMES) map.set(key, value);
  }
  return value;
}

export interface DecisionStatisticsDependencies {
  store: DecisionStatsStore;
  /** From the policy in force: hours are kept as long as the audit trail. */
  retention: () => StatsRetention;
  clock: () => number;
  log: ResponseLog;
  /** How often counts are added to the shared store. */
  flushEveryMs?: number;
}

/** Minutes of counts kept while the store is away; older ones are dropped (and logged). */
const MAX_PENDING_MINUTES = 10;

/**
 * Counts every decision into the current minute in memory and adds the counts to the shared
 * store every few seconds, so that a flood costs one script call per replica per flush, not one
 * per request. Reads add what this replica has not flushed yet.
 */
export class DecisionStatistics {
  readonly #deps: DecisionStatisticsDependencies;
  readonly #pending = new Map<number, Map<string, number>>();
  /** The family each rule last acted on; a held request counts under its quarantine's rule's family. */
  readonly #ruleFamilies = new Map<string, string>();
  readonly #flusher: PeriodicFlush;
  /** True after a failed flush until one succeeds: the store being away is logged once, not every flush. */
  #failing = false;
  #currentMinute = -1;
  #currentCounts: Map<string, number> | undefined;
  readonly #fields = new FieldNames();

  constructor(deps: DecisionStatisticsDependencies) {
    this.#deps = deps;
    this.#flusher = new PeriodicFlush(() => this.#flushAll(), deps.flushEveryMs ?? 5_000);
  }

  /**
   * Counts one decision. On the Check path: field names are built once per rule, endpoint and
   * family and reused, and the current minute's counters are kept at hand.
   */
  observe(decision: Decision): void {
    const counts = this.#current();
    const action = decision.action;
    const mitigated = action !== "allow";
    this.#bump(counts, STAT.total);
    this.#bump(counts, this.#fields.action(action));
    if (decision.rule) this.#bump(counts, this.#fields.rule(decision.rule, action));
    const endpoint = decision.endpoint ? this.#fields.endpoint(decision.endpoint) : undefined;
    if (endpoint) {
      this.#bump(counts, endpoint.all);
      if (mitigated) this.#bump(counts, endpoint.mitigated);
    }
    if (mitigated) this.#bump(counts, this.#fields.family(this.#family(decision)));
    for (const shadow of decision.shadowed) this.#bump(counts, this.#fields.shadow(shadow.rule));
    if (decision.degraded) this.#bump(counts, STAT.degraded);
    for (const reason of decision.reasons) {
      if (reason.code === "friction.waived") this.#bump(counts, STAT.waived);
      else if (endpoint && reason.code.startsWith("site.")) {
        this.#bump(counts, endpoint.incident);
        break;
      }
    }
  }

  #family(decision: Decision): string {
    const held = decision.reasons.some((r) => r.code === HELD_CODE);
    if (held) return (decision.rule && this.#ruleFamilies.get(decision.rule)) || "quarantine";
    const family = familyOf(decision);
    if (decision.rule && (this.#ruleFamilies.has(decision.rule) || this.#ruleFamilies.size < MAX_RULE_FAMILIES)) this.#ruleFamilies.set(decision.rule, family);
    return family;
  }

  relief(kind: ReliefKind): void {
    this.#bump(this.#current(), STAT.relief(kind));
  }

  start(): void {
    this.#flusher.start();
  }

  stop(): Promise<void> {
    return this.#flusher.stop();
  }

  /** Adds every pending minute to the store; a minute that fails stays pending for the next flush. */
  flush(): Promise<void> {
    return this.#flusher.flush();
  }

  /** The fleet's buckets from the store, plus this replica's counts not flushed yet. */
  async read(resolution: StatsResolution, fromMs: number, toMs: number): Promise<StatsBucket[]> {
    const stored = await this.#deps.store.read(resolution, fromMs, toMs);
    const byStart = new Map(stored.map((bucket) => [bucket.startMs, { ...bucket.counts }]));
    for (const [minute, counts] of this.#pending) {
      const start = bucketStart(resolution, minute);
      if (start < bucketStart(resolution, fromMs) || start > toMs) continue;
      const bucket = byStart.get(start) ?? {};
      for (const [field, count] of counts) bucket[field] = (bucket[field] ?? 0) + count;
      byStart.set(start, bucket);
    }
    return [...byStart.entries()].sort(([a], [b]) => a - b).map(([startMs, counts]) => ({ startMs, counts }));
  }

  /** The counters of the minute it is now, created (and old pending minutes dropped) when it begins. */
  #current(): Map<string, number> {
    const minute = bucketStart("minute", this.#deps.clock());
    if (minute === this.#currentMinute && this.#currentCounts && this.#pending.get(minute) === this.#currentCounts) return this.#currentCounts;
    let counts = this.#pending.get(minute);
    if (!counts) {
      this.#pending.set(minute, (counts = new Map()));
      this.#dropOld(minute);
    }
    this.#currentMinute = minute;
    this.#currentCounts = counts;
    return counts;
  }

  #bump(counts: Map<string, number>, field: string): void {
    const count = counts.get(field);
    if (count !== undefined) counts.set(field, count + 1);
    else if (counts.size < MAX_STATS_FIELDS - 1) counts.set(field, 1);
    else counts.set(STAT.overflow, (counts.get(STAT.overflow) ?? 0) + 1);
  }

  #dropOld(current: number): void {
    for (const minute of this.#pending.keys()) {
      if (minute > current - MAX_PENDING_MINUTES * MINUTE_MS) continue;
      this.#pending.delete(minute);
      this.#deps.log.warn({ minute: new Date(minute).toISOString() }, "decision statistics of a minute dropped: the store was away too long");
    }
  }

  async #flushAll(): Promise<void> {
    const retention = this.#deps.retention();
    for (const [minute, counts] of [...this.#pending]) {
      this.#pending.delete(minute);
      try {
        await this.#deps.store.add(minute, Object.fromEntries(counts), retention);
      } catch (error) {
        // Put the counts back (merged with any taken meanwhile) and try again next time.
        const now = this.#pending.get(minute) ?? new Map<string, number>();
        for (const [field, count] of counts) now.set(field, (now.get(field) ?? 0) + count);
        this.#pending.set(minute, now);
        if (!this.#failing) this.#deps.log.warn({ err: error }, "decision statistics not written: store unavailable, kept for the next try");
        this.#failing = true;
        return;
      }
    }
    if (this.#failing) this.#deps.log.info({}, "decision statistics written again");
    this.#failing = false;
  }
}
