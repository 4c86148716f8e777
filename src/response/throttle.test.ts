import { describe, expect, it } from "vitest";
import { effectiveLimit } from "./throttle.js";

describe("effectiveLimit", () => {
  const limit = { requests: 100, windowMs: 60_000, floor: 10 };
  it.each([
    [0, 100],
    [50, 55],
    [99, 10],
    [100, 10],
    [-5, 100],
    [250, 10],
  ])("at risk %i allows %i", (risk, expected) => expect(effectiveLimit(limit, risk)).toBe(expected));

  it("never goes below the floor or above the full limit", () => {
    for (let risk = 0; risk <= 100; risk++) {
      const allowed = effectiveLimit(limit, risk);
      expect(allowed).toBeGreaterThanOrEqual(10);
      expect(allowed).toBeLessThanOrEqual(100);
      if (risk > 0) expect(allowed).toBeLessThanOrEqual(effectiveLimit(limit, risk - 1));
    }
  });
});
