import { describe, expect, it } from "vitest";
import { MAX_BUCKETS_PER_STRUCTURE, MemoryStore } from "./memory-store.js";
import { applyBatchWithStatus, isStoreDegraded } from "./resilient-store.js";
import type { DistinctAdd, MemberAdd, WindowAdd } from "./store.js";

const T0 = 1_699_999_980_000;
const hits = (amount: number, windowMs = 1_000): WindowAdd => ({ op: "window.add", name: "hits", windowMs, amount });
const user = (member?: string): DistinctAdd => ({ op: "distinct.add", name: "users", windowMs: 1_000, member });
const remember = (member: string, retentionMs = 1_000): MemberAdd => ({ op: "member.add", name: "seen", member, maxMembers: 5, retentionMs });

/** Expiry runs on a clock of its own, apart from the event time passed to apply(). */
function fakeExpiryClock(): { now(): number; advance(ms: number): void } {
  let now = 1_000; // lru-cache takes a start time of 0 for "never set"
  return { now: () => now, advance: (ms) => void (now += ms) };
}

describe("MemoryStore", () => {
  it("forgets a bucket two windows (of local time) after its last write", async () => {
    const clock = fakeExpiryClock();
    const store = new MemoryStore({ expiryClock: clock });
    await store.apply("ip1", [hits(3)], T0);
    clock.advance(2_000);
    expect(await store.apply("ip1", [hits(0)], T0)).toEqual([3]);
    clock.advance(1);
    expect(await store.apply("ip1", [hits(0)], T0)).toEqual([0]);
  });

  it("restarts the time to live on every write, not on reads", async () => {
    const clock = fakeExpiryClock();
    const store = new MemoryStore({ expiryClock: clock });
    await store.apply("ip1", [hits(1)], T0);
    clock.advance(1_500);
    await store.apply("ip1", [hits(1)], T0);
    clock.advance(1_500);
    expect(await store.apply("ip1", [hits(0)], T0)).toEqual([2]);
    clock.advance(501);
    expect(await store.apply("ip1", [hits(0)], T0)).toEqual([0]);
  });

  it("keeps at most maxKeys keys, dropping the least recently used", async () => {
    const store = new MemoryStore({ maxKeys: 2 });
    await store.apply("ip1", [hits(1)], T0);
    await store.apply("ip2", [hits(1)], T0);
    await store.apply("ip1", [hits(0)], T0); // ip1 is now the most recently used
    await store.apply("ip3", [hits(1)], T0);
    expect(store.size).toBe(2);
    expect(await store.apply("ip1", [hits(0)], T0)).toEqual([1]);
    expect(await store.apply("ip2", [hits(0)], T0)).toEqual([0]);
  });

  it("with status, sets an invalid batch aside (undefined, degraded) and applies the others, as the generic helper did", async () => {
    const store = new MemoryStore();
    const outcome = await applyBatchWithStatus(store, [{ entity: "ip1", ops: [hits(2)] }, { entity: "{bad}", ops: [hits(1)] }, { entity: "ip2", ops: [hits(-1)] }, { entity: "ip3", ops: [hits(1), user("a")] }], T0);
    expect(outcome).toEqual({ results: [[2], undefined, undefined, [1, 1]], degraded: true });
    expect(await applyBatchWithStatus(store, [{ entity: "ip1", ops: [hits(0)] }], T0)).toEqual({ results: [[2]], degraded: false });
    expect(isStoreDegraded(store)).toBe(false);
    await store.close();
    await expect(applyBatchWithStatus(store, [{ entity: "ip1", ops: [hits(1)] }], T0)).rejects.toThrow("closed");
  });

  it("keeps every key apart past the bound on remembered key names (names built again after it forgets them)", async () => {
    const store = new MemoryStore();
    const names = Array.from({ length: 10_050 }, (_, i) => `n${i}`);
    for (const [i, name] of names.entries()) {
      await store.apply("e", [{ op: "value.swap", name, value: i + 1, retentionMs: 60_000 }, { op: "member.add", name, member: "m", maxMembers: 1, retentionMs: 60_000 }], T0);
    }
    for (const i of [0, 9_999, 10_000, 10_049]) {
      expect(await store.apply("e", [{ op: "value.swap", name: names[i]! }, { op: "member.check", name: names[i]!, member: "m" }], T0)).toEqual([i + 1, 1]);
    }
    expect(await store.apply("e", [{ op: "member.check", name: "n-unknown", member: "m" }, { op: "value.swap", name: "n-unknown" }], T0)).toEqual([0, 0]);
  });

  it("rejects a nonsensical bound", () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(TypeError);
    expect(() => new MemoryStore({ maxBytes: 1.5 })).toThrow(/maxBytes must be a positive integer/);
  });

  it("stays within maxBytes however many entities and members come, dropping the least recently used", async () => {
    const maxBytes = 200_000; // about ten dense HyperLogLogs
    const store = new MemoryStore({ maxBytes });
    for (let entity = 0; entity < 40; entity++) {
      const ops = Array.from({ length: 600 }, (_, i) => user(`user-${i}`)); // enough to go dense
      await store.apply(`ip${entity}`, ops, T0);
      expect(store.approximateBytes).toBeLessThanOrEqual(maxBytes);
    }
    expect(store.size).toBeLessThan(14);
    expect((await store.apply("ip39", [user()], T0))[0]).toBeGreaterThan(550);
    expect(await store.apply("ip0", [user()], T0)).toEqual([0]); // evicted
  });

  it("accounts for a remembered set's growth, not just its first size", async () => {
    const store = new MemoryStore();
    await store.apply("user1", [remember("a")], T0);
    const small = store.approximateBytes;
    await store.apply("user1", [remember("b".repeat(200)), remember("c".repeat(200))], T0);
    expect(store.approximateBytes).toBeGreaterThan(small + 800);
  });

  it("forgets a remembered set retentionMs (of local time) after its last write; checks do not renew it", async () => {
    const clock = fakeExpiryClock();
    const store = new MemoryStore({ expiryClock: clock });
    const check = { op: "member.check", name: "seen", member: "fp1" } as const;
    await store.apply("user1", [remember("fp1", 5_000)], T0);
    clock.advance(4_000);
    expect(await store.apply("user1", [check], T0)).toEqual([1]);
    clock.advance(1_000);
    expect(await store.apply("user1", [check], T0)).toEqual([1]);
    clock.advance(1);
    expect(await store.apply("user1", [check], T0)).toEqual([0]);
  });

  it("forgets a baseline retentionMs after its last update, so the next observation starts afresh", async () => {
    const clock = fakeExpiryClock();
    const store = new MemoryStore({ expiryClock: clock });
    const observe = (period: number, value: number) => store.observeBaseline("site:login", "rate", { period, value, alpha: 0.5, retentionMs: 1_000 });
    await observe(1, 10);
    clock.advance(1_000);
    expect(await observe(2, 20)).toMatchObject({ mean: 15, samples: 2 });
    clock.advance(1_001);
    expect(await observe(3, 30)).toEqual({ mean: 30, variance: 0, samples: 1, lastPeriod: 3 });
  });

  it("hands out copies: changing a returned baseline changes nothing stored", async () => {
    const store = new MemoryStore();
    const observation = { period: 1, value: 10, alpha: 0.5, retentionMs: 1_000 };
    const first = await store.observeBaseline("site:login", "rate", observation);
    first.mean = 1_000;
    expect(await store.observeBaseline("site:login", "rate", observation)).toMatchObject({ mean: 10 });
  });

  it("evicts the least recently used entity whole, however long ago the others took their place", async () => {
    const store = new MemoryStore({ maxKeys: 4 });
    await store.apply("ip1", [hits(1), hits(1, 5_000)], T0); // two keys
    await store.apply("ip2", [hits(1)], T0);
    await store.apply("ip3", [hits(1)], T0);
    await store.apply("ip1", [hits(0)], T0); // a read uses ip1 too: ip2 is now the least recently used
    await store.apply("ip4", [hits(1)], T0); // five keys: one entity must go
    expect(store.size).toBe(4);
    expect(await store.apply("ip2", [hits(0)], T0)).toEqual([0]);
    expect(await store.apply("ip1", [hits(0), hits(0, 5_000)], T0)).toEqual([1, 1]);
    expect(await store.apply("ip3", [hits(0)], T0)).toEqual([1]);
  });

  it("keeps a structure's most recently created buckets, so a replay running ahead of the local clock stays bounded", async () => {
    const store = new MemoryStore();
    const buckets = MAX_BUCKETS_PER_STRUCTURE + 10;
    for (let bucket = 0; bucket < buckets; bucket++) await store.apply("site", [hits(1)], T0 + bucket * 1_000);
    expect(store.size).toBe(MAX_BUCKETS_PER_STRUCTURE);
    const last = T0 + (buckets - 1) * 1_000;
    expect(await store.apply("site", [hits(0)], last)).toEqual([1 + 1]); // the last bucket and all of the one before
    expect(await store.apply("site", [hits(0)], T0)).toEqual([0]); // the first went
  });

  it("leaves nothing behind after reads, and counts every entity's keys", async () => {
    const store = new MemoryStore();
    await store.apply("ip1", [hits(0), user(), { op: "member.check", name: "seen", member: "a" }], T0);
    expect(store.size).toBe(0);
    expect(store.approximateBytes).toBe(0);
    await store.apply("ip1", [hits(1), user("u1"), remember("a")], T0);
    await store.apply("ip2", [hits(1)], T0 + 1_000);
    expect(store.size).toBe(4);
    await store.close();
    expect(store.approximateBytes).toBe(0);
  });
});
