import { describe, expect, it } from "vitest";
import { MAX_EXACT_DISTINCT_MEMBERS, MemoryStore } from "./memory-store.js";
import type { WindowAdd } from "./store.js";

const T0 = 1_699_999_980_000;
const hits = (amount: number, windowMs = 1_000): WindowAdd => ({ op: "window.add", name: "hits", windowMs, amount });

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

  it("counts a set's members against maxKeys, so many members cannot grow past the bound", async () => {
    const store = new MemoryStore({ maxKeys: 10 });
    const remember = (member: string) => ({ op: "member.add" as const, name: "devices", member, maxMembers: 100, retentionMs: 60_000 });
    await store.apply("ip1", [hits(1)], T0);
    await store.apply("user1", ["a", "b", "c", "d", "e", "f", "g", "h", "i"].map(remember), T0);
    expect(await store.apply("ip1", [hits(0)], T0)).toEqual([0]); // evicted to make room for the set
  });

  it("keeps distinct members exactly up to a bound, then only counts new ones", async () => {
    const store = new MemoryStore();
    const add = (member: string) => ({ op: "distinct.add" as const, name: "users", windowMs: 1_000, member });
    const members = Array.from({ length: MAX_EXACT_DISTINCT_MEMBERS + 5 }, (_, i) => `user${i}`);
    await store.apply("ip1", members.map(add), T0);
    expect(await store.apply("ip1", [add("user0")], T0)).toEqual([MAX_EXACT_DISTINCT_MEMBERS + 5]);
    expect(await store.apply("ip1", [add(members.at(-1)!)], T0)).toEqual([MAX_EXACT_DISTINCT_MEMBERS + 6]); // over-counts, never under
  });

  it("rejects a nonsensical bound", () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(TypeError);
  });
});
