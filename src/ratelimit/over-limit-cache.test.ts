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
    cache.remember("c", window("fixed"), 60, T0 + 10_000);
    expect(cache.lowerBound("c", T0 + 59_999)).toBe(60);
    expect(cache.lowerBound("c", T0 + 60_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("lets a sliding window's bound fall as fast as the estimate could", () => {
    const cache = new OverLimitCache();
    cache.remember("c", window("sliding"), 60, T0);
    expect(cache.lowerBound("c", T0 + 1_000)).toBe(59); // at most 60 per 60 s can leave the window
    expect(cache.lowerBound("c", T0 + 30_000)).toBe(30);
    expect(cache.lowerBound("c", T0 + 60_000)).toBeUndefined();
  });

  it("forgets what it cannot vouch for: unknown counters, clocks that went back", () => {
    const cache = new OverLimitCache();
    expect(cache.lowerBound("c", T0)).toBeUndefined();
    cache.remember("c", window("fixed"), 60, T0 + 5_000);
    expect(cache.lowerBound("c", T0 + 4_000)).toBeUndefined();
  });

  it("is bounded", () => {
    const cache = new OverLimitCache(2);
    for (const name of ["a", "b", "c"]) cache.remember(name, window("fixed"), 60, T0);
    expect(cache.size).toBe(2);
    expect(cache.lowerBound("a", T0)).toBeUndefined();
  });
});
