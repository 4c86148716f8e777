import { LRUCache } from "lru-cache";
import type { CompiledScraping } from "../policy/signals.js";
import type { NormalisedRequest } from "../domain/request.js";
import { MAX_PUBLICATION_LENGTH, type Store } from "../state/store.js";
import { ExchangeTurns } from "./exchange-turns.js";
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

/** One catalogue or search request of an address, as replicas tell each other. */
interface Step {
  ipId: string;
  timeMs: number;
  id: number | undefined;
}

/**
 * How one client moves through the catalogue: a run of near-sequential numeric ids is an
 * enumerator walking an id space; gaps between requests that hardly vary, or are shorter than a
 * person could click, are a machine's. Each replica follows the requests it decides; Envoy's load
 * balancing spreads one client over replicas, so with several sharing a store each publishes its
 * requests of the last five seconds four times a second (`maybeExchange`) and follows every
 * address also over all replicas' requests, folded in time order up to the time every replica's
 * publication is complete (its watermark). A request is judged on the replica's own rhythm or the
 * one over all replicas, whichever has seen more of the address. With one replica the others'
 * part is empty and nothing is folded.
 */
export class RhythmDetector {
  readonly #clients = new LRUCache<string, Rhythm>({ max: MAX_CLIENTS });
  /** Every address over all replicas' requests, up to #foldedUntilMs. */
  readonly #everywhere = new LRUCache<string, Rhythm>({ max: MAX_CLIENTS });
  /** This replica's requests of the last SHARE_SPAN_MS, oldest first, for the others and the fold. */
  #recent: Step[] = [];
  #foldedUntilMs = 0;
  readonly #turns: ExchangeTurns;

  /** `store`: where replicas exchange their requests; without its `exchange`, each keeps its own. */
  constructor(store?: Pick<Store, "exchange">) {
    this.#turns = new ExchangeTurns(store);
  }

  observe(request: NormalisedRequest, resourceId: string | undefined, config: CompiledScraping | undefined): Signal[] {
    if (!config || !request.ipId || (!config.sequentialIds && !config.regularity)) return [];
    const id = resourceId !== undefined && /^\d{1,15}$/.test(resourceId) ? Number(resourceId) : undefined;
    const rhythm = this.#clients.get(request.ipId) ?? newRhythm(request.timeMs);
    step(rhythm, request.timeMs, id, config);
    this.#clients.set(request.ipId, rhythm);
    if (this.#turns.shared) this.#remember({ ipId: request.ipId, timeMs: request.timeMs, id });
    const everywhere = this.#everywhere.get(request.ipId);
    const sequence = everywhere && everywhere.run > rhythm.run ? everywhere : rhythm;
    const regularity = everywhere && everywhere.gaps > rhythm.gaps ? everywhere : rhythm;
    return [...sequenceSignal(sequence, config), ...regularitySignal(regularity, config)];
  }

  /**
   * Every EXCHANGE_EVERY_MS (exchange-turns.ts) of event time, one Check's: publishes this replica's requests of the
   * last SHARE_SPAN_MS with the time it publishes them (its watermark: it has published every
   * request it decided before), and folds all replicas' requests from the last fold up to the
   * oldest watermark, less IN_FLIGHT_MS, in time order. Only once another replica has published
   * (one replica decides alone). `ahead`: the keeper's call while no Check asks
   * (ExchangeTurns.maybe); a replica that decides nothing keeps publishing its watermark then,
   * so the others' fold does not wait for it.
   */
  maybeExchange(config: CompiledScraping | undefined, nowMs: number, ahead = false): Promise<void> | undefined {
    if (!config || (!config.sequentialIds && !config.regularity)) return undefined;
    return this.#turns.maybe(nowMs, (exchange) => this.#exchange(exchange, config, nowMs), ahead);
  }

  async #exchange(exchange: NonNullable<Store["exchange"]>, config: CompiledScraping, nowMs: number): Promise<void> {
    // A second (IN_FLIGHT_MS) more than a publication lives: the fold may lag that far behind a
    // replica silent for the whole span, and a request that left the publications unfolded is lost.
    const fromMs = nowMs - SHARE_SPAN_MS - IN_FLIGHT_MS;
    const kept = this.#recent.findIndex((s) => s.timeMs >= fromMs);
    this.#recent = kept < 0 ? [] : this.#recent.slice(kept);
    const publication = { name: "rhythm", replica: this.#turns.replica, evidence: encodeSteps(nowMs, this.#recent), ttlMs: SHARE_SPAN_MS };
    const others = (await exchange("rhythm", publication, nowMs).catch(() => [] as string[])).flatMap(decodeSteps);
    if (others.length === 0) return;
    const untilMs = Math.min(nowMs, ...others.map((o) => o.watermarkMs)) - IN_FLIGHT_MS;
    if (untilMs <= this.#foldedUntilMs) return;
    const due = (s: Step) => s.timeMs > this.#foldedUntilMs && s.timeMs <= untilMs;
    const steps = [...this.#recent.filter(due), ...others.flatMap((o) => o.steps.filter(due))].sort(byTime);
    for (const s of steps) {
      const rhythm = this.#everywhere.get(s.ipId) ?? newRhythm(s.timeMs);
      step(rhythm, s.timeMs, s.id, config);
      this.#everywhere.set(s.ipId, rhythm);
    }
    this.#foldedUntilMs = untilMs;
  }

  #remember(request: Step): void {
    this.#recent.push(request);
    if (this.#recent.length > MAX_SHARED_STEPS) this.#recent.shift();
  }
}

/**
 * How long before its watermark a replica may still decide a request it has not published: one
 * whose Check was under way while it published (awaiting its store batch, the exchanges, the
 * site-wide merge, a busy event loop). 100 ms lost a request from every replica's fold once its
 * Check took 200–300 ms to be observed (the review of replicasenum), which the live replay's
 * slowest Checks reach; a second is five times Envoy's default ext_authz timeout. What it costs:
 * the others' requests are folded a second later, and each publication carries a second more of
 * requests (without that, the sweep's scattered enumeration `rate=0.5` on three replicas fell from
 * 89.3% to 83.5%). A request observed later still is left out of the others' fold. A replica publishes a request at its next exchange, which comes with its next
 * Check, so where it sees a Check only every second or so the others read it a second or more
 * late; folding at a fixed two seconds' lag left out about one request in ten of the sweep's
 * scattered enumeration (`rate=0.5`, three replicas, seed 1), and one left out breaks the
 * regularity of all the address's gaps (docs/cohorts.md, several replicas).
 */
const IN_FLIGHT_MS = 1_000;
/**
 * What a replica publishes, and how long a publication lives: a replica that decides nothing
 * for this long (its requests all published) is no longer waited for.
 */
const SHARE_SPAN_MS = 5_000;
/**
 * Requests a replica publishes at most, the latest: each is an address pseudonym, a time and an
 * id, at most 60 characters, so a publication stays within the store's MAX_PUBLICATION_LENGTH.
 */
const MAX_SHARED_STEPS = Math.floor(MAX_PUBLICATION_LENGTH / 64);

function newRhythm(timeMs: number): Rhythm {
  return { run: 0, lastMs: timeMs, gaps: 0, mean: 0, m2: 0 };
}

/** Folds one request of the client, at `timeMs` for catalogue id `id` (if numeric), into its rhythm. */
function step(rhythm: Rhythm, timeMs: number, id: number | undefined, config: CompiledScraping): void {
  const gap = timeMs - rhythm.lastMs;
  if (gap > 0 && rhythm.lastMs !== timeMs) addGap(rhythm, gap);
  rhythm.lastMs = timeMs;
  if (id !== undefined && config.sequentialIds) {
    const stepped = rhythm.lastId === undefined ? Infinity : Math.abs(id - rhythm.lastId);
    rhythm.run = stepped > 0 && stepped <= config.sequentialIds.maxStep ? rhythm.run + 1 : 0;
    rhythm.lastId = id;
  }
}

/** Time order; an address's requests of one millisecond by id, so every run folds alike. */
function byTime(a: Step, b: Step): number {
  return a.timeMs - b.timeMs || (a.id ?? -1) - (b.id ?? -1);
}

/** One replica's publication: its requests, complete up to (not at) its watermark. */
interface Published {
  watermarkMs: number;
  steps: Step[];
}

/**
 * Compact JSON: the watermark, then [address, time, id or null] per request. Published even with
 * no request, so that the others know up to when this replica has nothing more to tell.
 */
function encodeSteps(watermarkMs: number, steps: readonly Step[]): string {
  return JSON.stringify([watermarkMs, ...steps.map((s) => [s.ipId, s.timeMs, s.id ?? null])]);
}

/** Another replica's publication; text this version cannot read (no watermark first) is skipped. */
function decodeSteps(text: string): Published[] {
  try {
    const rows = JSON.parse(text) as unknown;
    if (!Array.isArray(rows) || typeof rows[0] !== "number") return [];
    const valid = rows.slice(1).filter((r): r is [string, number, number | null] => Array.isArray(r) && typeof r[0] === "string" && typeof r[1] === "number" && (r[2] === null || typeof r[2] === "number"));
    return [{ watermarkMs: rows[0], steps: valid.map(([ipId, timeMs, id]) => ({ ipId, timeMs, id: id ?? undefined })) }];
  } catch {
    return [];
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
