import type { AuditedChange, AuditedOutcome, MapChange, MapSubscription, MapVersion, SharedMapStore } from "./shared-map.js";
import { nextTurn } from "../domain/next-turn.js";
import { StoreUnavailableError } from "./store.js";

/**
 * One entry of the local copy. `raw` is the stored text, needed for conditional removals; a
 * compact copy (option `identify`) does not keep it.
 */
export interface ReplicaEntry<V> {
  key: string;
  raw?: string;
  value: V;
  /** Local (monotonic) time after which this copy forgets the entry, as the store does. */
  dropAtMs: number;
}

/** What changed in the local copy; `previous`/`current` absent for an addition/removal. */
export interface ReplicaChange<V> {
  key: string;
  previous?: ReplicaEntry<V>;
  current?: ReplicaEntry<V>;
}

/** How the copy learnt of changes, for metrics: an announcement, or a reload and why. */
export type SyncEvent = "message" | "resync:start" | "resync:gap" | "resync:epoch" | "resync:reconnect" | "resync:check" | "resync:failed";

export interface ReplicatedMapOptions<V> {
  store: SharedMapStore;
  /** Parses a stored value; undefined for values this version cannot read (they are skipped). */
  decode: (raw: string) => V | undefined;
  /** Local monotonic clock for expiry of the copy. */
  clock?: () => number;
  /** How often expired entries leave the copy. */
  pruneIntervalMs?: number;
  /** How often the store's change number is compared with the copy's, as a backstop. */
  checkIntervalMs?: number;
  onSync?: (event: SyncEvent) => void;
  /**
   * A compact copy: the stored text is not kept, only the decoded value (so `decode` should
   * return just what the reader needs), and two values are the same entry when they have the
   * same identity. Conditional removals then take the text from the store (`stored`).
   */
  identify?: (value: V) => string;
  /** For a compact copy: the text to write back for an entry the store lost (see #restore). */
  rebuild?: (entry: ReplicaEntry<V>) => string;
  /**
   * Most entries the copy holds. Past it, further entries stay in the store only and the copy
   * says it is not `complete` until the last of them has expired or a reload finds that
   * everything fits: a reader then asks the store (`fetch`) for what the copy does not hold.
   * Entries put only locally (`putLocal`, the store unreachable) are always held.
   */
  maxEntries?: number;
  /**
   * Sorts keys into groups (a quarantine's scope) so that `holdsGroup` can tell a reader that the
   * copy holds no key of a group without a key built and looked up.
   */
  groupOf?: (key: string) => string;
}

/** An entry as the store holds it now (for readers of a compact or incomplete copy). */
export interface StoredEntry<V> {
  key: string;
  raw: string;
  value: V;
  ttlMs: number;
}

const DEFAULT_PRUNE_INTERVAL_MS = 500;
/**
 * Entries a prune looks at per turn of the event loop; the rest of a pass continues on the next
 * turn (setImmediate), so Checks are served between slices. One pass over a copy of tens of
 * thousands of quarantines, with its listeners, took 27–37 ms of one turn in a live replay of
 * the lab's attacks (bench/live-tail.ts).
 */
export const PRUNE_SLICE = 2_000;
/**
 * Entries of a snapshot decoded per turn of the event loop on a reload (a reconnect, a lost
 * message) and for `stored` (the analyst's list): decoding 10,000 quarantines held the loop
 * 48-55 ms in one turn (bench/replica-reload.ts). Announcements arriving during a reload wait,
 * as during the snapshot's read, and readers see the previous copy until the new one is complete.
 */
export const LOAD_SLICE = 1_000;
const DEFAULT_CHECK_INTERVAL_MS = 5_000;

/**
 * A local copy of a shared map, read with no round trip and kept in step with every replica's
 * writes.
 *
 * Protocol: subscribe first, then load a snapshot; announcements that arrive while the snapshot
 * is loading wait and are replayed once it is in, skipping those the snapshot already reflects
 * (by change number). After that each announcement must carry the next number of the same
 * epoch; a gap (a lost message), another epoch (Redis lost its data) or a re-established
 * subscription (messages sent meanwhile are gone) makes the copy reload. A periodic check of the
 * store's number catches anything else. So a missed message can delay a change, never lose it.
 *
 * Writes go through the store and are applied to the copy at once when the copy has not yet
 * heard of them, so this replica acts on its own write without waiting for the echo; the echo is
 * then harmless (same value).
 */
export class ReplicatedMap<V> {
  readonly #store: SharedMapStore;
  readonly #decode: (raw: string) => V | undefined;
  readonly #clock: () => number;
  readonly #options: ReplicatedMapOptions<V>;
  readonly #entries = new Map<string, ReplicaEntry<V>>();
  /** Keys of #entries per group (`groupOf`), expired ones included until they leave the copy. */
  readonly #groupSizes = new Map<string, number>();
  readonly #listeners = new Set<(changes: ReplicaChange<V>[]) => void>();
  readonly #loadListeners = new Set<() => void>();
  readonly #restoreListeners = new Set<(entries: ReplicaEntry<V>[]) => void>();
  /** Values of this process's writes in flight, by key, with the text they were written as (see putIfAbsent). */
  readonly #ownWrites = new Map<string, { raw: string; value: V }>();
  #version: MapVersion = { epoch: "", seq: -1 };
  /** Announcements held back while a snapshot loads; undefined when none is loading. */
  #held: MapChange[] | undefined;
  #resyncs: Promise<void> = Promise.resolve();
  /** The reasons of the reload queued behind the running one: a reconnect folded into a queued check still counts as a reconnect. */
  #queuedReasons: Set<SyncEvent> | undefined;
  #stale = true;
  /** Local time until which entries the cap left out may still be live in the store; 0 when none. */
  #leftOutUntilMs = 0;
  #subscription: MapSubscription | undefined;
  #timers: NodeJS.Timeout[] = [];
  /** Where an unfinished prune pass stands (a live Map iterator: deletions behind it are safe). */
  #pruneCursor: MapIterator<[string, ReplicaEntry<V>]> | undefined;
  #pruneNext: NodeJS.Immediate | undefined;

  constructor(options: ReplicatedMapOptions<V>) {
    this.#options = options;
    this.#store = options.store;
    this.#decode = options.decode;
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** Subscribes and loads. A store that does not answer yet is not fatal: the copy catches up later. */
  async start(): Promise<void> {
    try {
      this.#subscription = await this.#store.subscribe(
        (change) => this.#onAnnouncement(change),
        () => void this.resync("resync:reconnect"),
      );
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
    }
    await this.resync("resync:start");
    const prune = setInterval(() => this.#prune(), this.#options.pruneIntervalMs ?? DEFAULT_PRUNE_INTERVAL_MS);
    const check = setInterval(() => void this.#check(), this.#options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
    for (const timer of [prune, check]) timer.unref();
    this.#timers = [prune, check];
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    if (this.#pruneNext) clearImmediate(this.#pruneNext);
    await this.#subscription?.close().catch(() => undefined);
    await this.#resyncs;
  }

  /** Called with every batch of changes to the copy, whatever caused them. */
  onChange(listener: (changes: ReplicaChange<V>[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called after every successful load of a snapshot (start, reconnect, gap…). */
  onLoaded(listener: () => void): () => void {
    this.#loadListeners.add(listener);
    return () => this.#loadListeners.delete(listener);
  }

  /** Called with the entries this copy wrote back after the store lost its data (see #load). */
  onRestored(listener: (entries: ReplicaEntry<V>[]) => void): () => void {
    this.#restoreListeners.add(listener);
    return () => this.#restoreListeners.delete(listener);
  }

  get(key: string): ReplicaEntry<V> | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.dropAtMs > this.#clock() ? entry : undefined;
  }

  entries(): ReplicaEntry<V>[] {
    const now = this.#clock();
    return [...this.#entries.values()].filter((entry) => entry.dropAtMs > now);
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Whether the copy holds any entry whose key is of `group` (expired ones count until they
   * leave the copy); true for every group without `groupOf`. When false, `get` answers
   * undefined for every key of the group.
   */
  holdsGroup(group: string): boolean {
    return this.#options.groupOf === undefined || (this.#groupSizes.get(group) ?? 0) > 0;
  }

  /**
   * False while entries the cap (`maxEntries`) left out may still be live: a key the copy does
   * not hold may then be in the store (read it with `fetch`).
   */
  get complete(): boolean {
    return this.#leftOutUntilMs <= this.#clock();
  }

  /** The live entries of `keys` in the store, one round trip; throws StoreUnavailableError. */
  async fetch(keys: readonly string[]): Promise<(V | undefined)[]> {
    const raws = await this.#store.read(keys);
    return raws.map((raw) => (raw === undefined ? undefined : this.#decode(raw)));
  }

  /**
   * Every live entry of the store with its text, read with `decode` (a compact copy's readers
   * want the whole value): a snapshot, one round trip for the whole map.
   */
  async stored<W>(decode: (raw: string) => W | undefined): Promise<StoredEntry<W>[]> {
    const snapshot = await this.#store.snapshot();
    const found: StoredEntry<W>[] = [];
    let decoded = 0;
    for (const [key, { value: raw, ttlMs }] of snapshot.entries) {
      if (++decoded % LOAD_SLICE === 0) await nextTurn();
      const value = decode(raw);
      if (value !== undefined) found.push({ key, raw, value, ttlMs });
    }
    return found;
  }

  /** True while the copy could not load from the store (it serves what it last had). */
  get stale(): boolean {
    return this.#stale;
  }

  /** With `audited`, the change and its audit record are one write (see AuditedChange). */
  async put(key: string, raw: string, ttlMs: number, audited?: AuditedChange): Promise<AuditedOutcome> {
    const result = await this.#store.put(key, raw, ttlMs, audited);
    if (!result.replayed) this.#applyOwn(result, { op: "put", key, value: raw, ttlMs, epoch: result.epoch, seq: result.seq });
    return { auditId: result.auditId, replayed: result.replayed };
  }

  /**
   * Returns the entry now stored under `key`, and whether this call created it. `known`: what
   * `decode` would read from `raw`, when the caller built `raw` from it; the copy then takes it
   * as it is instead of decoding this process's own write (and its echo, if it comes before the
   * reply, as a memory map's does; a later echo is decoded like any announcement).
   */
  async putIfAbsent(key: string, raw: string, ttlMs: number, audited?: AuditedChange, known?: V): Promise<{ created: boolean; raw: string } & AuditedOutcome> {
    if (known !== undefined) this.#ownWrites.set(key, { raw, value: known });
    try {
      const result = await this.#store.putIfAbsent(key, raw, ttlMs, audited);
      if (result.created && !result.replayed) this.#applyOwn(result, { op: "put", key, value: raw, ttlMs, epoch: result.epoch, seq: result.seq });
      return { created: result.created, raw: result.value, auditId: result.auditId, replayed: result.replayed };
    } finally {
      if (known !== undefined && this.#ownWrites.get(key)?.raw === raw) this.#ownWrites.delete(key);
    }
  }

  /** Removes `key` if it still holds `expectedRaw`; true when this call removed it. */
  async remove(key: string, expectedRaw?: string, audited?: AuditedChange): Promise<{ removed: boolean } & AuditedOutcome> {
    const result = await this.#store.remove(key, expectedRaw, audited);
    if (result.removed && !result.replayed) this.#applyOwn(result, { op: "remove", key, epoch: result.epoch, seq: result.seq });
    return { removed: result.removed, auditId: result.auditId, replayed: result.replayed };
  }

  /**
   * Puts into the copy only, for when the store cannot be reached: this replica acts on it; the
   * next successful reload replaces the copy with the store's content.
   */
  putLocal(key: string, raw: string, ttlMs: number): void {
    this.#apply({ op: "put", key, value: raw, ttlMs, ...this.#version }, true);
  }

  /** Takes back a `putLocal`, unless the entry was replaced meanwhile (by a real change). */
  dropLocal(key: string, raw: string): void {
    const entry = this.#entries.get(key);
    const dropped = this.#entry(key, raw, 1, 0);
    if (!entry || !dropped || !this.#same(entry, dropped)) return;
    this.#deleteEntry(key);
    this.#notify([{ key, previous: entry }]);
  }

  /** Reloads from a snapshot; concurrent requests share one reload (plus one queued after it). */
  resync(reason: SyncEvent): Promise<void> {
    if (this.#queuedReasons) {
      this.#queuedReasons.add(reason);
      return this.#resyncs;
    }
    const reasons = (this.#queuedReasons = new Set([reason]));
    this.#resyncs = this.#resyncs.then(() => {
      this.#queuedReasons = undefined;
      return this.#load(reasons);
    });
    return this.#resyncs;
  }

  async #load(reasons: ReadonlySet<SyncEvent>): Promise<void> {
    for (const reason of reasons) this.#options.onSync?.(reason);
    this.#held = [];
    try {
      const snapshot = await this.#store.snapshot();
      const now = this.#clock();
      const next = new Map<string, ReplicaEntry<V>>();
      let leftOutUntilMs = 0;
      let decoded = 0;
      for (const [key, { value, ttlMs }] of snapshot.entries) {
        if (++decoded % LOAD_SLICE === 0) await nextTurn();
        if (next.size >= this.#maxEntries) {
          leftOutUntilMs = Math.max(leftOutUntilMs, now + ttlMs);
          continue;
        }
        const entry = this.#entry(key, value, ttlMs, now);
        if (entry) next.set(key, entry);
      }
      this.#leftOutUntilMs = leftOutUntilMs;
      // Lost with the store's data, they live only in this copy until written back: held past the cap.
      const lost = this.#lostWith(snapshot.epoch, next, now);
      for (const entry of lost) next.set(entry.key, entry);
      this.#replace(next);
      this.#version = { epoch: snapshot.epoch, seq: snapshot.seq };
      this.#stale = false;
      if (lost.length > 0) void this.#restore(lost);
    } catch {
      // Store unreachable (or a reply this version cannot read): keep serving the last copy;
      // the periodic check and the next reconnect try again.
      this.#stale = true;
      this.#options.onSync?.("resync:failed");
    } finally {
      const held = this.#held ?? [];
      this.#held = undefined;
      if (!this.#stale) for (const change of held) this.#onAnnouncement(change);
    }
    if (!this.#stale) for (const listener of this.#loadListeners) listener();
  }

  /**
   * Another epoch means the store lost its data (a restart without persistence, a failover to
   * an empty replica). Entries this copy holds that are still running and absent from the new
   * snapshot were lost with it, not removed: nothing can remove an entry the store never had.
   */
  #lostWith(epoch: string, next: ReadonlyMap<string, ReplicaEntry<V>>, now: number): ReplicaEntry<V>[] {
    if (this.#version.epoch === "" || epoch === this.#version.epoch) return [];
    return [...this.#entries.values()].filter((entry) => entry.dropAtMs > now && !next.has(entry.key));
  }

  /** Writes lost entries back with what is left of their time; every replica does, the first wins. */
  async #restore(lost: ReplicaEntry<V>[]): Promise<void> {
    const restored: ReplicaEntry<V>[] = [];
    for (const entry of lost) {
      const remainingMs = Math.ceil(entry.dropAtMs - this.#clock());
      const raw = entry.raw ?? this.#options.rebuild?.(entry);
      if (remainingMs <= 0 || raw === undefined) continue;
      try {
        if ((await this.#store.putIfAbsent(entry.key, raw, remainingMs)).created) restored.push({ ...entry, raw });
      } catch {
        return; // unreachable again: the copy keeps them, and the next reload finds the epoch changed again or not
      }
    }
    if (restored.length === 0) return;
    for (const listener of this.#restoreListeners) {
      try {
        listener(restored);
      } catch {
        // A failing audit hook must not stop the copy from staying in sync.
      }
    }
  }

  #onAnnouncement(change: MapChange): void {
    if (this.#held) {
      this.#held.push(change);
      return;
    }
    if (change.epoch !== this.#version.epoch) return void this.resync("resync:epoch");
    if (change.seq <= this.#version.seq) return; // already in the copy (a snapshot or an echo)
    if (change.seq !== this.#version.seq + 1) return void this.resync("resync:gap");
    this.#options.onSync?.("message");
    this.#version = { epoch: change.epoch, seq: change.seq };
    this.#apply(change);
  }

  /**
   * Our own write: apply now unless the copy already went past it (then it is in, or
   * superseded). Another epoch means the copy is behind anyway: apply, and reload.
   */
  #applyOwn(version: MapVersion, change: MapChange): void {
    if (version.epoch !== this.#version.epoch) {
      this.#apply(change);
      void this.resync("resync:epoch");
    } else if (version.seq > this.#version.seq) this.#apply(change);
  }

  /** `local`: a put only this copy knows of, held whatever the cap. */
  #apply(change: MapChange, local = false): void {
    const now = this.#clock();
    const previous = this.#entries.get(change.key);
    if (change.op === "put" && !previous && !local && this.#entries.size >= this.#maxEntries) {
      // Full: the entry stays in the store only, and readers are told to ask it.
      this.#leftOutUntilMs = Math.max(this.#leftOutUntilMs, now + change.ttlMs);
      return;
    }
    const current = change.op === "put" ? this.#entry(change.key, change.value, change.ttlMs, now) : undefined;
    if (current) this.#setEntry(change.key, current);
    else this.#deleteEntry(change.key);
    if (!this.#same(previous, current)) this.#notify([{ key: change.key, previous, current }]);
  }

  /** The only writes to #entries besides #replace's clear, so that the group sizes follow it. */
  #setEntry(key: string, entry: ReplicaEntry<V>): void {
    const groupOf = this.#options.groupOf;
    if (groupOf !== undefined && !this.#entries.has(key)) this.#resizeGroup(groupOf(key), 1);
    this.#entries.set(key, entry);
  }

  #deleteEntry(key: string): void {
    const groupOf = this.#options.groupOf;
    if (this.#entries.delete(key) && groupOf !== undefined) this.#resizeGroup(groupOf(key), -1);
  }

  #resizeGroup(group: string, by: number): void {
    const size = (this.#groupSizes.get(group) ?? 0) + by;
    if (size > 0) this.#groupSizes.set(group, size);
    else this.#groupSizes.delete(group);
  }

  get #maxEntries(): number {
    return this.#options.maxEntries ?? Number.POSITIVE_INFINITY;
  }

  #entry(key: string, raw: string, ttlMs: number, now: number): ReplicaEntry<V> | undefined {
    const own = this.#ownWrites.get(key);
    const value = own?.raw === raw ? own.value : this.#decode(raw);
    if (value === undefined) return undefined;
    return this.#options.identify ? { key, value, dropAtMs: now + ttlMs } : { key, raw, value, dropAtMs: now + ttlMs };
  }

  /** The same entry: the same text, or for a compact copy the same identity. */
  #same(a: ReplicaEntry<V> | undefined, b: ReplicaEntry<V> | undefined): boolean {
    if (!a || !b) return a === b;
    const identify = this.#options.identify;
    return identify ? identify(a.value) === identify(b.value) : a.raw === b.raw;
  }

  #replace(next: Map<string, ReplicaEntry<V>>): void {
    const changes: ReplicaChange<V>[] = [];
    for (const [key, previous] of this.#entries) {
      const current = next.get(key);
      if (!this.#same(previous, current)) changes.push({ key, previous, current });
    }
    for (const [key, current] of next) if (!this.#entries.has(key)) changes.push({ key, current });
    this.#entries.clear();
    this.#groupSizes.clear();
    for (const [key, entry] of next) this.#setEntry(key, entry);
    if (changes.length > 0) this.#notify(changes);
  }

  #prune(): void {
    this.#pruneNext = undefined;
    const now = this.#clock();
    if (this.#leftOutUntilMs <= now) this.#leftOutUntilMs = 0;
    // A timer firing while a pass is under way continues it rather than starting another.
    const cursor = (this.#pruneCursor ??= this.#entries.entries());
    const changes: ReplicaChange<V>[] = [];
    let finished = false;
    for (let seen = 0; seen < PRUNE_SLICE; seen++) {
      const next = cursor.next();
      if (next.done) {
        finished = true;
        break;
      }
      const [key, entry] = next.value;
      if (entry.dropAtMs > now) continue;
      this.#deleteEntry(key);
      changes.push({ key, previous: entry });
    }
    if (changes.length > 0) this.#notify(changes);
    if (finished) this.#pruneCursor = undefined;
    else this.#pruneNext ??= setImmediate(() => this.#prune());
  }

  async #check(): Promise<void> {
    try {
      const version = await this.#store.version();
      if (this.#stale || version.epoch !== this.#version.epoch || version.seq !== this.#version.seq) {
        // An announcement may simply be on its way; compare again before paying for a reload.
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (this.#stale || version.epoch !== this.#version.epoch || version.seq > this.#version.seq) await this.resync("resync:check");
      }
    } catch {
      this.#stale = true;
    }
  }

  #notify(changes: ReplicaChange<V>[]): void {
    for (const listener of this.#listeners) {
      try {
        listener(changes);
      } catch {
        // A listener's failure must not stop the copy from staying in sync.
      }
    }
  }
}
