import { describe, expect, it } from "vitest";
import type { QuotaWindow } from "./config.js";
import { OverLimitCache } from "./over-limit-cache.js";

const window = (algorithm: QuotaWindow["algorithm"]): QuotaWindow => ({
  role: "limit",
  requestsPerUnit: 60,
  unit: "minute",
  unitMultiplier: 1,
  windowMs: 60_000,
  algorithm,
});
const T0 = 1_700_000_040_000; // a minute boundary

describe("OverLimitCache", () => {
  it("holds a fixed window's count until the window ends", () => {
    const cache = new OverLimitCache();
    expect(cache.knowsNothingAt(T0)).toBe(true);
    cache.remember("c", "/limit", window("fixed"), 60, T0 + 10_000);
    expect(cache.lowerBound("c", "/limit", T0 + 59_999)).toBe(60);
    expect(cache.knowsNothingAt(T0 + 59_999)).toBe(false);
    expect(cache.lowerBound("c", "/limit", T0 + 60_000)).toBeUndefined();
    expect(cache.knowsNothingAt(T0 + 60_000)).toBe(true);
  });

  it("lets a sliding window's bound fall as fast as the estimate could", () => {
    const cache = new OverLimitCache();
    cache.remember("c", "/limit", window("sliding"), 60, T0);
    expect(cache.lowerBound("c", "/limit", T0 + 1_000)).toBe(59); // at most 60 per 60 s can leave the window
    expect(cache.lowerBound("c", "/limit", T0 + 30_000)).toBe(30);
    expect(cache.lowerBound("c", "/limit", T0 + 60_000)).toBeUndefined();
  });

  it("forgets what it cannot vouch for: unknown counters, other windows of a counter, clocks that went back", () => {
    const cache = new OverLimitCache();
    expect(cache.lowerBound("c", "/limit", T0)).toBeUndefined();
    cache.remember("c", "/limit", window("fixed"), 60, T0 + 5_000);
    expect(cache.lowerBound("c", "/burst", T0 + 5_000)).toBeUndefined();
    expect(cache.lowerBound("c", "/limit", T0 + 4_000)).toBeUndefined();
  });

  it("is bounded: past twice its size, the oldest counters are forgotten", () => {
    const cache = new OverLimitCache(2);
    for (const name of ["a", "b", "c", "d", "e"]) cache.remember(name, "/limit", window("fixed"), 60, T0);
    expect(cache.lowerBound("a", "/limit", T0)).toBeUndefined();
    expect(cache.lowerBound("e", "/limit", T0)).toBe(60);
  });
});
