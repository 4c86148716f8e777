/**
 * The one storage port of Palisade. Redis is the shared store of all replicas; the in-memory
 * store has the same semantics for a single replica, tests and offline replay.
 *
 * Work is grouped by entity (an IP, a subnet, a username…): all keys of one entity share a
 * Redis hash tag, so one entity's operations run as one Lua script in one Cluster slot, and the
 * work for different entities in one Check is issued concurrently.
 */
export interface Store {
  /** Applies `ops` to one entity's keys atomically and returns one result per op, in order. */
  apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]>;
  /**
   * Folds one observation into the learned baseline `name` of `entity` (an exponentially
   * weighted mean and variance), unless an observation for the same or a later `period` was
   * already folded in — by this replica or another — so that replicas sharing a store learn
   * each period once. Returns the baseline after the call.
   */
  observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState>;
  /** True when the backing store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** Short name for logs and metrics: `memory` or `redis`. */
  readonly kind: string;
}

/**
 * Add `amount` hits to a sliding window counter and return its estimated count over the last
 * `windowMs` (an amount of 0 reads it). Every key it touches expires after two windows.
 */
export interface WindowAdd {
  op: "window.add";
  name: string;
  windowMs: number;
  amount: number;
}

/**
 * Add `member` (when given; omit it to read) to a distinct-count over a sliding window and
 * return about how many distinct members were added in the current and previous window bucket.
 * HyperLogLog in Redis (PFADD/PFCOUNT), so memory per key is bounded whatever the members; the
 * count is approximate (Redis: about 0.8% standard error; exact for small counts).
 */
export interface DistinctAdd {
  op: "distinct.add";
  name: string;
  windowMs: number;
  member?: string;
}

/** 1 if `member` is in the entity's remembered set `name`, else 0. Writes nothing. */
export interface MemberCheck {
  op: "member.check";
  name: string;
  member: string;
}

/**
 * Remember `member` in the set `name` (e.g. the fingerprints an account logged in from),
 * keeping the `maxMembers` most recently added and forgetting the whole set `retentionMs` after
 * its last write. Returns the number of members after the add.
 */
export interface MemberAdd {
  op: "member.add";
  name: string;
  member: string;
  maxMembers: number;
  retentionMs: number;
}

/**
 * Take `amount` hits from a window's quota of `limit`, all or nothing: the takes of one apply()
 * call (which then holds nothing but takes) are counted together, and only if every one of them
 * fits (count before the take + amount ≤ limit). A denied request thus eats no quota, not even
 * that of another limit in the same call (a burst and a sustained limit on one key).
 *
 * Returns the count before the take: a `fixed` window's bucket count, or a `sliding` window's
 * two-bucket estimate (see slidingWindowEstimate). Earlier takes of the same call on the same
 * counter are included as if taken, so the caller knows that all were counted exactly when
 * `result + amount <= limit` holds for every take. An amount of 0 only reads.
 *
 * A sliding take counts in the same buckets as `window.add` with the same name and window, and
 * they expire two windows after their last write; a fixed bucket is a counter of its own that
 * expires one window after its last write.
 */
export interface WindowTake {
  op: "window.take";
  name: string;
  windowMs: number;
  algorithm: WindowAlgorithm;
  limit: number;
  amount: number;
}

/**
 * `fixed`: one counter per window, reset at each window boundary (what envoyproxy/ratelimit
 * counts, so limits behave as operators of that service expect); `sliding`: the two-bucket
 * estimate, which does not let a client spend two windows' quota across a boundary.
 */
export type WindowAlgorithm = "fixed" | "sliding";

export type EntityOp = WindowAdd | WindowTake | DistinctAdd | MemberCheck | MemberAdd;

export interface BaselineObservation {
  /** A monotonically increasing period number, e.g. the minute since the epoch. */
  period: number;
  value: number;
  /** Weight of the new observation, 0 < alpha ≤ 1: 2/(N+1) approximates an N-period average. */
  alpha: number;
  /** The baseline is forgotten this long after its last update. */
  retentionMs: number;
}

export interface BaselineState {
  mean: number;
  variance: number;
  /** Observations folded in so far; a baseline with few is not yet trusted. */
  samples: number;
  lastPeriod: number;
}

/** The store could not answer (down, timed out, overloaded): retrying later may work. */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  readonly code = "store.unavailable";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Sliding-window estimate from two fixed buckets: the current bucket plus the previous one
 * weighted by how much of it still lies inside the window. Both stores use this so they agree
 * to the last digit; it is accurate to within a few percent for traffic that is not bursty at
 * bucket edges, and costs two integers per key instead of a log of timestamps.
 */
export function slidingWindowEstimate(current: number, previous: number, nowMs: number, windowMs: number): number {
  return current + previous * previousBucketWeight(nowMs, windowMs);
}

/** The share of the previous bucket that still lies inside a window ending at `nowMs`. */
export function previousBucketWeight(nowMs: number, windowMs: number): number {
  return 1 - (nowMs % windowMs) / windowMs;
}

/** How much a take's previous bucket counts: its overlap with the window when sliding, nothing when fixed. */
export function takePreviousWeight(op: WindowTake, nowMs: number): number {
  return op.algorithm === "sliding" ? previousBucketWeight(nowMs, op.windowMs) : 0;
}

export function windowBucket(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs);
}

/** Keys of one entity share the `{…}` hash tag so they land in one Redis Cluster slot. */
export function entityKeyPrefix(namespace: string, entity: string): string {
  return `${namespace}:{${entity}}`;
}
