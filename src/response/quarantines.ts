import { randomUUID } from "node:crypto";
import { SCOPES, type Decision, type Scope } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import type { ReplicatedMap, ReplicaEntry, StoredEntry } from "../state/replicated-map.js";
import { StoreUnavailableError, type Store } from "../state/store.js";
import { ResponseError } from "./errors.js";
import { generatedWriteId, SYSTEM, type ResponseEvent, type ResponseEvents, type ResponseLog, type WriteId } from "./events.js";
import type { AuditedChange } from "../state/shared-map.js";
import { decodeQuarantine, entityOf, markOf, quarantineDurationMs, rebuildQuarantine, quarantineKey, subjectOf, type Quarantine, type QuarantineMark } from "./quarantine-record.js";

export interface QuarantinesDependencies {
  /**
   * Active quarantines, replicated to every replica (map "quarantines"): a compact copy (marks,
   * see QuarantineMark) bounded by count; full records are read from the store.
   */
  map: ReplicatedMap<QuarantineMark>;
  /** Remembers offences per scope value, for escalation. */
  store: Store;
  events: ResponseEvents;
  /** The audit record of an event, to write with the change it reports (AuditTrail.audited). */
  audited: (event: ResponseEvent, atMs: number, id: WriteId) => AuditedChange;
  log: ResponseLog;
  /** Wall clock, ms since the epoch: how much of an outage-time quarantine is left to share. */
  clock: () => number;
  /**
   * Longest a Check waits for the shared write of a new quarantine. Past it, the Check is
   * answered with a provisional quarantine this replica enforces at once, and the shared write
   * completes in the background.
   */
  budgetMs: number;
}

function alreadyQuarantined(active: QuarantineMark | undefined): ResponseError {
  const which = active ? ` (${active.id}, until ${new Date(active.expiresMs).toISOString()})` : "";
  return new ResponseError("conflict", `already quarantined on this scope${which}; lift that one first to replace it`);
}

/** Offences are one set per scope value: the member is the 10-second slot of the offence, so
 * replicas racing to quarantine the same client within moments count it once. */
const OFFENCES = "q.offences";
const OFFENCE_SLOT_MS = 10_000;
const MAX_REMEMBERED_OFFENCES = 64;

export type LiftHow = "id" | "scope" | "bulk";

/** A quarantine an analyst imposes by hand: which client, for how long, and why. */
export interface ManualQuarantine {
  scope: Scope;
  /** The pseudonym (or the subnet in clear), as the Check path derives it. */
  subject: string;
  durationMs: number;
  actor: string;
  reason?: string;
  policyVersion: string;
}

/**
 * Quarantines on the Check path and from the analyst API. Enforcement reads the local copy
 * only (no round trip); creation and lifts write to the shared map, whose announcements reach
 * every replica.
 */
export class Quarantines {
  readonly #deps: QuarantinesDependencies;
  readonly #pending = new Map<string, Promise<QuarantineMark>>();
  /** Provisional copies enforced while a slow shared write is in flight, by key. */
  readonly #provisional = new Map<string, string>();
  /** Made while the shared map was unreachable: shared once it answers again. */
  readonly #unshared = new Map<string, Quarantine>();

  constructor(deps: QuarantinesDependencies) {
    this.#deps = deps;
    // A reload replaces the copy with what the store holds; what only this replica knew goes back in.
    deps.map.onLoaded(() => void this.#shareUnshared());
    // Redis came back without its data: the quarantines this replica wrote back are audited.
    deps.map.onRestored((entries) => {
      // The text written back (rebuilt from the compact copy: the record without its rationale).
      for (const entry of entries) {
        const quarantine = entry.raw === undefined ? undefined : decodeQuarantine(entry.raw);
        if (quarantine) this.#deps.events.publish({ type: "quarantine.restored", quarantine });
      }
    });
  }

  /**
   * The active quarantine on any of the request's scopes, the one that lasts longest. From the
   * local copy, no round trip, while it holds every active quarantine; once its count bound left
   * some out, the keys it does not hold are read from the store (one round trip per Check until
   * they have expired). A store that cannot answer then is a quarantine not enforced on this
   * Check, never one forgotten: it is enforced again as soon as the store answers.
   */
  find(request: NormalisedRequest): QuarantineMark | undefined | Promise<QuarantineMark | undefined> {
    const complete = this.#deps.map.complete;
    // No quarantine anywhere (most of the time): no key to build per scope on every Check.
    if (complete && this.#deps.map.size === 0) return undefined;
    let found: QuarantineMark | undefined;
    // Made only when the copy is incomplete: every Check comes through here.
    let unheld: string[] | undefined;
    for (const scope of SCOPES) {
      const subject = subjectOf(request, scope);
      if (subject === undefined) continue;
      // A complete copy without a quarantine of this scope (most scopes, most of the time) answers
      // none: no key to build and look up (with ip alone held, three or four of a Check's five).
      if (complete && !this.#deps.map.holdsGroup(scope)) continue;
      const key = quarantineKey(scope, subject);
      const q = this.#deps.map.get(key)?.value;
      if (q) found = longest(found, q, request.timeMs);
      else if (!complete) (unheld ??= []).push(key);
    }
    return unheld === undefined ? found : this.#fetchLongest(unheld, found, request.timeMs);
  }

  /** Within the Check's budget (`budgetMs`): a slower or failing read holds nothing more on this Check. */
  async #fetchLongest(keys: string[], found: QuarantineMark | undefined, nowMs: number): Promise<QuarantineMark | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.#deps.budgetMs)));
    const read = this.#deps.map.fetch(keys).catch((error: unknown) => {
      if (error instanceof StoreUnavailableError) return undefined;
      throw error;
    });
    try {
      for (const q of (await Promise.race([read, late])) ?? []) if (q) found = longest(found, q, nowMs);
    } finally {
      clearTimeout(timer);
    }
    return found;
  }

  /**
   * Carries out a quarantine decision: the active quarantine of that scope value if there is
   * one, else a new one (escalated for a repeat offender). Undefined when the request has no
   * value for the rule's scope (e.g. a username rule on a request without one).
   */
  async impose(decision: Decision, request: NormalisedRequest, policy: CompiledPolicy): Promise<QuarantineMark | undefined> {
    const scope = decision.scope ?? "ip";
    const subject = subjectOf(request, scope);
    if (subject === undefined) return undefined;
    const key = quarantineKey(scope, subject);
    const active = this.#deps.map.get(key)?.value;
    if (active && active.expiresMs > request.timeMs) return active;
    let pending = this.#pending.get(key);
    if (!pending) {
      const draft = this.#draft(decision, request, policy, scope, subject);
      pending = this.#create(key, draft, policy).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return this.#withinBudget(pending, key, () => this.#draft(decision, request, policy, scope, subject));
  }

  /**
   * Imposes a quarantine by hand, shared at once, audited and announced like a rule's: the
   * quarantine and its audit record are one write. Refused (with the one in force) when the
   * client is already quarantined on that scope; escalation does not apply, the analyst chose
   * the duration. The same `id` again answers with the quarantine the first call made.
   */
  async imposeByHand(manual: ManualQuarantine, id: WriteId = generatedWriteId()): Promise<Quarantine> {
    const key = quarantineKey(manual.scope, manual.subject);
    const startMs = this.#deps.clock();
    const quarantine: Quarantine = {
      id: `q-${randomUUID()}`,
      scope: manual.scope,
      subject: manual.subject,
      rule: "",
      policyVersion: manual.policyVersion,
      reasons: [],
      startMs,
      expiresMs: startMs + manual.durationMs,
      offence: 1,
      actor: manual.actor,
      ...(manual.reason ? { reason: manual.reason } : {}),
    };
    const event = { type: "quarantine.created", quarantine, shared: true } as const;
    const stored = await this.#deps.map.putIfAbsent(key, JSON.stringify(quarantine), manual.durationMs, this.#deps.audited(event, startMs, id));
    if (!stored.created) throw alreadyQuarantined(this.#existing(key, stored.raw));
    if (stored.replayed) return decodeQuarantine(stored.raw) ?? quarantine;
    this.#deps.events.publish(event, { auditId: stored.auditId }, startMs);
    return quarantine;
  }

  /**
   * Active quarantines with their rationale, as the store holds them (one snapshot of the map),
   * with those this replica made while the store was unreachable. With the store unreachable,
   * what this replica's copy holds: its own in full, the others without their rationale (and a
   * lift of those, conditional on the stored text, cannot match: it removes nothing).
   */
  async list(): Promise<StoredEntry<Quarantine>[]> {
    let stored: StoredEntry<Quarantine>[];
    try {
      stored = await this.#deps.map.stored(decodeQuarantine);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      stored = this.#fromCopy();
    }
    const keys = new Set(stored.map((entry) => entry.key));
    const nowMs = this.#deps.clock();
    for (const [key, quarantine] of this.#unshared) {
      if (!keys.has(key) && quarantine.expiresMs > nowMs) stored.push({ key, raw: JSON.stringify(quarantine), value: quarantine, ttlMs: quarantine.expiresMs - nowMs });
    }
    return stored;
  }

  #fromCopy(): StoredEntry<Quarantine>[] {
    const nowMs = this.#deps.clock();
    const found: StoredEntry<Quarantine>[] = [];
    for (const { key, value } of this.#deps.map.entries()) {
      if (this.#unshared.has(key)) continue; // added in full by list()
      const raw = rebuildQuarantine(key, value);
      const quarantine = decodeQuarantine(raw);
      if (quarantine) found.push({ key, raw, value: quarantine, ttlMs: Math.max(1, value.expiresMs - nowMs) });
    }
    return found;
  }

  async byId(id: string): Promise<StoredEntry<Quarantine> | undefined> {
    return (await this.list()).find((entry) => entry.value.id === id);
  }

  /** This replica's compact copy (for gauges): every active quarantine while `complete`. */
  held(): ReplicaEntry<QuarantineMark>[] {
    return this.#deps.map.entries();
  }

  /**
   * Lifts one quarantine, only if it is still the one stored under its key (a newer one for the
   * same client stays): the removal and its audit record are one write. True when this call
   * lifted it (or, with an `id` seen before, when the first call did).
   */
  async lift(entry: StoredEntry<Quarantine>, actor: string, reason: string | undefined, how: LiftHow, id: WriteId = generatedWriteId()): Promise<boolean> {
    const atMs = this.#deps.clock();
    const event = { type: "quarantine.lifted", quarantine: entry.value, actor, reason, how } as const;
    const { removed, auditId, replayed } = await this.#deps.map.remove(entry.key, entry.raw, this.#deps.audited(event, atMs, id));
    if (removed && !replayed) this.#deps.events.publish(event, { auditId }, atMs);
    return removed;
  }

  #draft(decision: Decision, request: NormalisedRequest, policy: CompiledPolicy, scope: Scope, subject: string, offence = 1): Quarantine {
    const rule = policy.rules.find((r) => r.id === decision.rule);
    const baseMs = rule?.retryAfterMs ?? policy.response.quarantine.durationMs;
    return {
      id: `q-${randomUUID()}`,
      scope,
      subject,
      rule: decision.rule ?? "",
      policyVersion: decision.policyVersion,
      reasons: decision.reasons,
      decisionId: decision.decisionId,
      endpoint: decision.endpoint,
      startMs: request.timeMs,
      expiresMs: request.timeMs + quarantineDurationMs(baseMs, offence, policy.response.quarantine.escalation),
      offence,
      actor: SYSTEM,
    };
  }

  async #create(key: string, draft: Quarantine, policy: CompiledPolicy): Promise<QuarantineMark> {
    const offence = await this.#countOffence(draft, policy);
    const baseMs = draft.expiresMs - draft.startMs;
    const quarantine = { ...draft, offence, expiresMs: draft.startMs + quarantineDurationMs(baseMs, offence, policy.response.quarantine.escalation) };
    const raw = JSON.stringify(quarantine);
    const ttlMs = quarantine.expiresMs - quarantine.startMs;
    try {
      const atMs = this.#deps.clock();
      const event = { type: "quarantine.created", quarantine, shared: true } as const;
      const put = () => this.#deps.map.putIfAbsent(key, raw, ttlMs, this.#deps.audited(event, atMs, generatedWriteId()), markOf(quarantine));
      let stored = await put();
      if (!stored.created && (await this.#clearedIfOver(key, stored.raw, quarantine.startMs))) stored = await put();
      if (!stored.created) {
        // Another replica's quarantine stands: a provisional copy of ours must not outlive it.
        this.#dropProvisional(key);
        return this.#existing(key, stored.raw) ?? quarantine;
      }
      this.#provisional.delete(key); // our write replaced it in the copy
      this.#deps.events.publish(event, { auditId: stored.auditId }, atMs);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      // Enforced here until the shared map answers again; then shared (see #shareUnshared).
      this.#provisional.delete(key);
      this.#unshared.set(key, quarantine);
      this.#deps.map.putLocal(key, raw, ttlMs);
      this.#deps.log.warn({ err: error, quarantineId: quarantine.id, scope: quarantine.scope }, "quarantine kept on this replica only: store unavailable");
      this.#deps.events.publish({ type: "quarantine.created", quarantine, shared: false });
    }
    return quarantine;
  }

  /**
   * Removes a standing quarantine that is over by the request's time although the store still
   * holds its key: the store's TTL runs on the wall clock, a replay's requests on their event
   * time, which runs faster (in service the two agree but for clock skew). Without this, the
   * client's next offence would find the spent quarantine and go unheld until the wall clock
   * caught up. Removed only if unchanged, so a quarantine another replica wrote meanwhile stands.
   */
  async #clearedIfOver(key: string, raw: string, atMs: number): Promise<boolean> {
    const standing = decodeQuarantine(raw);
    if (!standing || standing.expiresMs > atMs) return false;
    // Whether this call removed it or another replica did first (and may have written its own,
    // which the caller's next write then finds), it is gone: the caller writes again.
    await this.#deps.map.remove(key, raw);
    return true;
  }

  /** Escalation: the offence count of this scope value, this one included (1 when unknown). */
  async #countOffence(draft: Quarantine, policy: CompiledPolicy): Promise<number> {
    const memoryMs = policy.response.quarantine.escalation.memoryMs;
    const member = String(Math.floor(draft.startMs / OFFENCE_SLOT_MS));
    const op = { op: "member.add" as const, name: OFFENCES, member, maxMembers: MAX_REMEMBERED_OFFENCES, retentionMs: memoryMs };
    try {
      const [count] = await this.#deps.store.apply(entityOf(draft.scope, draft.subject), [op], draft.startMs);
      return Math.max(1, count ?? 1);
    } catch {
      return 1;
    }
  }

  /** Another rule or replica got there first: use theirs (the copy has it, or will shortly). */
  #existing(key: string, raw: string): QuarantineMark | undefined {
    const stored = decodeQuarantine(raw);
    return this.#deps.map.get(key)?.value ?? (stored && markOf(stored));
  }

  async #withinBudget(pending: Promise<QuarantineMark>, key: string, provisional: () => Quarantine): Promise<QuarantineMark> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.#deps.budgetMs)));
    try {
      const settled = await Promise.race([pending, late]);
      if (settled) return settled;
    } finally {
      clearTimeout(timer);
    }
    const standIn = provisional();
    this.#deps.log.warn({ scope: standIn.scope, budgetMs: this.#deps.budgetMs }, "quarantine write slower than the Check budget: enforcing a provisional copy");
    if (!this.#deps.map.get(key)) {
      const raw = JSON.stringify(standIn);
      this.#provisional.set(key, raw);
      this.#deps.map.putLocal(key, raw, standIn.expiresMs - standIn.startMs);
    }
    return standIn;
  }

  /** Shares quarantines made during an outage that are still running, and records them now. */
  async #shareUnshared(): Promise<void> {
    for (const [key, quarantine] of this.#unshared) {
      const remainingMs = quarantine.expiresMs - this.#deps.clock();
      try {
        const atMs = this.#deps.clock();
        const event = { type: "quarantine.created", quarantine, shared: true } as const;
        const stored = remainingMs > 0 ? await this.#deps.map.putIfAbsent(key, JSON.stringify(quarantine), remainingMs, this.#deps.audited(event, atMs, generatedWriteId())) : undefined;
        if (stored?.created) this.#deps.events.publish(event, { auditId: stored.auditId }, atMs);
        this.#unshared.delete(key);
      } catch {
        return; // unreachable again: the next reload tries again
      }
    }
  }

  #dropProvisional(key: string): void {
    const raw = this.#provisional.get(key);
    this.#provisional.delete(key);
    if (raw !== undefined) this.#deps.map.dropLocal(key, raw);
  }
}

/** The later-ending of the quarantine found so far and `q`, if `q` is still running. */
function longest(found: QuarantineMark | undefined, q: QuarantineMark, nowMs: number): QuarantineMark | undefined {
  return q.expiresMs > nowMs && (!found || q.expiresMs > found.expiresMs) ? q : found;
}
