import { describe, expect, it } from "vitest";
import { HLL_REGISTERS, HyperLogLog, registerUpdate, SPARSE_MAX_REGISTERS } from "./hyperloglog.js";

const members = (count: number, prefix = "user") => Array.from({ length: count }, (_, i) => `${prefix}-${i}@example.com`);

function sketchOf(items: string[]): HyperLogLog {
  const sketch = new HyperLogLog();
  for (const item of items) sketch.add(item);
  return sketch;
}

describe("HyperLogLog", () => {
  it("picks the register and rank Redis picks (read from Redis 7's sparse encoding of one member)", () => {
    const redis: [string, number, number][] = [
      ["", 5938, 2],
      ["a", 12711, 2], // a tail only
      ["abcdefgh", 1383, 1], // one 8-byte block exactly
      ["abcdefghi", 6903, 1], // a block and a tail
      ["ünïcödé-member", 6602, 1], // hashed as UTF-8
      ["203.0.113.7", 10960, 1],
      ["x".repeat(256), 13740, 3],
    ];
    // Twice: the second answer comes from the memo of members hashed before.
    for (let pass = 0; pass < 2; pass++) {
      for (const [member, register, rank] of redis) expect(registerUpdate(member), member).toEqual({ register, rank });
    }
  });

  it("counts exactly while members fall in distinct registers", () => {
    expect(new HyperLogLog().count()).toBe(0);
    const sketch = new HyperLogLog();
    for (const [i, member] of members(100).entries()) {
      sketch.add(member);
      expect(sketch.count()).toBe(i + 1);
    }
  });

  it("ignores members added again", () => {
    const sketch = sketchOf([...members(50), ...members(50)]);
    expect(sketch.count()).toBe(50);
  });

  it("estimates large counts within a few standard errors (0.81%)", () => {
    for (const count of [5_000, 50_000]) {
      const estimate = sketchOf(members(count)).count();
      expect(Math.abs(estimate - count) / count, `${count}: ${estimate}`).toBeLessThan(0.03);
    }
  });

  it("goes dense beyond the sparse limit without changing the count", () => {
    const items = members(SPARSE_MAX_REGISTERS + 200);
    const sketch = new HyperLogLog();
    let denseAt: number | undefined;
    let before = 0;
    for (const [i, member] of items.entries()) {
      sketch.add(member);
      if (sketch.isDense && denseAt === undefined) {
        denseAt = i;
        expect(sketch.count()).toBe(before + 1);
      }
      before = sketch.count();
    }
    expect(denseAt).toBeGreaterThan(SPARSE_MAX_REGISTERS - 1);
    expect(sketch.approximateBytes).toBeGreaterThanOrEqual(HLL_REGISTERS);
    expect(sketchOf(members(10)).approximateBytes).toBeLessThan(1_000);
  });

  it("counts a union as the sketch of all members would, sparse or dense", () => {
    const [a, b] = [members(300, "a"), members(3_000, "b")];
    const overlap = members(150, "a");
    for (const [left, right] of [[a, overlap], [a, b], [b, a], [b, b]] as const) {
      expect(HyperLogLog.countUnion([sketchOf(left), sketchOf(right)])).toBe(sketchOf([...left, ...right]).count());
    }
    expect(HyperLogLog.countUnion([])).toBe(0);
    // Three sparse sketches sharing registers, each register of the union counted once at its largest rank.
    const c = [...members(100, "a"), ...members(200, "c")];
    expect(HyperLogLog.countUnion([sketchOf(a), sketchOf(overlap), sketchOf(c)])).toBe(sketchOf([...a, ...c]).count());
  });

  it("keeps a union's count right while both sketches grow, through the change to dense (the kept histogram)", () => {
    const current = new HyperLogLog();
    const previous = new HyperLogLog();
    const everything = new HyperLogLog();
    for (let i = 0; i < 3_000; i++) {
      // Mostly the current bucket, as a window does, sometimes the previous; members shared too.
      const member = `m-${i % 2_200}`;
      (i % 3 === 0 ? previous : current).add(member);
      everything.add(member);
      if (i % 4 === 0 || i > 2_900) expect(HyperLogLog.countUnion([current, previous]), `after ${i}`).toBe(everything.count());
    }
    expect(current.isDense && previous.isDense).toBe(true);
  });
});
