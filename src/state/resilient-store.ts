import { MemoryStore } from "./memory-store.js";
import {
  applyBatch,
  assertValidApply,
  assertValidBaselineObservation,
  assertValidBinding,
  assertValidExchange,
  StoreUnavailableError,
  type BaselineObservation,
  type BaselineState,
  type EntityBatch,
  type EntityOp,
  type Publication,
  type Store,
} from "./store.js";
import { stepBinding, type BindingRecord, type BindingRules, type BindingUse } from "./token-binding-record.js";

/** Results of one `apply()` and whether they came from local state instead of the shared store. */
export interface ApplyOutcome {
  results: number[];
  degraded: boolean;
}

/**
 * Results of one `applyBatch()` per batch, undefined for a batch that could not be applied (its
 * ops were invalid), and whether any came from local state or failed.
 */
export interface BatchOutcome {
  results: (number[] | undefined)[];
  degraded: boolean;
}

/** A store that can say when it answered from a fallback. */
export interface DegradableStore extends Store {
  applyWithStatus(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<ApplyOutcome>;
  applyBatchWithStatus(batches: readonly EntityBatch[], nowMs: number): Promise<BatchOutcome>;
  isDegraded(): boolean;
}

/** Works for any store, so callers need not know which one they hold; plain stores never degrade. */
export async function applyWithStatus(
  store: Store,
  entity: string,
  ops: readonly EntityOp[],
  nowMs: number,
): Promise<ApplyOutcome> {
  if (isDegradable(store)) return store.applyWithStatus(entity, ops, nowMs);
  return { results: await store.apply(entity, ops, nowMs), degraded: false };
}

/**
 * Several entities' ops in as few store calls as the store allows (Store.applyBatch). A batch
 * with invalid ops gets undefined and marks the outcome degraded, as it did when each entity
 * was applied alone; the other batches are applied.
 */
export function applyBatchWithStatus(store: Store, batches: readonly EntityBatch[], nowMs: number): Promise<BatchOutcome> {
  // The store's own promise, not one more around it: every ShouldRateLimit and Check comes here.
  return isDegradable(store) ? store.applyBatchWithStatus(batches, nowMs) : applyEachValid(store, batches, nowMs);
}

async function applyEachValid(store: Store, batches: readonly EntityBatch[], nowMs: number): Promise<BatchOutcome> {
  const { valid, results } = partitionValid(batches, nowMs);
  const applied = await applyBatch(store, valid.map((i) => batches[i]!), nowMs);
  valid.forEach((batch, i) => (results[batch] = applied[i]));
  return { results, degraded: valid.length < batches.length };
}

/** Indices of the batches whose ops are valid, and a result list with a hole for each batch. */
function partitionValid(batches: readonly EntityBatch[], nowMs: number): { valid: number[]; results: (number[] | undefined)[] } {
  const valid: number[] = [];
  for (let i = 0; i < batches.length; i++) {
    try {
      assertValidApply(batches[i]!.entity, batches[i]!.ops, nowMs);
      valid.push(i);
    } catch {
      // left undefined: the caller treats it as a failed call
    }
  }
  return { valid, results: new Array<number[] | undefined>(batches.length) };
}

/** For health endpoints: true while the store is serving from a fallback. */
export function isStoreDegraded(store: Store): boolean {
  return isDegradable(store) && store.isDegraded();
}

function isDegradable(store: Store): store is DegradableStore {
  const candidate = store as Partial<DegradableStore>;
  return typeof candidate.applyWithStatus === "function" && typeof candidate.isDegraded === "function";
}

export interface DegradationChange {
  degraded: boolean;
  /** The primary's kind, e.g. `redis`. */
  store: string;
  /** The failure that started the degradation (absent on recovery). */
  cause?: StoreUnavailableError;
}

export interface ResilientStoreOptions {
  /** After a failure, how long calls skip the primary before one call probes it again. */
  retryAfterMs?: number;
  /**
   * Consecutive failed calls before the store counts as degraded (and calls skip it). One slow
   * reply answers that call from local state but does not switch the whole replica over.
   */
  failuresToDegrade?: number;
  /** Monotonic clock for the back-off; tests pass a fake. */
  clock?: () => number;
}

export const DEFAULT_RETRY_AFTER_MS = 1_000;
export const DEFAULT_FAILURES_TO_DEGRADE = 3;

/**
 * What the local copy keeps while Redis answers: the writes to counters and remembered sets,
 * whose local update costs next to nothing (reads change nothing there, so they are not repeated). Distinct counts are not mirrored: a HyperLogLog merge per op
 * cost a tenth of the Check's CPU (measured in bench/), for continuity only during an outage;
 * while degraded they restart from the replica's own traffic.
 */
function isCheapToMirror(op: EntityOp): boolean {
  return op.op !== "distinct.add" && writes(op);
}

/**
 * Whether an op changes what the store holds. The mirror needs only those: a read (a window
 * read with amount 0, a membership check, a value read) leaves the local copy as it was.
 */
function writes(op: EntityOp): boolean {
  switch (op.op) {
    case "window.add":
      return op.amount > 0;
    case "window.take": // a take that only reads still decides, locally, whether the others fit
      return true;
    case "member.check":
      return false;
    case "value.swap":
      return op.value !== undefined;
    default:
      return true;
  }
}

/**
 * "Redis unavailable: decisions go on from local state." Serves from the primary (Redis) while it
 * answers and from a local store when it does not.
 *
 * - Every successful primary call (but its distinct counts, see isCheapToMirror) is mirrored into the local store, so that when Redis goes away
 *   the local counters already hold this replica's recent traffic instead of starting from zero
 *   (they miss other replicas' share). Increments made while degraded are not replayed into
 *   Redis on recovery: after a window or two the difference has expired anyway.
 * - Baselines are mirrored the same way: the local baseline folds in the observations of this
 *   replica, so it approximates the shared one (learned from whichever replica observed each
 *   period first) and carries on from there while Redis is away.
 * - After a failure the primary is skipped for `retryAfterMs`, so Checks do not each pay the
 *   command timeout; then a single call probes it while the others keep using local state.
 * - Only `StoreUnavailableError` falls back; invalid input and bugs still reject.
 */
export class ResilientStore implements DegradableStore {
  readonly kind: string;
  readonly #primary: Store;
  readonly #local: Store;
  readonly #retryAfterMs: number;
  readonly #failuresToDegrade: number;
  #consecutiveFailures = 0;
  readonly #clock: () => number;
  readonly #listeners = new Set<(change: DegradationChange) => void>();
  #degraded = false;
  #retryAtMs = 0;
  #probing = false;

  constructor(primary: Store, local: Store = new MemoryStore(), options: ResilientStoreOptions = {}) {
    this.kind = primary.kind;
    this.#primary = primary;
    this.#local = local;
    this.#retryAfterMs = options.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
    this.#failuresToDegrade = options.failuresToDegrade ?? DEFAULT_FAILURES_TO_DEGRADE;
    this.#clock = options.clock ?? (() => performance.now());
  }

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    return (await this.applyWithStatus(entity, ops, nowMs)).results;
  }

  async applyWithStatus(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<ApplyOutcome> {
    // Validate first: bad input must reject the same way whichever store would have served it.
    assertValidApply(entity, ops, nowMs);
    const results = await this.#onPrimary(() => this.#primary.apply(entity, ops, nowMs));
    if (results === undefined) return { results: await this.#local.apply(entity, ops, nowMs), degraded: true };
    const mirrored = ops.filter(isCheapToMirror);
    if (mirrored.length > 0) await this.#local.apply(entity, mirrored, nowMs);
    return { results, degraded: false };
  }

  async applyBatch(batches: readonly EntityBatch[], nowMs: number): Promise<number[][]> {
    for (const batch of batches) assertValidApply(batch.entity, batch.ops, nowMs);
    return (await this.applyBatchWithStatus(batches, nowMs)).results as number[][];
  }

  /**
   * applyWithStatus for several entities, in one call to the primary where it can. Every Check
   * comes through here: when all batches are valid (they are, but for bugs) they are passed on
   * as they are, and while the primary answers only the mirror's writes wait.
   */
  async applyBatchWithStatus(batches: readonly EntityBatch[], nowMs: number): Promise<BatchOutcome> {
    const { valid, results } = partitionValid(batches, nowMs);
    const applicable = valid.length === batches.length ? batches : valid.map((i) => batches[i]!);
    const shared = await this.#onPrimary(() => applyBatch(this.#primary, applicable, nowMs));
    if (shared === undefined) {
      const local = await Promise.all(applicable.map((batch) => this.#local.apply(batch.entity, batch.ops, nowMs)));
      for (let i = 0; i < valid.length; i++) results[valid[i]!] = local[i];
      return { results, degraded: true };
    }
    // One batch call to the local store (the memory store's is synchronous under one promise), not a promise per entity.
    const mirroring: EntityBatch[] = [];
    for (const batch of applicable) {
      if (batch.ops.length === 0) continue;
      if (batch.ops.every(isCheapToMirror)) mirroring.push(batch); // a rate limit's takes all are: no copy
      else {
        const mirrored = batch.ops.filter(isCheapToMirror);
        if (mirrored.length > 0) mirroring.push({ entity: batch.entity, ops: mirrored });
      }
    }
    if (mirroring.length > 0) await applyBatch(this.#local, mirroring, nowMs);
    if (applicable === batches) return { results: shared, degraded: false }; // all valid: the primary's list as it is
    for (let i = 0; i < valid.length; i++) results[valid[i]!] = shared[i];
    return { results, degraded: valid.length < batches.length };
  }

  /** From the primary while it answers (mirrored locally), else from the local store. */
  async observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    assertValidBaselineObservation(entity, name, observation);
    const shared = await this.#onPrimary(() => this.#primary.observeBaseline(entity, name, observation));
    const local = await this.#local.observeBaseline(entity, name, observation);
    return shared ?? local;
  }

  /**
   * From the primary while it answers (its binding after the use mirrored locally, so a replica
   * that loses Redis still knows the tokens it saw, bound as all replicas agreed), else from the
   * local store alone.
   */
  async observeBinding(entity: string, use: BindingUse, rules: BindingRules): Promise<BindingRecord | undefined> {
    assertValidBinding(entity, use, rules);
    const primary = this.#primary.observeBinding?.bind(this.#primary);
    const shared = primary && (await this.#onPrimary(async () => ({ before: await primary(entity, use, rules) })));
    if (shared && this.#local instanceof MemoryStore) {
      // The mirror holds the shared binding after this use, not one made of this replica's uses alone.
      this.#local.keepBinding(entity, stepBinding(shared.before, use, rules).next, rules.retentionMs);
      return shared.before;
    }
    const local = await this.#local.observeBinding?.(entity, use, rules);
    return shared ? shared.before : local;
  }

  /**
   * From the primary while it answers; else nothing from the others, whose publications only
   * the shared store holds: the replica goes on with its own evidence.
   */
  async exchange(entity: string, publication: Publication, nowMs: number): Promise<string[]> {
    assertValidExchange(entity, publication, nowMs);
    const primary = this.#primary.exchange?.bind(this.#primary);
    return (primary && (await this.#onPrimary(() => primary(entity, publication, nowMs)))) ?? [];
  }

  isDegraded(): boolean {
    return this.#degraded;
  }

  /** Registers a listener for degraded ↔ healthy transitions (logs, metrics); returns its removal. */
  onStateChange(listener: (change: DegradationChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Pings the primary and updates the degraded state from the answer, so that a health probe
   * notices recovery (or loss) even when no traffic is flowing.
   */
  async ping(): Promise<boolean> {
    const answers = await this.#primary.ping();
    if (answers) this.#markHealthy();
    else this.#markDegraded(new StoreUnavailableError(`${this.#primary.kind} store does not answer ping`));
    return answers;
  }

  async close(): Promise<void> {
    await Promise.all([this.#primary.close(), this.#local.close()]);
  }

  /**
   * The primary's answer, or undefined when it is skipped (backing off after a failure) or
   * unavailable (and then marked so).
   */
  async #onPrimary<T>(call: () => Promise<T>): Promise<T | undefined> {
    if (!this.#shouldTryPrimary()) return undefined;
    const isProbe = this.#degraded;
    if (isProbe) this.#probing = true;
    try {
      const answer = await call();
      this.#markHealthy();
      return answer;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.#consecutiveFailures += 1;
      // Hysteresis: a probe that fails keeps it degraded at once; a healthy store needs a run of failures.
      if (this.#degraded || this.#consecutiveFailures >= this.#failuresToDegrade) this.#markDegraded(error);
      return undefined;
    } finally {
      if (isProbe) this.#probing = false;
    }
  }

  #shouldTryPrimary(): boolean {
    return !this.#degraded || (!this.#probing && this.#clock() >= this.#retryAtMs);
  }

  #markDegraded(cause: StoreUnavailableError): void {
    this.#retryAtMs = this.#clock() + this.#retryAfterMs;
    if (this.#degraded) return;
    this.#degraded = true;
    this.#emit({ degraded: true, store: this.kind, cause });
  }

  #markHealthy(): void {
    this.#consecutiveFailures = 0;
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#emit({ degraded: false, store: this.kind });
  }

  #emit(change: DegradationChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch {
        // A failing log or metrics hook must not fail the decision that triggered it.
      }
    }
  }
}
