import { assertValidBindingUse, type BindingRecord, type BindingRules, type BindingUse } from "./token-binding-record.js";

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
   * Applies several entities' ops, each entity's atomically as `apply()` does (not atomic across
   * entities), in as few store calls as the store allows: one Lua script for all of a Check's
   * entities on a single Redis, one per entity on a Cluster (each entity is its own slot).
   * Returns one result list per batch, in order. Optional: `applyBatch()` below falls back to
   * `apply()` per entity, issued concurrently.
   */
  applyBatch?(batches: readonly EntityBatch[], nowMs: number): Promise<number[][]>;
  /**
   * Folds one observation into the learned baseline `name` of `entity` (an exponentially
   * weighted mean and variance), unless an observation for the same or a later `period` was
   * already folded in — by this replica or another — so that replicas sharing a store learn
   * each period once. Returns the baseline after the call.
   */
  observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState>;
  /**
   * One use of the session or refresh token `entity` (its pseudonym, never the token): updates
   * the token's binding by `stepBinding()` (token-binding-record.ts) atomically, so replicas
   * sharing the store agree on who bound it, and returns the binding as it was before this use.
   * The binding is forgotten `rules.retentionMs` after its last write. Optional: a store without
   * it leaves the detector to keep bindings in its own process.
   */
  observeBinding?(entity: string, use: BindingUse, rules: BindingRules): Promise<BindingRecord | undefined>;
  /**
   * Publishes this replica's `publication.evidence` under `publication.name` of `entity`, in
   * place of what it published there before, and returns what the other replicas published
   * there within the last `ttlMs` of event time, ordered by replica name. For evidence each
   * replica gathers in its own memory and shares about once a second (the early campaign call's
   * failing accounts): one small hash per name, one call per replica per second. Forgotten
   * `ttlMs` after its last write. Optional: a store without it leaves each replica's evidence
   * its own.
   */
  exchange?(entity: string, publication: Publication, nowMs: number): Promise<string[]>;
  /** True when the backing store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** Short name for logs and metrics: `memory` or `redis`. */
  readonly kind: string;
}

/** Checks one `observeBinding()` call, so that every store refuses the same input alike. */
export function assertValidBinding(entity: string, use: BindingUse, rules: BindingRules): void {
  assertValidEntity(entity);
  assertValidBindingUse(use, rules);
}

/** What one replica publishes with `Store.exchange()`. */
export interface Publication {
  name: string;
  /** The publishing replica's name, unique among the replicas (1 to 64 characters). */
  replica: string;
  /** Opaque text, at most MAX_PUBLICATION_LENGTH characters; empty withdraws the replica's. */
  evidence: string;
  ttlMs: number;
}

/** Longest evidence one replica publishes under one name. */
export const MAX_PUBLICATION_LENGTH = 65_536;

/** Checks one `exchange()` call, so that every store refuses the same input alike. */
export function assertValidExchange(entity: string, publication: Publication, nowMs: number): void {
  assertValidEntity(entity);
  assertValidName({ op: "exchange", name: publication.name });
  const { replica, evidence, ttlMs } = publication;
  if (typeof replica !== "string" || replica.length === 0 || replica.length > 64) {
    throw new TypeError(`exchange replica must be a string of 1 to 64 characters, got ${JSON.stringify(replica)}`);
  }
  if (typeof evidence !== "string" || evidence.length > MAX_PUBLICATION_LENGTH) {
    throw new TypeError(`exchange evidence must be a string of at most ${MAX_PUBLICATION_LENGTH} characters (${publication.name})`);
  }
  assertValidRetention("exchange", publication.name, ttlMs);
  if (!Number.isFinite(nowMs) || nowMs < 0) throw new TypeError(`nowMs must be an epoch time in milliseconds, got ${String(nowMs)}`);
}

/** One entity's ops in `Store.applyBatch()`. */
export interface EntityBatch {
  entity: string;
  ops: readonly EntityOp[];
}

/**
 * `store.applyBatch()` where the store has it, else `apply()` per entity, concurrently. Either
 * way a batch with any invalid entity or op is refused whole, before anything is written.
 */
export function applyBatch(store: Store, batches: readonly EntityBatch[], nowMs: number): Promise<number[][]> {
  // The store's own promise, not one more around it (twice per ShouldRateLimit and Check: Redis and the mirror).
  return store.applyBatch ? store.applyBatch(batches, nowMs) : applyEach(store, batches, nowMs);
}

async function applyEach(store: Store, batches: readonly EntityBatch[], nowMs: number): Promise<number[][]> {
  for (const batch of batches) assertValidApply(batch.entity, batch.ops, nowMs);
  return Promise.all(batches.map((batch) => store.apply(batch.entity, batch.ops, nowMs)));
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
  /** Adds only when the guard holds (see WriteGuard); reads either way. */
  when?: WriteGuard;
}

/**
 * A condition on a write, checked in the same atomic call as the ops before it: the integer kept
 * under the value `newer` (value.swap's, 0 when none) is positive, at least the one under
 * `than`, and at most `withinMs` older than nowMs. So a write that depends on what the call reads
 * (a session's read that no asset followed) needs no second round trip. The write is skipped,
 * not refused, when the guard does not hold; the op still answers as it would.
 */
export interface WriteGuard {
  newer: string;
  than: string;
  withinMs: number;
}

/** Whether `guard` holds for the values `newer` and `than` at `nowMs` (both stores use this). */
export function guardHolds(guard: WriteGuard, newer: number, than: number, nowMs: number): boolean {
  return newer > 0 && newer >= than && nowMs - newer <= guard.withinMs;
}

/**
 * Add `member` (when given; omit it to read) to a distinct-count over a sliding window and
 * return about how many distinct members were added in the current and previous window bucket.
 * HyperLogLog in Redis (PFADD/PFCOUNT), so memory per key is bounded whatever the members; the
 * count is approximate (Redis: about 0.8% standard error; exact for small counts). The memory
 * store's HyperLogLog is register for register the same, so both stores give the same count.
 */
export interface DistinctAdd {
  op: "distinct.add";
  name: string;
  windowMs: number;
  member?: string;
  /**
   * False: only add `member` (then required), count nothing, and return 0 — for a caller that holds a recent
   * count of its own (a campaign-wide key every login touches, whose count in Redis costs a
   * union of two dense HyperLogLogs). Counts by default.
   */
  count?: boolean;
}

/**
 * 1 if `member` is in the entity's remembered set `name`, else 0. Writes nothing.
 * Members are at most `MAX_MEMBER_LENGTH` characters: hash or truncate longer, client-supplied
 * values (usernames, user agents) before they get here.
 */
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
  /**
   * When given, members last added more than this long before nowMs are dropped too, so the
   * answer counts the distinct members of a sliding window (the accounts one browser session
   * tried within the cohort window), not of the set's whole life.
   */
  maxAgeMs?: number;
}

/**
 * Read the integer kept under `name` (0 when there is none) and, when `value` is given, replace
 * it, keeping it `retentionMs` after this write. Returns the value before the call. For the one
 * latest fact about an entity that must be compared with the next one (the place and time of an
 * account's last login, packed into one safe integer).
 */
export interface ValueSwap {
  op: "value.swap";
  name: string;
  value?: number;
  retentionMs?: number;
  /** Writes `value` only when the guard holds (see WriteGuard); reads either way. */
  when?: WriteGuard;
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

export type EntityOp = WindowAdd | WindowTake | DistinctAdd | MemberCheck | MemberAdd | ValueSwap;

export interface BaselineObservation {
  /** A monotonically increasing period number, e.g. the minute since the epoch. */
  period: number;
  /** Finite, of magnitude at most 2^53 (`MAX_BASELINE_VALUE`). */
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

/**
 * Checks one `apply()` call before anything is written, so that a bad op rejects the whole call
 * (never half of it) and every store rejects exactly the same input with the same TypeError.
 * Amounts must be non-negative integers because Redis INCRBY counts in integers; a fractional
 * amount in memory would make the two stores disagree.
 */
export function assertValidApply(entity: string, ops: readonly EntityOp[], nowMs: number): void {
  assertValidEntity(entity);
  // Beyond the safe-integer range bucket numbers lose precision and neighbouring buckets merge.
  if (!Number.isFinite(nowMs) || nowMs < 0 || nowMs > Number.MAX_SAFE_INTEGER) {
    throw new TypeError(`nowMs must be an epoch time in milliseconds between 0 and 2^53, got ${String(nowMs)}`);
  }
  for (const op of ops) assertValidOp(op);
  assertTakesNotMixed(ops);
}

/**
 * Takes commit together at the end of a call; an add or read after one would not see it. Rather
 * than define what such a mix means, it is refused.
 */
function assertTakesNotMixed(ops: readonly EntityOp[]): void {
  let takes = 0;
  for (const op of ops) if (op.op === "window.take") takes++;
  if (takes > 0 && takes < ops.length) throw new TypeError("window.take ops cannot share an apply() call with other ops");
}

/** Longest accepted op name: names come from code and policy, not from requests. */
export const MAX_OP_NAME_LENGTH = 128;

function assertValidEntity(entity: string): void {
  // A brace inside the entity would move or split the `{…}` hash tag, so one entity's keys could
  // land in several Cluster slots or collide with another entity's keys.
  if (typeof entity !== "string" || entity.length === 0 || /[{}]/.test(entity)) {
    throw new TypeError(`entity must be a non-empty string without "{" or "}", got ${JSON.stringify(entity)}`);
  }
}

function assertValidOp(op: EntityOp): void {
  switch (op.op) {
    case "window.add":
      return assertValidWindowAdd(op);
    case "window.take":
      return assertValidWindowTake(op);
    case "distinct.add":
      return assertValidDistinctAdd(op);
    case "member.check":
      return assertValidMemberCheck(op);
    case "member.add":
      return assertValidMemberAdd(op);
    case "value.swap":
      return assertValidValueSwap(op);
    default: {
      const unknown: never = op;
      throw new TypeError(`unknown store op ${JSON.stringify((unknown as { op?: unknown }).op)}`);
    }
  }
}

function assertValidWindowAdd(op: WindowAdd): void {
  assertValidName(op);
  assertValidWindowMs(op);
  if (!Number.isSafeInteger(op.amount) || op.amount < 0) {
    throw new TypeError(`window.add amount must be a non-negative integer, got ${String(op.amount)} (${op.name})`);
  }
  if (op.when !== undefined) assertValidGuard(op.op, op.name, op.when);
}

function assertValidGuard(what: string, name: string, guard: WriteGuard): void {
  const valid = typeof guard === "object" && guard !== null;
  if (!valid) throw new TypeError(`${what} when must be a guard object, got ${JSON.stringify(guard)} (${name})`);
  for (const field of ["newer", "than"] as const) assertValidName({ op: `${what} when.${field}`, name: guard[field] });
  if (!Number.isSafeInteger(guard.withinMs) || guard.withinMs < 0) {
    throw new TypeError(`${what} when.withinMs must be a non-negative integer, got ${String(guard.withinMs)} (${name})`);
  }
}

function assertValidWindowTake(op: WindowTake): void {
  assertValidName(op);
  assertValidWindowMs(op);
  for (const field of ["amount", "limit"] as const) {
    if (!Number.isSafeInteger(op[field]) || op[field] < 0) {
      throw new TypeError(`window.take ${field} must be a non-negative integer, got ${String(op[field])} (${op.name})`);
    }
  }
  if (op.algorithm !== "fixed" && op.algorithm !== "sliding") {
    throw new TypeError(`window.take algorithm must be "fixed" or "sliding", got ${JSON.stringify(op.algorithm)} (${op.name})`);
  }
}

function assertValidDistinctAdd(op: DistinctAdd): void {
  assertValidName(op);
  assertValidWindowMs(op);
  if (op.member !== undefined) assertValidMember(op.op, op.name, op.member);
  if (op.count !== undefined && typeof op.count !== "boolean") {
    throw new TypeError(`distinct.add count must be a boolean when given, got ${JSON.stringify(op.count)} (${op.name})`);
  }
  if (op.count === false && op.member === undefined) {
    throw new TypeError(`distinct.add without a member must count (${op.name})`);
  }
}

function assertValidMemberCheck(op: MemberCheck): void {
  assertValidName(op);
  assertValidMember(op.op, op.name, op.member);
}

function assertValidMemberAdd(op: MemberAdd): void {
  assertValidName(op);
  assertValidMember(op.op, op.name, op.member);
  if (!Number.isSafeInteger(op.maxMembers) || op.maxMembers <= 0 || op.maxMembers > MAX_REMEMBERED_MEMBERS) {
    throw new TypeError(`member.add maxMembers must be an integer from 1 to ${MAX_REMEMBERED_MEMBERS}, got ${String(op.maxMembers)} (${op.name})`);
  }
  assertValidRetention(op.op, op.name, op.retentionMs);
  if (op.maxAgeMs !== undefined && (!Number.isSafeInteger(op.maxAgeMs) || op.maxAgeMs <= 0)) {
    throw new TypeError(`member.add maxAgeMs must be a positive integer when given, got ${String(op.maxAgeMs)} (${op.name})`);
  }
}

function assertValidValueSwap(op: ValueSwap): void {
  assertValidName(op);
  if (op.when !== undefined) assertValidGuard(op.op, op.name, op.when);
  if (op.value === undefined) {
    if (op.when !== undefined) throw new TypeError(`value.swap with a guard needs a value (${op.name})`);
    return;
  }
  if (!Number.isSafeInteger(op.value) || op.value < 0) {
    throw new TypeError(`value.swap value must be a non-negative safe integer, got ${String(op.value)} (${op.name})`);
  }
  assertValidRetention(op.op, op.name, op.retentionMs as number);
}

/** Longest accepted member of a distinct count or remembered set. */
export const MAX_MEMBER_LENGTH = 256;
/**
 * Most members one remembered set may keep: the memory store counts up to about 700 bytes of
 * heap per member of 256 characters, so this caps one set at about 7 MB.
 */
export const MAX_REMEMBERED_MEMBERS = 10_000;
/**
 * Largest accepted magnitude of a baseline observation. Squared deviations of values up to 2^53
 * stay far from overflow, so a baseline never turns into Infinity or NaN, which would poison
 * every later comparison with it.
 */
export const MAX_BASELINE_VALUE = Number.MAX_SAFE_INTEGER;

function assertValidName(op: { op: string; name: string }): void {
  if (typeof op.name !== "string" || op.name.length === 0 || op.name.length > MAX_OP_NAME_LENGTH) {
    throw new TypeError(`${op.op} name must be a string of 1 to ${MAX_OP_NAME_LENGTH} characters, got ${JSON.stringify(op.name)}`);
  }
}

function assertValidWindowMs(op: { op: string; name: string; windowMs: number }): void {
  if (!Number.isSafeInteger(op.windowMs) || op.windowMs <= 0) {
    throw new TypeError(`${op.op} windowMs must be a positive integer, got ${String(op.windowMs)} (${op.name})`);
  }
}

function assertValidMember(what: string, name: string, member: string): void {
  if (typeof member !== "string" || member.length === 0 || member.length > MAX_MEMBER_LENGTH) {
    throw new TypeError(`${what} member must be a string of 1 to ${MAX_MEMBER_LENGTH} characters, got ${JSON.stringify(member)} (${name})`);
  }
}

function assertValidRetention(what: string, name: string, retentionMs: number): void {
  if (!Number.isSafeInteger(retentionMs) || retentionMs <= 0) {
    throw new TypeError(`${what} retentionMs must be a positive integer, got ${String(retentionMs)} (${name})`);
  }
}

/** Checks one `observeBaseline()` call, so that every store rejects the same input alike. */
export function assertValidBaselineObservation(entity: string, name: string, observation: BaselineObservation): void {
  assertValidEntity(entity);
  assertValidName({ op: "baseline", name });
  const { period, value, alpha, retentionMs } = observation;
  if (!Number.isFinite(period)) {
    throw new TypeError(`baseline period must be a finite number, got ${String(period)} (${name})`);
  }
  if (!Number.isFinite(value) || Math.abs(value) > MAX_BASELINE_VALUE) {
    throw new TypeError(`baseline value must be a finite number of magnitude at most 2^53, got ${String(value)} (${name})`);
  }
  if (!Number.isFinite(alpha) || alpha <= 0 || alpha > 1) {
    throw new TypeError(`baseline alpha must be a number with 0 < alpha <= 1, got ${String(alpha)} (${name})`);
  }
  assertValidRetention("baseline", name, retentionMs);
}
