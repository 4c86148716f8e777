import type { BaselineObservation, BaselineState } from "./store.js";

/**
 * The learned-baseline arithmetic of the memory store. The Redis store runs the same formula in
 * Lua (`OBSERVE_BASELINE_SCRIPT` in redis/store-scripts.ts); the two must perform the same IEEE-754
 * operations in the same order so that both stores agree to the last bit:
 *
 *   first observation x:  mean = x, variance = 0, samples = 1
 *   later observation x:  d = x − mean
 *                         mean' = mean + α·d
 *                         variance' = (1 − α)·(variance + α·d·d)     (α·d·d evaluated as (α·d)·d)
 *                         samples' = samples + 1
 *
 * This is the exponentially weighted mean and variance (Finch, "Incremental calculation of
 * weighted mean and variance", 2009): constant memory, recent periods weigh most.
 */

/**
 * True when `observation` must be folded into `baseline`: there is none yet, or the observation
 * is for a later period. An observation for the same or an earlier period was already learned
 * (by this replica or another), so it is ignored: each period counts once.
 */
export function isNewPeriod(baseline: BaselineState | undefined, observation: BaselineObservation): boolean {
  return baseline === undefined || observation.period > baseline.lastPeriod;
}

/** The baseline after folding in `observation`; does not check the period (see `isNewPeriod`). */
export function foldObservation(baseline: BaselineState | undefined, observation: BaselineObservation): BaselineState {
  const { value, alpha, period } = observation;
  if (baseline === undefined) return { mean: value, variance: 0, samples: 1, lastPeriod: period };
  const deviation = value - baseline.mean;
  return {
    mean: baseline.mean + alpha * deviation,
    variance: (1 - alpha) * (baseline.variance + alpha * deviation * deviation),
    samples: baseline.samples + 1,
    lastPeriod: period,
  };
}
