import { LRUCache } from "lru-cache";
import type { CompiledScraping } from "../policy/signals.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { Signal } from "./signal.js";

/** Clients followed at once per replica; the least recently seen are forgotten first. */
const MAX_CLIENTS = 100_000;

interface Rhythm {
  lastId?: number;
  /** Consecutive requests whose ids stepped by at most maxStep. */
  run: number;
  lastMs: number;
  /** Welford's running mean and sum of squared deviations of the gaps between requests. */
  gaps: number;
  mean: number;
  m2: number;
}

/**
 * How one client moves through the catalogue, remembered per replica: a run of near-sequential
 * numeric ids is an enumerator walking an id space; gaps between requests that hardly vary, or
 * are shorter than a person could click, are a machine's. Envoy's load balancing may spread one
 * client over replicas; each replica then sees part of its run, so thresholds are per replica.
 */
export class RhythmDetector {
  readonly #clients = new LRUCache<string, Rhythm>({ max: MAX_CLIENTS });

  observe(request: NormalisedRequest, resourceId: string | undefined, config: CompiledScraping | undefined): Signal[] {
    if (!config || !request.ipId || (!config.sequentialIds && !config.regularity)) return [];
    const rhythm = this.#clients.get(request.ipId) ?? { run: 0, lastMs: request.timeMs, gaps: 0, mean: 0, m2: 0 };
    const gap = request.timeMs - rhythm.lastMs;
    if (gap > 0 && rhythm.lastMs !== request.timeMs) addGap(rhythm, gap);
    rhythm.lastMs = request.timeMs;
    const id = resourceId !== undefined && /^\d{1,15}$/.test(resourceId) ? Number(resourceId) : undefined;
    if (id !== undefined && config.sequentialIds) {
      const step = rhythm.lastId === undefined ? Infinity : Math.abs(id - rhythm.lastId);
      rhythm.run = step > 0 && step <= config.sequentialIds.maxStep ? rhythm.run + 1 : 0;
      rhythm.lastId = id;
    }
    this.#clients.set(request.ipId, rhythm);
    return [...sequenceSignal(rhythm, config), ...regularitySignal(rhythm, config)];
  }
}

function addGap(rhythm: Rhythm, gap: number): void {
  // Gaps of more than ten minutes start a new visit; they say nothing about rhythm.
  if (gap > 600_000) {
    rhythm.gaps = 0;
    rhythm.mean = 0;
    rhythm.m2 = 0;
    return;
  }
  rhythm.gaps += 1;
  const delta = gap - rhythm.mean;
  rhythm.mean += delta / rhythm.gaps;
  rhythm.m2 += delta * (gap - rhythm.mean);
}

function sequenceSignal(rhythm: Rhythm, config: CompiledScraping): Signal[] {
  const limit = config.sequentialIds;
  if (!limit || rhythm.run === 0) return [];
  return [{ code: "ip.sequential_ids", value: rhythm.run, threshold: limit.threshold, weight: limit.weight, fired: rhythm.run > limit.threshold }];
}

function regularitySignal(rhythm: Rhythm, config: CompiledScraping): Signal[] {
  const limit = config.regularity;
  if (!limit || rhythm.gaps < limit.minRequests) return [];
  const variation = rhythm.mean > 0 ? Math.sqrt(rhythm.m2 / rhythm.gaps) / rhythm.mean : 0;
  const tooRegular = variation < limit.maxVariation;
  const tooFast = rhythm.mean < limit.minGapMs;
  if (!tooRegular && !tooFast) return [];
  return [
    {
      code: tooFast ? "client.too_fast" : "client.too_regular",
      value: Math.round((tooFast ? rhythm.mean : variation) * 1000) / 1000,
      threshold: tooFast ? limit.minGapMs : limit.maxVariation,
      weight: limit.weight,
      fired: true,
      detail: tooFast ? "mean gap between requests in ms" : "variation of the gaps between requests",
    },
  ];
}
