import type { Clock } from "../domain/clock.js";
import { foldObservation, isNewPeriod } from "./baseline.js";
import { HyperLogLog } from "./hyperloglog.js";
import { takeTtlMs, windowKeyTtlMs } from "./keys.js";
import { asRedisMember, MemberSet } from "./member-set.js";
import type { ApplyOutcome, BatchOutcome, DegradableStore } from "./resilient-store.js";
import { stepBinding, type BindingRecord, type BindingRules, type BindingUse } from "./token-binding-record.js";
import {
  assertValidApply,
  assertValidBaselineObservation,
  assertValidBinding,
  assertValidExchange,
  guardHolds,
  slidingWindowEstimate,
  StoreUnavailableError,
  takePreviousWeight,
  windowBucket,
  type BaselineObservation,
  type BaselineState,
  type DistinctAdd,
  type EntityBatch,
  type EntityOp,
  type MemberAdd,
  type MemberCheck,
  type Publication,
  type Store,
  type ValueSwap,
  type WindowAdd,
  type WindowTake,
  type WriteGuard,
} from "./store.js";

export interface MemoryStoreOptions {
  /**
   * Most keys held at once (a key as Redis would count it: one counter bucket, one sketch
   * bucket, one set, one value); when there are more, the least recently used entities go
   * first, all their keys at once. One sliding window costs at most two keys.
   */
  maxKeys?: number;
  /**
   * Most bytes of heap the entities may take, as estimated per entity, key and structure (16 KB
   * for a dense HyperLogLog, about 160 + 2·length bytes per remembered member); the least
   * recently used entities go first. This is the bound for the structures whose size depends on
   * their content. Default 128 MiB.
   */
  maxBytes?: number;
  /** Clock for key expiry only (tests pass a fake); defaults to `performance`. */
  expiryClock?: Clock;
}

export const DEFAULT_MEMORY_MAX_KEYS = 250_000;
export const DEFAULT_MEMORY_MAX_BYTES = 128 * 1024 * 1024;

/**
 * Estimated heap of one entity besides its keys: its record, its two Maps and its entry in the
 * store's Map, plus two bytes per character of its name. Measured with these estimates (26-
 * character entities, counters): one key per entity 797 bytes of heap per key against 805
 * estimated, six keys per entity 329 against 386. (The one lru-cache of keys took 626 and 318.)
 */
const ENTITY_OVERHEAD_BYTES = 400;
/** One bucketed structure (a window's or a sketch's buckets): its Map and its entry. */
const STRUCTURE_OVERHEAD_BYTES = 200;
/** One key besides its value: the slot record, its Map entry, a boxed bucket number. */
const SLOT_OVERHEAD_BYTES = 120;
/** A stored baseline: an object of four numbers. */
const BASELINE_BYTES = 120;
/**
 * Buckets one windowed structure keeps at most, the most recently created. A window reads its
 * current bucket and the one before; older ones only matter to traffic replayed many windows
 * late, and without this a replay, whose event time runs far ahead of the local clock that
 * expires keys, would pile up every bucket of a busy site-wide counter in one entity.
 */
export const MAX_BUCKETS_PER_STRUCTURE = 16;

/** Distinct key names remembered (see #structure, #plainKey) before they are forgotten and built anew. */
const MAX_KEY_NAMES = 10_000;

/** `exchange()`'s hash: each replica's latest publication and the event time it was made. */
type Publications = Map<string, { publishedMs: number; evidence: string }>;

type Value = number | HyperLogLog | MemberSet | Readonly<BaselineState> | Readonly<BindingRecord> | Publications;

/** One key: its value, when it expires (local clock) and what it is estimated to take. */
interface Slot {
  value: Value;
  expiresAt: number;
  bytes: number;
}

/**
 * Everything the store holds for one entity, found with one look-up per call. Keys are named by
 * the part of the Redis key after the entity's hash tag (keys.ts), without bucket numbers:
 * windowed structures (`w:<name>:<windowMs>`, `f:…`, `d:…`) hold their buckets by number.
 */
class EntityState {
  readonly plain = new Map<string, Slot>();
  readonly windowed = new Map<string, Map<number, Slot>>();
  keys = 0;
  bytes: number;
  /** The store's use count at this entity's last use, and at the time it took its place in the recency order. */
  used: number;
  placed: number;

  constructor(name: string, tick: number) {
    this.bytes = ENTITY_OVERHEAD_BYTES + 2 * name.length;
    this.used = this.placed = tick;
  }
}

/**
 * The embedded store: same keys, same buckets, same estimates as the Redis store, in one
 * process. Each call runs synchronously, so it is as atomic as a Redis Lua script.
 *
 * Laid out by entity, as the Redis store groups its keys by hash tag: a call finds its entity
 * once and then works in that entity's small Maps, so no key string is built per operation and
 * no look-up goes to one table of every key (hashing fresh 60-character keys and missing in a
 * table of 100,000 was most of this store's cost).
 *
 * Buckets are chosen by `nowMs`, the event time, exactly as in Redis. Expiry, like Redis TTLs,
 * runs on the local clock: keys must disappear a fixed time after their last write whatever
 * timestamps replayed traffic carries, or a replay of old traffic would keep nothing (event-time
 * expiry already passed) and one of future traffic would keep everything. Expired keys are
 * dropped when next read or written, or with their entity.
 *
 * Memory is bounded twice over: at most `maxKeys` keys and at most `maxBytes` of estimated heap,
 * however many entities an attacker invents or members it sends; the least recently used
 * entities go first, whole. Eviction under memory pressure loses state; that is the price of a
 * bound that cannot be pushed past. Written by hand: a per-entity layout with per-key expiry is
 * not what an LRU cache library offers, and the one Map's insertion order is the recency order.
 */
export class MemoryStore implements Store, DegradableStore {
  readonly kind = "memory";
  /**
   * In the order the entities took their place: an entity used since (`used` > `placed`) is
   * moved to the end only when eviction reaches it, so the first entity not used since it was
   * placed is the least recently used of all. Moving every entity on every use instead (delete
   * and set) cost a third of this store's time: a Map's deleted entries fill it until it is
   * rebuilt.
   */
  readonly #entities = new Map<string, EntityState>();
  #tick = 0;
  /** `<kind>:<name>:<windowMs>` of the windowed structures seen, by kind, name and window. */
  readonly #structureNames = { w: new Map<string, Map<number, string>>(), f: new Map<string, Map<number, string>>(), d: new Map<string, Map<number, string>>() };
  /** `<kind>:<name>` of the plain keys seen (sets, values, baselines), by kind and name. */
  readonly #plainNames = { m: new Map<string, string>(), v: new Map<string, string>(), b: new Map<string, string>() };
  #keyNameCount = 0;
  readonly #maxKeys: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  #keys = 0;
  #bytes = 0;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#maxKeys = positiveInteger("maxKeys", options.maxKeys ?? DEFAULT_MEMORY_MAX_KEYS);
    this.#maxBytes = positiveInteger("maxBytes", options.maxBytes ?? DEFAULT_MEMORY_MAX_BYTES);
    const clock = options.expiryClock;
    this.#now = clock ? () => clock.now() : () => performance.now();
  }

  /** Keys currently held, expired ones that were not yet swept included. */
  get size(): number {
    return this.#keys;
  }

  /** Estimated heap of the entities held, the figure `maxBytes` bounds. */
  get approximateBytes(): number {
    return this.#bytes;
  }

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    assertValidApply(entity, ops, nowMs);
    return this.#applyValid(entity, ops, nowMs);
  }

  /** apply() per entity, all validated before any is applied. */
  async applyBatch(batches: readonly EntityBatch[], nowMs: number): Promise<number[][]> {
    for (const batch of batches) assertValidApply(batch.entity, batch.ops, nowMs);
    const results: number[][] = [];
    for (const batch of batches) results.push(this.#applyValid(batch.entity, batch.ops, nowMs));
    return results;
  }

  /** Never degraded: it is its own fallback. */
  isDegraded(): boolean {
    return false;
  }

  async applyWithStatus(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<ApplyOutcome> {
    return { results: await this.apply(entity, ops, nowMs), degraded: false };
  }

  /**
   * applyBatchWithStatus() of resilient-store.ts for this store: each batch validated once (that
   * helper validated every batch to set the invalid ones aside, then applyBatch() validated the
   * rest again: each about 2% of replay's CPU), an invalid batch left undefined and the outcome
   * marked degraded, the others applied. Validation reads nothing the store holds, so checking
   * each batch just before applying it answers as checking all of them first did.
   */
  async applyBatchWithStatus(batches: readonly EntityBatch[], nowMs: number): Promise<BatchOutcome> {
    const results = new Array<number[] | undefined>(batches.length);
    let degraded = false;
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i]!;
      try {
        assertValidApply(batch.entity, batch.ops, nowMs);
      } catch {
        degraded = true;
        continue;
      }
      results[i] = this.#applyValid(batch.entity, batch.ops, nowMs);
    }
    return { results, degraded };
  }

  async observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    assertValidBaselineObservation(entity, name, observation);
    this.#assertOpen();
    return this.#within(entity, (state, local) => {
      const key = this.#plainKey("b", name);
      const stored = this.#plain(state, key, local) as Readonly<BaselineState> | undefined;
      if (!isNewPeriod(stored, observation)) return { ...stored! };
      const next = foldObservation(stored, observation);
      this.#writePlain(state, key, next, BASELINE_BYTES, local + observation.retentionMs);
      return { ...next };
    });
  }

  /** stepBinding() on the record held, synchronously: as atomic as the Redis script. */
  async observeBinding(entity: string, use: BindingUse, rules: BindingRules): Promise<BindingRecord | undefined> {
    assertValidBinding(entity, use, rules);
    this.#assertOpen();
    return this.#within(entity, (state, local) => {
      const before = this.#plain(state, "t", local) as Readonly<BindingRecord> | undefined;
      const step = stepBinding(before, use, rules);
      if (step.kind !== "unbound") this.#writePlain(state, "t", step.next!, bindingBytes(step.next!), local + rules.retentionMs);
      return before;
    });
  }

  /**
   * Holds `record` as the token's binding (none: forgets it), as the shared store left it: the
   * resilient store's mirror, so that during an outage the replica judges by the binding all
   * replicas agreed on rather than by the uses it happened to see.
   */
  keepBinding(entity: string, record: BindingRecord | undefined, retentionMs: number): void {
    this.#within(entity, (state, local) => {
      if (record === undefined) this.#deletePlain(state, "t");
      else this.#writePlain(state, "t", record, bindingBytes(record), local + retentionMs);
    });
  }

  /** The Redis script's steps on a Map held as one key (`x:<name>`), synchronously. */
  async exchange(entity: string, publication: Publication, nowMs: number): Promise<string[]> {
    assertValidExchange(entity, publication, nowMs);
    this.#assertOpen();
    const { name, replica, evidence, ttlMs } = publication;
    return this.#within(entity, (state, local) => {
      const key = `x:${name}`;
      const held = this.#plain(state, key, local) as Publications | undefined;
      const publications: Publications = new Map(held);
      if (evidence === "") publications.delete(replica);
      else publications.set(replica, { publishedMs: nowMs, evidence });
      const others: Array<[string, string]> = [];
      let bytes = 0;
      for (const [name, entry] of publications) {
        if (nowMs - entry.publishedMs > ttlMs) publications.delete(name);
        else {
          bytes += 2 * (name.length + entry.evidence.length) + 16;
          if (name !== replica) others.push([name, entry.evidence]);
        }
      }
      if (publications.size === 0) this.#deletePlain(state, key);
      else this.#writePlain(state, key, publications, bytes, local + ttlMs);
      return others.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, text]) => text);
    });
  }

  async ping(): Promise<boolean> {
    return !this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entities.clear();
    this.#keys = 0;
    this.#bytes = 0;
  }

  #applyValid(entity: string, ops: readonly EntityOp[], nowMs: number): number[] {
    if (ops.length === 0) return []; // like Redis, which is not asked at all
    this.#assertOpen();
    const held = this.#entities.get(entity);
    const state = this.#use(entity, held);
    const keys = state.keys;
    const bytes = state.bytes;
    const local = this.#now();
    try {
      if (ops[0]!.op === "window.take") return this.#takeAll(state, ops as WindowTake[], nowMs, local); // validated: all takes
      const results = new Array<number>(ops.length);
      for (let i = 0; i < ops.length; i++) results[i] = this.#applyOp(state, ops[i]!, nowMs, local);
      return results;
    } finally {
      this.#settle(entity, state, held, keys, bytes);
    }
  }

  /** Runs `work` on the entity's state (a fresh one if none is held), as #applyValid does. */
  #within<T>(entity: string, work: (state: EntityState, local: number) => T): T {
    const held = this.#entities.get(entity);
    const state = this.#use(entity, held);
    const keys = state.keys;
    const bytes = state.bytes;
    try {
      return work(state, this.#now());
    } finally {
      this.#settle(entity, state, held, keys, bytes);
    }
  }

  /** The entity's state, marked as used now; a fresh one (not yet held) when none is held. */
  #use(entity: string, held: EntityState | undefined): EntityState {
    const tick = ++this.#tick;
    if (held === undefined) return new EntityState(entity, tick);
    held.used = tick;
    return held;
  }

  /**
   * After a call: counts what the entity's keys and bytes moved, holds a new entity that now has
   * keys, drops one that has none left (a read leaves nothing behind, as in Redis), and evicts
   * beyond the bounds.
   */
  #settle(entity: string, state: EntityState, held: EntityState | undefined, keysBefore: number, bytesBefore: number): void {
    if (held === undefined) {
      if (state.keys === 0) return;
      this.#entities.set(entity, state);
      this.#keys += state.keys;
      this.#bytes += state.bytes;
    } else {
      this.#keys += state.keys - keysBefore;
      this.#bytes += state.keys > 0 ? state.bytes - bytesBefore : -bytesBefore;
      if (state.keys === 0) this.#entities.delete(entity);
    }
    if (this.#keys > this.#maxKeys || this.#bytes > this.#maxBytes) this.#evict();
  }

  /** Drops the least recently used entities while over a bound. */
  #evict(): void {
    for (const [name, state] of this.#entities) {
      this.#entities.delete(name);
      if (state.used > state.placed) {
        // Used since it took its place: its place is now at the end, among the recently used.
        state.placed = state.used;
        this.#entities.set(name, state);
        continue;
      }
      this.#keys -= state.keys;
      this.#bytes -= state.bytes;
      if (this.#keys <= this.#maxKeys && this.#bytes <= this.#maxBytes) return;
    }
  }

  /**
   * The name of a windowed structure within its entity, built once: looking up a name and a
   * window length already hashed is cheaper than hashing a freshly built string every call.
   * Names come from code and policy, so they are few; the bound only guards against a caller
   * that invents them.
   */
  #structure(kind: "w" | "f" | "d", name: string, windowMs: number): string {
    const known = this.#structureNames[kind].get(name)?.get(windowMs);
    if (known !== undefined) return known;
    this.#makeRoomForKeyName();
    const byName = this.#structureNames[kind];
    let byWindow = byName.get(name);
    if (byWindow === undefined) byName.set(name, (byWindow = new Map()));
    const structure = `${kind}:${name}:${windowMs}`;
    byWindow.set(windowMs, structure);
    return structure;
  }

  /**
   * The name of a plain key within its entity (`m:<set>`, `v:<value>`, `b:<baseline>`), built
   * once for the same reason as #structure: value swaps, their guards and set checks looked up a
   * freshly built name two to three times per replayed event.
   */
  #plainKey(kind: "m" | "v" | "b", name: string): string {
    const known = this.#plainNames[kind].get(name);
    if (known !== undefined) return known;
    this.#makeRoomForKeyName();
    const key = `${kind}:${name}`;
    this.#plainNames[kind].set(name, key);
    return key;
  }

  /** Counts one more remembered key name; at the bound every remembered name is forgotten first. */
  #makeRoomForKeyName(): void {
    if (this.#keyNameCount >= MAX_KEY_NAMES) {
      for (const names of Object.values(this.#structureNames)) names.clear();
      for (const names of Object.values(this.#plainNames)) names.clear();
      this.#keyNameCount = 0;
    }
    this.#keyNameCount++;
  }

  #applyOp(state: EntityState, op: EntityOp, nowMs: number, local: number): number {
    switch (op.op) {
      case "window.add":
        return this.#windowAdd(state, op, nowMs, local);
      case "distinct.add":
        return this.#distinctAdd(state, op, nowMs, local);
      case "member.check":
        return this.#memberCheck(state, op, local);
      case "member.add":
        return this.#memberAdd(state, op, nowMs, local);
      case "value.swap":
        return this.#valueSwap(state, op, nowMs, local);
      case "window.take":
        return this.#takeAll(state, [op], nowMs, local)[0]!;
      default: {
        const unknown: never = op;
        throw new TypeError(`unknown store op ${JSON.stringify((unknown as EntityOp).op)}`);
      }
    }
  }

  /** Like INCRBY on the current bucket (when adding) with its time to live renewed, then GET of both. */
  #windowAdd(state: EntityState, op: WindowAdd, nowMs: number, local: number): number {
    const structure = this.#structure("w", op.name, op.windowMs);
    const bucket = windowBucket(nowMs, op.windowMs);
    let current = this.#bucket(state, structure, bucket, local) as number | undefined;
    if (op.amount > 0 && (op.when === undefined || this.#guardHolds(state, op.when, nowMs, local))) {
      current = (current ?? 0) + op.amount;
      this.#writeBucket(state, structure, bucket, current, 0, local + windowKeyTtlMs(op.windowMs));
    }
    const previous = this.#bucket(state, structure, bucket - 1, local) as number | undefined;
    return slidingWindowEstimate(current ?? 0, previous ?? 0, nowMs, op.windowMs);
  }

  /** All or nothing, as in the Lua script: plan every take, then count them if all fit. */
  #takeAll(state: EntityState, ops: readonly WindowTake[], nowMs: number, local: number): number[] {
    const pending = new Map<string, number>();
    const plans = ops.map((op) => {
      const structure = this.#structure(op.algorithm === "sliding" ? "w" : "f", op.name, op.windowMs);
      const bucket = windowBucket(nowMs, op.windowMs);
      const weight = takePreviousWeight(op, nowMs);
      const current = ((this.#bucket(state, structure, bucket, local) as number | undefined) ?? 0) + (pending.get(structure) ?? 0);
      const previous = weight > 0 ? ((this.#bucket(state, structure, bucket - 1, local) as number | undefined) ?? 0) : 0;
      pending.set(structure, (pending.get(structure) ?? 0) + op.amount);
      return { op, structure, bucket, current, before: current + previous * weight };
    });
    // `current` already holds the earlier takes of this call on the same key, which are written
    // in the same order below: the write need not read the counter a second time.
    if (plans.every(({ op, before }) => before + op.amount <= op.limit)) {
      for (const { op, structure, bucket, current } of plans) {
        if (op.amount > 0) this.#writeBucket(state, structure, bucket, current + op.amount, 0, local + takeTtlMs(op));
      }
    }
    return plans.map(({ before }) => before);
  }

  /** Like PFADD on the current bucket (when there is a member) with its time to live renewed, then PFCOUNT of both. */
  #distinctAdd(state: EntityState, op: DistinctAdd, nowMs: number, local: number): number {
    const structure = this.#structure("d", op.name, op.windowMs);
    const bucket = windowBucket(nowMs, op.windowMs);
    let current = this.#bucket(state, structure, bucket, local) as HyperLogLog | undefined;
    if (op.member !== undefined) {
      current ??= new HyperLogLog();
      current.add(op.member); // hashes the UTF-8 bytes, as Redis receives them
      this.#writeBucket(state, structure, bucket, current, current.approximateBytes, local + windowKeyTtlMs(op.windowMs));
    }
    if (op.count === false) return 0;
    const previous = this.#bucket(state, structure, bucket - 1, local) as HyperLogLog | undefined;
    if (current) return HyperLogLog.countPair(current, previous);
    return previous ? HyperLogLog.countPair(previous, undefined) : 0;
  }

  /** Like ZSCORE: reads, and leaves the time to live alone. */
  #memberCheck(state: EntityState, op: MemberCheck, local: number): number {
    const members = this.#plain(state, this.#plainKey("m", op.name), local) as MemberSet | undefined;
    return members?.has(asRedisMember(op.member)) ? 1 : 0;
  }

  /** Like ZADD + ZREMRANGEBYSCORE (with maxAgeMs) + ZREMRANGEBYRANK + PEXPIRE + ZCARD. */
  #memberAdd(state: EntityState, op: MemberAdd, nowMs: number, local: number): number {
    const key = this.#plainKey("m", op.name);
    const members = (this.#plain(state, key, local) as MemberSet | undefined) ?? new MemberSet();
    members.add(asRedisMember(op.member), nowMs);
    if (op.maxAgeMs !== undefined) members.dropScoredBefore(nowMs - op.maxAgeMs);
    members.trimToNewest(op.maxMembers);
    this.#writePlain(state, key, members, members.approximateBytes, local + op.retentionMs);
    return members.size;
  }

  /** Like GET, then SET + PEXPIRE when there is a value. */
  #valueSwap(state: EntityState, op: ValueSwap, nowMs: number, local: number): number {
    const key = this.#plainKey("v", op.name);
    const before = (this.#plain(state, key, local) as number | undefined) ?? 0;
    if (op.value !== undefined && (op.when === undefined || this.#guardHolds(state, op.when, nowMs, local))) {
      this.#writePlain(state, key, op.value, 0, local + op.retentionMs!);
    }
    return before;
  }

  /** Like the script's GET of both values of a guard (store.ts WriteGuard). */
  #guardHolds(state: EntityState, guard: WriteGuard, nowMs: number, local: number): boolean {
    const newer = (this.#plain(state, this.#plainKey("v", guard.newer), local) as number | undefined) ?? 0;
    const than = (this.#plain(state, this.#plainKey("v", guard.than), local) as number | undefined) ?? 0;
    return guardHolds(guard, newer, than, nowMs);
  }

  /** The value of a key that is not bucketed, unless it expired (then it is dropped). */
  #plain(state: EntityState, key: string, local: number): Value | undefined {
    const slot = state.plain.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt >= local) return slot.value;
    this.#deletePlain(state, key);
    return undefined;
  }

  /** Stores `value` until `expiresAt`, like a write followed by PEXPIRE. */
  #writePlain(state: EntityState, key: string, value: Value, valueBytes: number, expiresAt: number): void {
    const bytes = SLOT_OVERHEAD_BYTES + 2 * key.length + valueBytes;
    const slot = state.plain.get(key);
    if (slot === undefined) {
      state.plain.set(key, { value, expiresAt, bytes });
      state.keys++;
      state.bytes += bytes;
      return;
    }
    state.bytes += bytes - slot.bytes;
    slot.value = value;
    slot.expiresAt = expiresAt;
    slot.bytes = bytes;
  }

  #deletePlain(state: EntityState, key: string): void {
    const slot = state.plain.get(key);
    if (slot === undefined) return;
    state.plain.delete(key);
    state.keys--;
    state.bytes -= slot.bytes;
  }

  /** One bucket's value, unless it expired (then it is dropped). */
  #bucket(state: EntityState, structure: string, bucket: number, local: number): Value | undefined {
    const buckets = state.windowed.get(structure);
    const slot = buckets?.get(bucket);
    if (slot === undefined) return undefined;
    if (slot.expiresAt >= local) return slot.value;
    this.#deleteBucket(state, structure, buckets!, bucket, slot);
    return undefined;
  }

  #writeBucket(state: EntityState, structure: string, bucket: number, value: Value, valueBytes: number, expiresAt: number): void {
    let buckets = state.windowed.get(structure);
    if (buckets === undefined) {
      state.windowed.set(structure, (buckets = new Map()));
      state.bytes += STRUCTURE_OVERHEAD_BYTES + 2 * structure.length;
    }
    const bytes = SLOT_OVERHEAD_BYTES + valueBytes;
    const slot = buckets.get(bucket);
    if (slot !== undefined) {
      state.bytes += bytes - slot.bytes;
      slot.value = value;
      slot.expiresAt = expiresAt;
      slot.bytes = bytes;
      return;
    }
    buckets.set(bucket, { value, expiresAt, bytes });
    state.keys++;
    state.bytes += bytes;
    if (buckets.size > MAX_BUCKETS_PER_STRUCTURE) {
      const [oldest, dropped] = buckets.entries().next().value!;
      this.#deleteBucket(state, structure, buckets, oldest, dropped);
    }
  }

  #deleteBucket(state: EntityState, structure: string, buckets: Map<number, Slot>, bucket: number, slot: Slot): void {
    buckets.delete(bucket);
    state.keys--;
    state.bytes -= slot.bytes;
    if (buckets.size === 0) {
      state.windowed.delete(structure);
      state.bytes -= STRUCTURE_OVERHEAD_BYTES + 2 * structure.length;
    }
  }

  #assertOpen(): void {
    // Same answer as a closed Redis connection, so callers handle both stores alike.
    if (this.#closed) throw new StoreUnavailableError("memory store is closed");
  }
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
