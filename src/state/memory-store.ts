import type { Clock } from "../domain/clock.js";
import { LRUCache } from "lru-cache";
import { foldObservation, isNewPeriod } from "./baseline.js";
import { HyperLogLog } from "./hyperloglog.js";
import {
  baselineKey,
  bindingKey,
  DEFAULT_NAMESPACE,
  distinctBucketKeys,
  memberSetKey,
  takeBucketKeys,
  takeTtlMs,
  valueKey,
  windowBucketKeys,
  windowKeyTtlMs,
} from "./keys.js";
import { asRedisMember, MemberSet } from "./member-set.js";
import { stepBinding, type BindingRecord, type BindingRules, type BindingUse } from "./token-binding-record.js";
import {
  assertValidApply,
  assertValidBaselineObservation,
  assertValidBinding,
  slidingWindowEstimate,
  StoreUnavailableError,
  takePreviousWeight,
  type BaselineObservation,
  type BaselineState,
  type DistinctAdd,
  type EntityBatch,
  type EntityOp,
  type MemberAdd,
  type MemberCheck,
  type Store,
  type ValueSwap,
  type WindowAdd,
  type WindowTake,
} from "./store.js";

export interface MemoryStoreOptions {
  /**
   * Most keys held at once; the least recently used go first. A counter bucket is one key, so
   * one sliding window costs at most two. Measured: about 375 bytes of heap per counter key with
   * 64-character keys, so the default of 250k counter keys is about 95 MB.
   */
  maxKeys?: number;
  /**
   * Most bytes of heap the entries may take, as estimated per entry (key and LRU bookkeeping,
   * plus the structure: 16 KB for a dense HyperLogLog, about 160 + 2·length bytes per remembered
   * member); the least recently used go first. This is the bound for the structures whose size
   * depends on their content. Default 128 MiB, above what `maxKeys` counters alone take.
   */
  maxBytes?: number;
  /** Clock for key expiry only (tests pass a fake); defaults to `performance`. */
  expiryClock?: Clock;
}

export const DEFAULT_MEMORY_MAX_KEYS = 250_000;
export const DEFAULT_MEMORY_MAX_BYTES = 128 * 1024 * 1024;

/**
 * Estimated heap of one entry besides its value: the key string (two bytes per character at
 * worst) and lru-cache's bookkeeping (its index Map and parallel arrays, TTL slots); measured
 * about 310 bytes besides a one-byte key.
 */
const ENTRY_OVERHEAD_BYTES = 320;
/** A stored baseline: its holder and an object of four numbers. */
const BASELINE_BYTES = 120;

/**
 * What one key holds; each kind of key (see keys.ts) holds one kind of value. Structures change
 * in place but are stored in a new holder object on every write: lru-cache only measures a value
 * that is not the one it already holds, and deleting first to force it would be slow (lru-cache
 * clears all its arrays when its last entry goes).
 */
type Entry = number | { sketch: HyperLogLog } | { members: MemberSet } | { baseline: Readonly<BaselineState> } | { binding: Readonly<BindingRecord> };

/**
 * The embedded store: same keys, same buckets, same estimates as the Redis store, in one
 * process. Each call runs synchronously, so it is as atomic as a Redis Lua script.
 *
 * Buckets are chosen by `nowMs`, the event time, exactly as in Redis. Expiry, like Redis TTLs,
 * runs on the local clock: keys must disappear a fixed time after their last write whatever
 * timestamps replayed traffic carries, or a replay of old traffic would keep nothing (event-time
 * expiry already passed) and one of future traffic would keep everything.
 *
 * Memory is bounded twice over: at most `maxKeys` keys and at most `maxBytes` of estimated heap
 * (so by default about 128 MiB plus the structures' estimation error), however many entities an
 * attacker invents or members it sends. Eviction under memory pressure loses state; that is
 * the price of a bound that cannot be pushed past.
 */
export class MemoryStore implements Store {
  readonly kind = "memory";
  readonly #entries: LRUCache<string, Entry>;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const max = positiveInteger("maxKeys", options.maxKeys ?? DEFAULT_MEMORY_MAX_KEYS);
    const maxSize = positiveInteger("maxBytes", options.maxBytes ?? DEFAULT_MEMORY_MAX_BYTES);
    this.#entries = new LRUCache<string, Entry>({
      max,
      maxSize,
      sizeCalculation: entryBytes,
      // lru-cache caches the time for `ttlResolution` ms of real time; a fake clock must be read every time.
      ...(options.expiryClock ? { perf: options.expiryClock, ttlResolution: 0 } : {}),
    });
  }

  /** Keys currently held, expired ones that were not yet swept included. */
  get size(): number {
    return this.#entries.size;
  }

  /** Estimated heap of the entries held, the figure `maxBytes` bounds. */
  get approximateBytes(): number {
    return this.#entries.calculatedSize;
  }

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    assertValidApply(entity, ops, nowMs);
    if (ops.length === 0) return []; // like Redis, which is not asked at all
    this.#assertOpen();
    if (ops[0]!.op === "window.take") return this.#takeAll(entity, ops as WindowTake[], nowMs); // validated: all takes
    return ops.map((op) => this.#applyOp(entity, op, nowMs));
  }

  /** apply() per entity, all validated before any is applied. */
  async applyBatch(batches: readonly EntityBatch[], nowMs: number): Promise<number[][]> {
    for (const batch of batches) assertValidApply(batch.entity, batch.ops, nowMs);
    const results: number[][] = [];
    for (const batch of batches) results.push(await this.apply(batch.entity, batch.ops, nowMs));
    return results;
  }

  async observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    assertValidBaselineObservation(entity, name, observation);
    this.#assertOpen();
    const key = baselineKey(DEFAULT_NAMESPACE, entity, name);
    const stored = this.#baseline(key);
    if (!isNewPeriod(stored, observation)) return { ...stored! };
    const next = foldObservation(stored, observation);
    this.#write(key, { baseline: next }, observation.retentionMs);
    return { ...next };
  }

  /** stepBinding() on the record held, synchronously: as atomic as the Redis script. */
  async observeBinding(entity: string, use: BindingUse, rules: BindingRules): Promise<BindingRecord | undefined> {
    assertValidBinding(entity, use, rules);
    this.#assertOpen();
    const key = bindingKey(DEFAULT_NAMESPACE, entity);
    const entry = this.#entries.get(key);
    const before = typeof entry === "object" && "binding" in entry ? entry.binding : undefined;
    const step = stepBinding(before, use, rules);
    if (step.kind !== "unbound") this.#write(key, { binding: step.next! }, rules.retentionMs);
    return before;
  }

  /**
   * Holds `record` as the token's binding (none: forgets it), as the shared store left it: the
   * resilient store's mirror, so that during an outage the replica judges by the binding all
   * replicas agreed on rather than by the uses it happened to see.
   */
  keepBinding(entity: string, record: BindingRecord | undefined, retentionMs: number): void {
    const key = bindingKey(DEFAULT_NAMESPACE, entity);
    if (record === undefined) this.#entries.delete(key);
    else this.#write(key, { binding: record }, retentionMs);
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
        return this.#memberCheck(entity, op);
      case "member.add":
        return this.#memberAdd(entity, op, nowMs);
      case "value.swap":
        return this.#valueSwap(entity, op);
      case "window.take":
        return this.#takeAll(entity, [op], nowMs)[0]!;
      default: {
        const unknown: never = op;
        throw new TypeError(`unknown store op ${JSON.stringify((unknown as EntityOp).op)}`);
      }
    }
  }

  #windowAdd(entity: string, op: WindowAdd, nowMs: number): number {
    const keys = windowBucketKeys(DEFAULT_NAMESPACE, entity, op, nowMs);
    const current = op.amount > 0 ? this.#increment(keys.current, op.amount, windowKeyTtlMs(op.windowMs)) : this.#counter(keys.current);
    const previous = this.#counter(keys.previous);
    return slidingWindowEstimate(current, previous, nowMs, op.windowMs);
  }

  /** All or nothing, as in the Lua script: plan every take, then count them if all fit. */
  #takeAll(entity: string, ops: readonly WindowTake[], nowMs: number): number[] {
    const pending = new Map<string, number>();
    const plans = ops.map((op) => {
      const keys = takeBucketKeys(DEFAULT_NAMESPACE, entity, op, nowMs);
      const weight = takePreviousWeight(op, nowMs);
      const current = this.#counter(keys.current) + (pending.get(keys.current) ?? 0);
      const previous = weight > 0 ? this.#counter(keys.previous) : 0;
      pending.set(keys.current, (pending.get(keys.current) ?? 0) + op.amount);
      return { op, key: keys.current, before: current + previous * weight };
    });
    if (plans.every(({ op, before }) => before + op.amount <= op.limit)) {
      for (const { op, key } of plans) if (op.amount > 0) this.#increment(key, op.amount, takeTtlMs(op));
    }
    return plans.map(({ before }) => before);
  }

  /** Like PFADD (when there is a member) + PEXPIRE on the current bucket, then PFCOUNT of both. */
  #distinctAdd(entity: string, op: DistinctAdd, nowMs: number): number {
    const keys = distinctBucketKeys(DEFAULT_NAMESPACE, entity, op, nowMs);
    let current = this.#sketch(keys.current);
    if (op.member !== undefined) {
      current ??= new HyperLogLog();
      current.add(op.member); // hashes the UTF-8 bytes, as Redis receives them
      this.#write(keys.current, { sketch: current }, windowKeyTtlMs(op.windowMs));
    }
    if (op.count === false) return 0;
    const previous = this.#sketch(keys.previous);
    return HyperLogLog.countUnion(current ? (previous ? [current, previous] : [current]) : previous ? [previous] : []);
  }

  /** Like ZSCORE: reads, and leaves the time to live alone. */
  #memberCheck(entity: string, op: MemberCheck): number {
    const members = this.#memberSet(memberSetKey(DEFAULT_NAMESPACE, entity, op.name));
    return members?.has(asRedisMember(op.member)) ? 1 : 0;
  }

  /** Like ZADD + ZREMRANGEBYRANK + PEXPIRE + ZCARD. */
  #memberAdd(entity: string, op: MemberAdd, nowMs: number): number {
    const key = memberSetKey(DEFAULT_NAMESPACE, entity, op.name);
    const members = this.#memberSet(key) ?? new MemberSet();
    members.add(asRedisMember(op.member), nowMs);
    members.trimToNewest(op.maxMembers);
    this.#write(key, { members }, op.retentionMs);
    return members.size;
  }

  /** Like GET, then SET + PEXPIRE when there is a value. */
  #valueSwap(entity: string, op: ValueSwap): number {
    const key = valueKey(DEFAULT_NAMESPACE, entity, op.name);
    const before = this.#counter(key);
    if (op.value !== undefined) this.#write(key, op.value, op.retentionMs!);
    return before;
  }

  /** Like INCRBY + PEXPIRE: every write restarts the key's time to live. */
  #increment(key: string, amount: number, ttlMs: number): number {
    const next = this.#counter(key) + amount;
    this.#write(key, next, ttlMs);
    return next;
  }

  /** Stores `entry` for `ttlMs` of local time from now, like a write followed by PEXPIRE. */
  #write(key: string, entry: Entry, ttlMs: number): void {
    this.#entries.set(key, entry, { ttl: ttlMs });
  }

  #counter(key: string): number {
    const entry = this.#entries.get(key);
    return typeof entry === "number" ? entry : 0;
  }

  #sketch(key: string): HyperLogLog | undefined {
    const entry = this.#entries.get(key);
    return typeof entry === "object" && "sketch" in entry ? entry.sketch : undefined;
  }

  #memberSet(key: string): MemberSet | undefined {
    const entry = this.#entries.get(key);
    return typeof entry === "object" && "members" in entry ? entry.members : undefined;
  }

  #baseline(key: string): Readonly<BaselineState> | undefined {
    const entry = this.#entries.get(key);
    return typeof entry === "object" && "baseline" in entry ? entry.baseline : undefined;
  }

  #assertOpen(): void {
    // Same answer as a closed Redis connection, so callers handle both stores alike.
    if (this.#closed) throw new StoreUnavailableError("memory store is closed");
  }
}

/** The estimated heap of one entry, for `maxBytes`. */
function entryBytes(entry: Entry, key: string): number {
  const overhead = ENTRY_OVERHEAD_BYTES + 2 * key.length;
  if (typeof entry === "number") return overhead;
  if ("sketch" in entry) return overhead + entry.sketch.approximateBytes;
  if ("members" in entry) return overhead + entry.members.approximateBytes;
  if ("binding" in entry) return overhead + bindingBytes(entry.binding);
  return overhead + BASELINE_BYTES;
}

/**
 * A binding's heap, roughly: its object and arrays, two bytes per character of its strings,
 * a boxed pair per network and a double per use (at the bounds about 2.5 KB).
 */
function bindingBytes(binding: BindingRecord): number {
  const text = binding.device.length + binding.companion.length + binding.networks.reduce((sum, [network]) => sum + network.length, 0);
  return 200 + 2 * text + 80 * binding.networks.length + 8 * binding.uses.length;
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${option} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
