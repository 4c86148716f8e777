import { LRUCache } from "lru-cache";
import { foldBaseline } from "./baseline.js";
import { DEFAULT_NAMESPACE, entityKey, takeKeys, takeTtlMs, windowBucketKeys, windowKeyTtlMs } from "./keys.js";
import {
  slidingWindowEstimate,
  StoreUnavailableError,
  takePreviousWeight,
  type BaselineObservation,
  type BaselineState,
  type DistinctAdd,
  type EntityOp,
  type MemberAdd,
  type Store,
  type WindowAdd,
  type WindowTake,
} from "./store.js";
import { assertValidApply, assertValidBaseline } from "./validate.js";

export interface MemoryStoreOptions {
  /**
   * Most keys held at once; the least recently used go first. A counter bucket is one key; a set
   * costs one plus one per member. Measured: about 375 bytes of heap per counter key with
   * 64-character keys, so the default of 250k is about 95 MB when it holds counters only.
   */
  maxKeys?: number;
  /** Clock for key expiry only (tests pass a fake); defaults to `performance`. */
  expiryClock?: { now(): number };
}

export const DEFAULT_MEMORY_MAX_KEYS = 250_000;

/**
 * Members one distinct-count bucket keeps exactly. Redis bounds the same thing with HyperLogLog;
 * here, beyond this many, further new members are counted but not kept, so a member seen again
 * is counted again: the count can only err upwards, and only past a threshold no signal uses.
 */
export const MAX_EXACT_DISTINCT_MEMBERS = 1_024;

interface DistinctBucket {
  members: Set<string>;
  /** New members counted after `members` was full. */
  overflow: number;
}

/** A remembered set: member → score (the event time it was last added). */
type RememberedSet = Map<string, number>;

type Stored = number | DistinctBucket | RememberedSet | BaselineState;

/**
 * The embedded store: same keys, same buckets, same results as the Redis store, in one process.
 * Each call runs synchronously, so it is as atomic as the Redis Lua script.
 *
 * Buckets are chosen by `nowMs`, the event time, exactly as in Redis. Expiry, like Redis TTLs,
 * runs on the local clock: keys must disappear a fixed time after their last write whatever
 * timestamps replayed traffic carries, or a replay of old traffic would keep nothing (event-time
 * expiry already passed) and one of future traffic would keep everything.
 *
 * Eviction under memory pressure loses state; that is the price of a bound that an attacker
 * cannot push past by inventing entities.
 */
export class MemoryStore implements Store {
  readonly kind = "memory";
  readonly #entries: LRUCache<string, Stored>;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const max = options.maxKeys ?? DEFAULT_MEMORY_MAX_KEYS;
    if (!Number.isSafeInteger(max) || max <= 0) {
      throw new TypeError(`maxKeys must be a positive integer, got ${String(max)}`);
    }
    this.#entries = new LRUCache<string, Stored>({
      maxSize: max,
      sizeCalculation: entrySize,
      // lru-cache caches the time for `ttlResolution` ms of real time; a fake clock must be read every time.
      ...(options.expiryClock ? { perf: options.expiryClock, ttlResolution: 0 } : {}),
    });
  }

  /** Keys currently held, expired ones that were not yet swept included. */
  get size(): number {
    return this.#entries.size;
  }

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    assertValidApply(entity, ops, nowMs);
    if (ops.length === 0) return []; // like Redis, which is not asked at all
    this.#assertOpen();
    if (ops[0]!.op === "window.take") return this.#takeAll(entity, ops as WindowTake[], nowMs); // validated: all takes
    return ops.map((op) => this.#applyOp(entity, op, nowMs));
  }

  async observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    assertValidBaseline(entity, name, observation);
    this.#assertOpen();
    const key = entityKey(DEFAULT_NAMESPACE, entity, "b", name);
    const previous = this.#entries.get(key) as BaselineState | undefined;
    const next = foldBaseline(previous, observation);
    if (next !== previous) this.#write(key, next, observation.retentionMs);
    return { ...next };
  }

  async ping(): Promise<boolean> {
    return !this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
  }

  #applyOp(entity: string, op: EntityOp, nowMs: number): number {
    switch (op.op) {
      case "window.add":
        return this.#windowAdd(entity, op, nowMs);
      case "distinct.add":
        return this.#distinctAdd(entity, op, nowMs);
      case "member.check":
        return this.#rememberedSet(entityKey(DEFAULT_NAMESPACE, entity, "m", op.name))?.has(op.member) ? 1 : 0;
      case "member.add":
        return this.#memberAdd(entity, op, nowMs);
      case "window.take":
        return this.#takeAll(entity, [op], nowMs)[0]!;
      default: {
        const unknown: never = op;
        throw new TypeError(`unknown store op ${JSON.stringify((unknown as { op: unknown }).op)}`);
      }
    }
  }

  #windowAdd(entity: string, op: WindowAdd, nowMs: number): number {
    const keys = windowBucketKeys(DEFAULT_NAMESPACE, entity, "w", op, nowMs);
    const current = op.amount > 0 ? this.#increment(keys.current, op.amount, windowKeyTtlMs(op.windowMs)) : this.#count(keys.current);
    return slidingWindowEstimate(current, this.#count(keys.previous), nowMs, op.windowMs);
  }

  /** All or nothing, as in the Lua script: plan every take, then count them if all fit. */
  #takeAll(entity: string, ops: readonly WindowTake[], nowMs: number): number[] {
    const pending = new Map<string, number>();
    const plans = ops.map((op) => {
      const keys = takeKeys(DEFAULT_NAMESPACE, entity, op, nowMs);
      const weight = takePreviousWeight(op, nowMs);
      const current = this.#count(keys.current) + (pending.get(keys.current) ?? 0);
      const previous = weight > 0 ? this.#count(keys.previous) : 0;
      pending.set(keys.current, (pending.get(keys.current) ?? 0) + op.amount);
      return { op, key: keys.current, before: current + previous * weight };
    });
    if (plans.every(({ op, before }) => before + op.amount <= op.limit)) {
      for (const { op, key } of plans) if (op.amount > 0) this.#increment(key, op.amount, takeTtlMs(op));
    }
    return plans.map(({ before }) => before);
  }

  #distinctAdd(entity: string, op: DistinctAdd, nowMs: number): number {
    const keys = windowBucketKeys(DEFAULT_NAMESPACE, entity, "d", op, nowMs);
    let current = this.#entries.get(keys.current) as DistinctBucket | undefined;
    if (op.member !== undefined) {
      current = addDistinct(current, op.member);
      this.#write(keys.current, current, windowKeyTtlMs(op.windowMs));
    }
    return distinctUnionSize(current, this.#entries.get(keys.previous) as DistinctBucket | undefined);
  }

  /** Like ZADD + ZREMRANGEBYRANK + PEXPIRE: scores are event times, the lowest go first. */
  #memberAdd(entity: string, op: MemberAdd, nowMs: number): number {
    const key = entityKey(DEFAULT_NAMESPACE, entity, "m", op.name);
    const members: RememberedSet = this.#rememberedSet(key) ?? new Map();
    members.set(op.member, nowMs);
    trimToNewest(members, op.maxMembers);
    this.#write(key, members, op.retentionMs);
    return members.size;
  }

  /** Like INCRBY + PEXPIRE. */
  #increment(key: string, amount: number, ttlMs: number): number {
    const next = this.#count(key) + amount;
    this.#write(key, next, ttlMs);
    return next;
  }

  /**
   * Every write restarts the key's time to live. lru-cache measures a value's size only when a
   * different value is set, so a set that grew in place is taken out and put back to be measured.
   */
  #write(key: string, value: Stored, ttlMs: number): void {
    if (typeof value === "object" && this.#entries.peek(key) === value) this.#entries.delete(key);
    this.#entries.set(key, value, { ttl: ttlMs });
  }

  #count(key: string): number {
    return (this.#entries.get(key) as number | undefined) ?? 0;
  }

  #rememberedSet(key: string): RememberedSet | undefined {
    return this.#entries.get(key) as RememberedSet | undefined;
  }

  #assertOpen(): void {
    // Same answer as a closed Redis connection, so callers handle both stores alike.
    if (this.#closed) throw new StoreUnavailableError("memory store is closed");
  }
}

/** What one entry costs against `maxKeys`: one for the key, one per member it holds. */
function entrySize(value: Stored): number {
  if (value instanceof Map) return 1 + value.size;
  if (typeof value === "object" && "members" in value) return 1 + value.members.size;
  return 1;
}

function addDistinct(bucket: DistinctBucket | undefined, member: string): DistinctBucket {
  const next = bucket ?? { members: new Set<string>(), overflow: 0 };
  if (next.members.has(member)) return next;
  if (next.members.size < MAX_EXACT_DISTINCT_MEMBERS) next.members.add(member);
  else next.overflow += 1;
  return next;
}

/** Like PFCOUNT current previous: members of either bucket, each counted once. */
function distinctUnionSize(current: DistinctBucket | undefined, previous: DistinctBucket | undefined): number {
  let size = (current?.members.size ?? 0) + (current?.overflow ?? 0) + (previous?.overflow ?? 0);
  for (const member of previous?.members ?? []) if (!current?.members.has(member)) size += 1;
  return size;
}

/**
 * Drops the lowest-scored members beyond `max`, ties broken by member bytes as a Redis sorted
 * set orders them, so both stores forget the same members.
 */
function trimToNewest(members: RememberedSet, max: number): void {
  if (members.size <= max) return;
  const byAge = [...members].sort(([a, scoreA], [b, scoreB]) => scoreA - scoreB || Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const [member] of byAge.slice(0, members.size - max)) members.delete(member);
}
