import { describe, expect, it } from "vitest";
import { foldObservation, isNewPeriod } from "./baseline.js";
import type { BaselineObservation, BaselineState } from "./store.js";

const observe = (period: number, value: number, alpha = 0.5): BaselineObservation => ({ period, value, alpha, retentionMs: 1_000 });

function learn(observations: BaselineObservation[]): BaselineState | undefined {
  let baseline: BaselineState | undefined;
  for (const observation of observations) {
    if (isNewPeriod(baseline, observation)) baseline = foldObservation(baseline, observation);
  }
  return baseline;
}

describe("baseline EWMA", () => {
  it("starts at the first observation with no variance", () => {
    expect(foldObservation(undefined, observe(7, 42))).toEqual({ mean: 42, variance: 0, samples: 1, lastPeriod: 7 });
  });

  it("folds observations with the exponentially weighted mean and variance", () => {
    // mean 10 → 10 + 0.5·10 = 15 → 15 + 0.5·15 = 22.5; variance 0 → 0.5·(0 + 0.5·100) = 25 → 0.5·(25 + 0.5·225) = 68.75
    expect(learn([observe(1, 10), observe(2, 20), observe(3, 30)])).toEqual({ mean: 22.5, variance: 68.75, samples: 3, lastPeriod: 3 });
  });

  it("forgets the past entirely with alpha 1", () => {
    expect(learn([observe(1, 10, 1), observe(2, 99, 1)])).toEqual({ mean: 99, variance: 0, samples: 2, lastPeriod: 2 });
  });

  it("tends to the mean and variance of a steady signal", () => {
    const alternating = Array.from({ length: 400 }, (_, i) => observe(i + 1, i % 2 === 0 ? 90 : 110, 0.05));
    const baseline = learn(alternating)!;
    expect(baseline.mean).toBeCloseTo(100, 0);
    expect(Math.sqrt(baseline.variance)).toBeCloseTo(10, 0);
  });

  it("folds each period once: a repeated or earlier period is ignored", () => {
    const baseline = foldObservation(undefined, observe(5, 10));
    expect(isNewPeriod(baseline, observe(5, 1_000))).toBe(false);
    expect(isNewPeriod(baseline, observe(4, 1_000))).toBe(false);
    expect(isNewPeriod(baseline, observe(6, 1_000))).toBe(true);
    expect(isNewPeriod(undefined, observe(0, 1))).toBe(true);
  });
});
