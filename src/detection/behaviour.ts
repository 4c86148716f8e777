import type { CompiledPolicy } from "../policy/compile.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { BaselineState, Store } from "../state/store.js";
import { claimsBrowser } from "./login.js";
import type { Signal } from "./signal.js";

const MINUTE_MS = 60_000;
const RETENTION_MS = 30 * 86_400_000;

/** Browsers, scripts and everything else behave differently; each class gets its own baseline. */
export type ClientClass = "browser" | "script" | "other";

export function clientClass(request: NormalisedRequest, signals: readonly Signal[]): ClientClass {
  if (signals.some((s) => s.code === "client.library" || s.code === "client.automation")) return "script";
  return claimsBrowser(request) ? "browser" : "other";
}

type BaselineConfig = NonNullable<NonNullable<CompiledPolicy["signals"]["scraping"]>["velocityBaseline"]>;

interface Accumulator {
  count: number;
  mean: number;
  m2: number;
  minute: number;
  learnedMean?: BaselineState;
  learnedVariance?: BaselineState;
}

/**
 * Per endpoint and client class, the request rates that clients of allowed traffic show (the
 * `velocity.ip` each request measured), learned as EWMA baselines of each minute's mean and
 * variance. A client far above its class's normal rate gets `behaviour.velocity`. Minutes are
 * merged into the store by whichever replica finishes them first (observeBaseline is
 * idempotent per period), so replicas share what they learn.
 */
export class BehaviourBaselines {
  readonly #accumulators = new Map<string, Accumulator>();

  constructor(private readonly store: Store) {}

  observe(request: NormalisedRequest, policy: CompiledPolicy, velocity: number | undefined, klass: ClientClass): Signal[] | Promise<Signal[]> {
    const config = policy.signals.scraping?.velocityBaseline;
    if (!config || velocity === undefined || !request.endpoint) return [];
    const key = `${request.endpoint}:${klass}`;
    const accumulator = this.#accumulator(key);
    const minute = Math.floor(request.timeMs / MINUTE_MS);
    // A promise only on the first Check of a new minute, which folds the last one into the store.
    if (minute > accumulator.minute && accumulator.count > 0) {
      return this.#learn(key, accumulator, minute, config.learningRate).then(() => this.#judge(request, accumulator, minute, velocity, klass, config));
    }
    return this.#judge(request, accumulator, minute, velocity, klass, config);
  }

  #judge(request: NormalisedRequest, accumulator: Accumulator, minute: number, velocity: number, klass: ClientClass, config: BaselineConfig): Signal[] {
    accumulator.minute = Math.max(accumulator.minute, minute);
    const mean = accumulator.learnedMean && accumulator.learnedMean.samples >= config.minSamples ? accumulator.learnedMean.mean : undefined;
    const spread = mean !== undefined && accumulator.learnedVariance ? Math.sqrt(Math.max(accumulator.learnedVariance.mean, 0)) : undefined;
    const threshold = mean !== undefined ? mean + config.zScore * Math.max(spread ?? 0, 1) : config.priorMean + config.zScore * config.priorStddev;
    const fired = velocity > threshold;
    // Only what the baseline would call normal is learned: an outlier must not drag it up.
    if (!fired) addSample(accumulator, velocity);
    return [
      {
        code: "behaviour.velocity",
        value: velocity,
        threshold: Math.round(threshold * 100) / 100,
        weight: config.weight,
        fired,
        detail: `${klass} clients of ${request.endpoint}, threshold from ${mean !== undefined ? "baseline" : "prior"}`,
      },
    ];
  }

  /** Folds the finished minute in; the accumulator is reset first so concurrent requests never fold it twice. */
  async #learn(key: string, accumulator: Accumulator, minute: number, alpha: number): Promise<void> {
    const period = accumulator.minute;
    const value = accumulator.mean;
    const variance = accumulator.count > 1 ? accumulator.m2 / (accumulator.count - 1) : 0;
    Object.assign(accumulator, { count: 0, mean: 0, m2: 0, minute });
    const entity = `behaviour:${key}`;
    const [mean, spread] = await Promise.all([
      this.store.observeBaseline(entity, "mean", { period, value, alpha, retentionMs: RETENTION_MS }),
      this.store.observeBaseline(entity, "variance", { period, value: variance, alpha, retentionMs: RETENTION_MS }),
    ]).catch(() => [accumulator.learnedMean, accumulator.learnedVariance]);
    accumulator.learnedMean = mean;
    accumulator.learnedVariance = spread;
  }

  #accumulator(key: string): Accumulator {
    let accumulator = this.#accumulators.get(key);
    if (!accumulator) {
      accumulator = { count: 0, mean: 0, m2: 0, minute: 0 };
      this.#accumulators.set(key, accumulator);
    }
    return accumulator;
  }
}

function addSample(accumulator: Accumulator, value: number): void {
  accumulator.count += 1;
  const delta = value - accumulator.mean;
  accumulator.mean += delta / accumulator.count;
  accumulator.m2 += delta * (value - accumulator.mean);
}
