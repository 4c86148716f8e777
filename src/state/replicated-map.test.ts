import { describe, expect, it } from "vitest";
import { countLoopTurns } from "../../test/helpers/loop-turns.js";
import { MemorySharedMap } from "./memory-shared-map.js";
import { LOAD_SLICE, PRUNE_SLICE, ReplicatedMap, type SyncEvent } from "./replicated-map.js";
import type { MapChange, SharedMapStore } from "./shared-map.js";
import { StoreUnavailableError } from "./store.js";

/**
 * A shared map whose announcements wait in a queue until the test delivers, drops or reorders
 * them, and whose snapshots can be made to fail or to stall: the network, under test control.
 */
class Wire implements SharedMapStore {
  inner = new MemorySharedMap();
  readonly queue: MapChange[] = [];
  listener: ((change: MapChange) => void) | undefined;
  resubscribed: (() => void) | undefined;
  down = false;
  snapshotGate: Promise<void> | undefined;
  /** While set, replies to writes are held back (the write itself is done). */
  replyGate: Promise<void> | undefined;

  constructor() {
    void this.inner.subscribe((change) => this.queue.push(change));
  }
  put = (key: string, value: string, ttlMs: number) => this.#up(() => this.inner.put(key, value, ttlMs));
  putIfAbsent = (key: string, value: string, ttlMs: number) => this.#up(() => this.inner.putIfAbsent(key, value, ttlMs));
  remove = (key: string, expected?: string) => this.#up(() => this.inner.remove(key, expected));
  version = () => this.#up(() => this.inner.version());
  read = (keys: readonly string[]) => this.#up(() => this.inner.read(keys));
  snapshot = async () => {
    await this.snapshotGate;
    return this.#up(() => this.inner.snapshot());
  };
  async subscribe(onChange: (change: MapChange) => void, onResubscribed: () => void) {
    this.listener = onChange;
    this.resubscribed = onResubscribed;
    return { close: async () => void (this.listener = undefined) };
  }
  /** Redis restarting without its data: a new, empty map with another epoch. */
  wipe(): void {
    this.inner = new MemorySharedMap();
    void this.inner.subscribe((change) => this.queue.push(change));
  }
  deliver(count = this.queue.length): void {
    for (const change of this.queue.splice(0, count)) this.listener?.(change);
  }
  drop(count = 1): void {
    this.queue.splice(0, count);
  }
  async #up<T>(call: () => Promise<T>): Promise<T> {
    if (this.down) throw new StoreUnavailableError("wire down");
    const result = await call();
    await this.replyGate;
    return result;
  }
}

async function replica(wire: Wire) {
  const events: SyncEvent[] = [];
  const copy = new ReplicatedMap({ store: wire, decode: (raw) => raw, onSync: (event) => events.push(event), checkIntervalMs: 60_000 });
  await copy.start();
  return { copy, events, keys: () => copy.entries().map((e) => `${e.key}=${e.value}`).sort() };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("ReplicatedMap", () => {
  it("applies announcements in order and ignores echoes of what it already has", async () => {
    const wire = new Wire();
    const { copy, keys } = await replica(wire);
    await wire.inner.put("a", "1", 60_000);
    await wire.inner.put("b", "2", 60_000);
    wire.deliver();
    expect(keys()).toEqual(["a=1", "b=2"]);
    await copy.put("c", "3", 60_000); // applied at once, before its echo
    expect(keys()).toEqual(["a=1", "b=2", "c=3"]);
    wire.deliver();
    expect(keys()).toEqual(["a=1", "b=2", "c=3"]);
  });

  it("reloads when a message was lost, so a lift is never missed", async () => {
    const wire = new Wire();
    const { events, keys } = await replica(wire);
    await wire.inner.put("q", "1", 60_000);
    wire.deliver();
    await wire.inner.remove("q"); // this announcement is lost
    await wire.inner.put("r", "2", 60_000);
    wire.drop();
    wire.deliver();
    await settle();
    expect(keys()).toEqual(["r=2"]);
    expect(events).toContain("resync:gap");
  });

  it("reloads on another epoch (Redis lost its data) even with a lower number", async () => {
    const wire = new Wire();
    const { events, keys } = await replica(wire);
    await wire.inner.put("a", "1", 60_000);
    wire.deliver();
    wire.listener!({ op: "put", key: "ghost", value: "x", ttlMs: 60_000, epoch: "another", seq: 1 });
    await settle();
    expect(events).toContain("resync:epoch");
    expect(keys()).toEqual(["a=1"]);
  });

  it("writes back every running entry when the store comes back empty, and says which", async () => {
    const wire = new Wire();
    const a = await replica(wire);
    const b = await replica(wire);
    const restored: string[] = [];
    for (const { copy } of [a, b]) copy.onRestored((entries) => restored.push(...entries.map((e) => e.key)));
    await a.copy.put("q1", "1", 60_000);
    await a.copy.put("q2", "2", 60_000);
    wire.deliver();
    expect(b.keys()).toEqual(["q1=1", "q2=2"]);

    wire.wipe();
    await Promise.all([a.copy.resync("resync:reconnect"), b.copy.resync("resync:reconnect")]);
    await settle();
    expect((await wire.inner.snapshot()).entries.size).toBe(2);
    expect(a.keys()).toEqual(["q1=1", "q2=2"]);
    expect(b.keys()).toEqual(["q1=1", "q2=2"]);
    // Each entry is written back once, by whichever replica got there first.
    expect(restored.sort()).toEqual(["q1", "q2"]);
  });

  it("holds announcements that arrive while a snapshot loads and replays only the newer ones", async () => {
    const wire = new Wire();
    const { copy, keys } = await replica(wire);
    let open!: () => void;
    wire.snapshotGate = new Promise((resolve) => (open = resolve));
    await wire.inner.put("in-snapshot", "1", 60_000);
    const reloading = copy.resync("resync:check");
    await settle();
    await wire.inner.remove("in-snapshot");
    wire.snapshotGate = undefined;
    // The snapshot is taken now (after the removal); both announcements arrive while it loads.
    wire.deliver();
    open();
    await reloading;
    expect(keys()).toEqual([]);
  });

  it("counts a reconnect that arrives while another reload waits behind the running one", async () => {
    const wire = new Wire();
    const { copy, events } = await replica(wire);
    let open!: () => void;
    wire.snapshotGate = new Promise((resolve) => (open = resolve));
    const running = copy.resync("resync:gap");
    await settle();
    const queued = copy.resync("resync:check");
    wire.resubscribed!(); // the subscriber came back while the check waits: one reload serves both
    wire.snapshotGate = undefined;
    open();
    await Promise.all([running, queued]);
    expect(events.slice(1)).toEqual(["resync:gap", "resync:check", "resync:reconnect"]);
  });

  it("never re-applies its own write after a later lift it already heard of", async () => {
    const wire = new Wire();
    const { copy, keys } = await replica(wire);
    let reply!: () => void;
    wire.replyGate = new Promise((resolve) => (reply = resolve));
    const slowPut = copy.putIfAbsent("q", "1", 60_000); // its reply arrives after the lift below
    await wire.inner.remove("q", "1");
    wire.deliver();
    expect(keys()).toEqual([]);
    reply();
    expect(await slowPut).toEqual({ created: true, raw: "1" });
    expect(keys()).toEqual([]);
  });

  it("keeps serving its last copy while the store is down, and catches up on reconnect", async () => {
    const wire = new Wire();
    const { copy, events, keys } = await replica(wire);
    await copy.put("a", "1", 60_000);
    wire.deliver();
    wire.down = true;
    await copy.resync("resync:check");
    expect(copy.stale).toBe(true);
    expect(keys()).toEqual(["a=1"]);
    wire.down = false;
    await wire.inner.remove("a");
    wire.drop();
    wire.resubscribed!();
    await expect.poll(keys).toEqual([]);
    expect(copy.stale).toBe(false);
    expect(events).toContain("resync:failed");
  });

  it("forgets entries when their time to live runs out, telling listeners", async () => {
    let now = 0;
    const wire = new Wire();
    const copy = new ReplicatedMap({ store: wire, decode: (raw) => raw, clock: () => now, pruneIntervalMs: 5 });
    await copy.start();
    const removed: string[] = [];
    copy.onChange((changes) => removed.push(...changes.filter((c) => !c.current).map((c) => c.key)));
    await copy.put("short", "1", 100);
    now = 150;
    expect(copy.get("short")).toBeUndefined();
    await expect.poll(() => removed).toEqual(["short"]);
    await copy.stop();
  });

  it("says which groups of keys it holds as entries come, leave, expire and reload", async () => {
    let now = 0;
    const wire = new Wire();
    const groupOf = (key: string) => key.slice(0, key.indexOf(":"));
    const copy = new ReplicatedMap({ store: wire, decode: (raw) => raw, clock: () => now, pruneIntervalMs: 5, checkIntervalMs: 60_000, groupOf });
    await copy.start();
    expect(copy.holdsGroup("ip")).toBe(false);
    await copy.put("ip:a", "1", 100);
    await copy.put("ip:b", "1", 60_000);
    await wire.inner.put("username:u", "1", 60_000);
    wire.deliver();
    expect([copy.holdsGroup("ip"), copy.holdsGroup("username"), copy.holdsGroup("session")]).toEqual([true, true, false]);
    await copy.remove("ip:b");
    expect(copy.holdsGroup("ip")).toBe(true); // ip:a, until it expires and leaves the copy
    now = 150;
    await expect.poll(() => copy.holdsGroup("ip")).toBe(false);
    await wire.inner.remove("username:u");
    await wire.inner.put("session:s", "1", 60_000);
    wire.drop(2); // lost: the reload below finds them
    await copy.resync("resync:check");
    expect([copy.holdsGroup("username"), copy.holdsGroup("session")]).toEqual([false, true]);
    await copy.stop();
  });

  it("holds every group as far as a reader can tell when keys are not grouped", async () => {
    const wire = new Wire();
    const { copy } = await replica(wire);
    expect(copy.holdsGroup("ip")).toBe(true);
  });

  it("prunes a large copy a slice per turn of the event loop, serving other work between slices", async () => {
    let now = 0;
    const wire = new Wire();
    const copy = new ReplicatedMap({ store: wire, decode: (raw) => raw, clock: () => now, pruneIntervalMs: 5, checkIntervalMs: 60_000 });
    await copy.start();
    const count = PRUNE_SLICE * 2 + 10;
    for (let i = 0; i < count; i++) await copy.put(`k${i}`, "v", i % 2 === 0 ? 100 : 60_000);
    const slices: number[] = [];
    copy.onChange((changes) => slices.push(changes.filter((c) => !c.current).length));
    now = 150;
    await expect.poll(() => copy.size).toBe(count / 2);
    expect(slices.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...slices)).toBeLessThanOrEqual(PRUNE_SLICE);
    await copy.stop();
  });

  /** Counts turns of the event loop while `work` runs; `decode` notes the count at each value it decodes. */
  async function turnsWhileDecoding(work: (decode: (raw: string) => string) => Promise<unknown>): Promise<number[]> {
    const loop = countLoopTurns();
    const turnsAtDecode: number[] = [];
    await work((raw) => (turnsAtDecode.push(loop.turns), raw));
    loop.stop();
    return turnsAtDecode;
  }

  it("decodes a large snapshot a slice per turn of the event loop on a reload, readers keeping the previous copy until it is in", async () => {
    const wire = new Wire();
    const count = LOAD_SLICE * 2 + 10;
    for (let i = 0; i < count; i++) await wire.inner.put(`k${i}`, "old", 60_000);
    let decodeNow = (raw: string) => raw;
    const copy = new ReplicatedMap({ store: wire, decode: (raw) => decodeNow(raw), checkIntervalMs: 60_000 });
    await copy.start();
    for (let i = 0; i < count; i++) await wire.inner.put(`k${i}`, "new", 60_000);
    const turns = await turnsWhileDecoding(async (decode) => {
      decodeNow = decode;
      const reload = copy.resync("resync:gap");
      await new Promise((resolve) => setImmediate(resolve));
      expect(copy.get("k0")?.value).toBe("old"); // still loading: the previous copy serves
      await reload;
    });
    expect(copy.get("k0")?.value).toBe("new");
    expect(copy.size).toBe(count);
    // The loop turned between slices: the last value was decoded turns after the first.
    expect(turns).toHaveLength(count);
    expect(turns.at(-1)! - turns[0]!).toBeGreaterThanOrEqual(2);
    await copy.stop();
  });

  it("reads the store's whole map for `stored` a slice per turn of the event loop", async () => {
    const wire = new Wire();
    const count = LOAD_SLICE * 2 + 10;
    for (let i = 0; i < count; i++) await wire.inner.put(`k${i}`, "v", 60_000);
    const copy = new ReplicatedMap({ store: wire, decode: (raw) => raw, checkIntervalMs: 60_000 });
    await copy.start();
    let stored: unknown[] = [];
    const turns = await turnsWhileDecoding(async (decode) => (stored = await copy.stored(decode)));
    expect(stored).toHaveLength(count);
    expect(turns.at(-1)! - turns[0]!).toBeGreaterThanOrEqual(2);
    await copy.stop();
  });

  it("holds at most maxEntries; the rest stay in the store, readable, until they expire or a reload finds everything fits", async () => {
    let now = 0;
    const wire = new Wire();
    const copy = new ReplicatedMap({ store: wire, decode: (raw) => raw, clock: () => now, checkIntervalMs: 60_000, maxEntries: 2 });
    await copy.start();
    expect(copy.complete).toBe(true);
    for (const key of ["a", "b", "c"]) await copy.put(key, key, 60_000);
    await wire.inner.put("d", "d", 60_000); // another replica's, announced
    wire.deliver();
    expect(copy.size).toBe(2);
    expect(copy.complete).toBe(false);
    // Nothing is lost: what the copy left out is read from the store.
    expect(await copy.fetch(["c", "d", "e"])).toEqual(["c", "d", undefined]);
    await copy.resync("resync:check");
    expect([copy.size, copy.complete]).toEqual([2, false]);
    // Known only here (the store unreachable): held past the bound, as the store cannot answer for it.
    copy.putLocal("local", "x", 60_000);
    expect(copy.get("local")?.value).toBe("x");
    // Complete again once the last entry left out has expired…
    now = 60_001;
    expect(copy.complete).toBe(true);
    // …or when a reload finds that everything fits.
    now = 0;
    await copy.put("e", "e", 60_000);
    expect(copy.complete).toBe(false);
    for (const key of ["c", "d", "e"]) await wire.inner.remove(key);
    wire.deliver();
    await copy.resync("resync:check");
    expect([copy.size, copy.complete]).toEqual([2, true]);
    await copy.stop();
  });

  it("keeps no text in a compact copy, and tells entries apart by their identity", async () => {
    const wire = new Wire();
    const copy = new ReplicatedMap({ store: wire, decode: (raw) => ({ id: raw.split(":")[0]! }), identify: (value) => value.id, checkIntervalMs: 60_000 });
    await copy.start();
    const changed: string[] = [];
    copy.onChange((changes) => changed.push(...changes.map((c) => c.key)));
    await copy.put("k", "1:first", 60_000);
    expect(copy.get("k")).toEqual({ key: "k", value: { id: "1" }, dropAtMs: expect.any(Number) });
    copy.putLocal("k", "1:again", 60_000); // the same entry: no change to tell
    copy.dropLocal("k", "2:other"); // not the entry held: it stays
    expect(copy.get("k")?.value).toEqual({ id: "1" });
    expect(changed).toEqual(["k"]);
    expect(await copy.stored((raw) => raw)).toEqual([{ key: "k", raw: "1:first", value: "1:first", ttlMs: expect.any(Number) }]);
    await copy.stop();
  });

  it("takes the value of its own write as the caller built it, decoding only what others wrote", async () => {
    const store = new MemorySharedMap(); // announces within the write, before the reply
    const decoded: string[] = [];
    const copy = new ReplicatedMap({ store, decode: (raw) => (decoded.push(raw), { id: raw }), checkIntervalMs: 60_000 });
    await copy.start();
    const own = { id: "mine" };
    await copy.putIfAbsent("k", "mine", 60_000, undefined, own);
    expect(copy.get("k")?.value).toBe(own);
    await store.put("other", "theirs", 60_000);
    expect(copy.get("other")?.value).toEqual({ id: "theirs" });
    expect(decoded).toEqual(["theirs"]);
    await copy.stop();
  });

  it("skips values it cannot decode", async () => {
    const wire = new Wire();
    await wire.inner.put("bad", "not json", 60_000);
    await wire.inner.put("good", '{"n":1}', 60_000);
    const copy = new ReplicatedMap({ store: wire, decode: (raw) => { try { return JSON.parse(raw) as unknown; } catch { return undefined; } } });
    await copy.start();
    expect(copy.entries().map((e) => e.key)).toEqual(["good"]);
    await copy.stop();
  });
});
