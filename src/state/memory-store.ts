import { LRUCache } from "lru-cache";
import { DEFAULT_NAMESPACE, windowBucketKeys, windowKeyTtlMs } from "./keys.js";
import {
  assertValidApply,
  slidingWindowEstimate,
  StoreUnavailableError,
  type EntityOp,
  type Store,
  type WindowAdd,
} from "./store.js";

export interface MemoryStoreOptions {
  /**
   * Most counter keys held at once; the least recently used go first. A bucket is one key, so
   * one sliding window costs at most two. Measured: about 375 bytes of heap per key with
   * 64-character keys, so the default of 250k keys is about 95 MB.
   */
  maxKeys?: number;
  /** Clock for key expiry only (tests pass a fake); defaults to `performance`. */
  expiryClock?: { now(): number };
}

export const DEFAULT_MEMORY_MAX_KEYS = 250_000;

/**
 * The embedded store: same keys, same buckets, same estimate as the Redis store, in one
 * process. Each `apply()` runs synchronously, so it is as atomic as the Redis Lua script.
 *
 * Buckets are chosen by `nowMs`, the event time, exactly as in Redis. Expiry, like Redis TTLs,
 * runs on the local clock: keys must disappear a fixed time after their last write whatever
 * timestamps replayed traffic carries, or a replay of old traffic would keep nothing (event-time
 * expiry already passed) and one of future traffic would keep everything.
 *
 * Eviction under memory pressure loses counts; that is the price of a bound that an attacker
 * cannot push past by inventing entities.
 */
export class MemoryStore implements Store {
  readonly kind = "memory";
  readonly #counters: LRUCache<string, number>;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const max = options.maxKeys ?? DEFAULT_MEMORY_MAX_KEYS;
    if (!Number.isSafeInteger(max) || max <= 0) {
      throw new TypeError(`maxKeys must be a positive integer, got ${String(max)}`);
    }
    this.#counters = new LRUCache<string, number>({
      max,
      // lru-cache caches the time for `ttlResolution` ms of real time; a fake clock must be read every time.
      ...(options.expiryClock ? { perf: options.expiryClock, ttlResolution: 0 } : {}),
    });
  }

  /** Keys currently held, expired ones that were not yet swept included. */
  get size(): number {
    return this.#counters.size;
  }

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    assertValidApply(entity, ops, nowMs);
    if (ops.length === 0) return []; // like Redis, which is not asked at all
    this.#assertOpen();
    return ops.map((op) => this.#applyOp(entity, op, nowMs));
  }

  async ping(): Promise<boolean> {
    return !this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#counters.clear();
  }

  #applyOp(entity: string, op: EntityOp, nowMs: number): number {
    switch (op.op) {
      case "window.add":
        return this.#windowAdd(entity, op, nowMs);
      default: {
        const unknown: never = op.op;
        throw new TypeError(`unknown store op ${JSON.stringify(unknown)}`);
      }
    }
  }

  #windowAdd(entity: string, op: WindowAdd, nowMs: number): number {
    const keys = windowBucketKeys(DEFAULT_NAMESPACE, entity, op, nowMs);
    const current = op.amount > 0 ? this.#increment(keys.current, op.amount, windowKeyTtlMs(op.windowMs)) : this.#read(keys.current);
    const previous = this.#read(keys.previous);
    return slidingWindowEstimate(current, previous, nowMs, op.windowMs);
  }

  /** Like INCRBY + PEXPIRE: every write restarts the key's time to live. */
  #increment(key: string, amount: number, ttlMs: number): number {
    const next = this.#read(key) + amount;
    this.#counters.set(key, next, { ttl: ttlMs });
    return next;
  }

  #read(key: string): number {
    return this.#counters.get(key) ?? 0;
  }

  #assertOpen(): void {
    // Same answer as a closed Redis connection, so callers handle both stores alike.
    if (this.#closed) throw new StoreUnavailableError("memory store is closed");
  }
}
