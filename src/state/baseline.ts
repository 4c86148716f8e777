import type { BaselineObservation, BaselineState } from "./store.js";

/**
 * One step of an exponentially weighted mean and variance (West, 1979): with d = x − mean,
 * mean += α·d and variance = (1 − α)·(variance + α·d²). The first observation starts the
 * baseline at its value with no variance. An observation for a period already folded in (or an
 * older one) changes nothing and returns `previous` itself.
 *
 * The Redis store's Lua script performs the same operations in the same order on the same IEEE
 * doubles, so both stores hold identical baselines.
 */
export function foldBaseline(previous: BaselineState | undefined, observation: BaselineObservation): BaselineState {
  const { period, value, alpha } = observation;
  if (previous === undefined) return { mean: value, variance: 0, samples: 1, lastPeriod: period };
  if (period <= previous.lastPeriod) return previous;
  const diff = value - previous.mean;
  const increment = alpha * diff;
  return {
    mean: previous.mean + increment,
    variance: (1 - alpha) * (previous.variance + diff * increment),
    samples: previous.samples + 1,
    lastPeriod: period,
  };
}
