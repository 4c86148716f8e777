import { TwoGenerationCache } from "../domain/two-generation-cache.js";
import type { QuotaWindow } from "./config.js";

/**
 * Counters known to be over their limit, so that a client hammering a key it has exhausted is
 * answered from memory and its traffic never reaches the store (envoyproxy/ratelimit's local
 * cache does the same for its fixed windows).
 *
 * An entry remembers the count the store reported and when, and yields a lower bound of the
 * count at a later time: a fixed window's count never falls before the window ends (denied
 * requests add nothing, and nothing else subtracts), and a sliding window's estimate falls at
 * most as fast as its previous bucket empties, at most the configured limit per window length.
 * A request is answered from here only when that lower bound already exceeds its limit, so the
 * cache can only be late to deny, never wrong to.
 *
 * A counter is named by its entity and the window's suffix (descriptor-plan.ts), looked up as
 * they are rather than joined: every limited descriptor of every request asks here while
 * anything is remembered. Bounded as two generations (TwoGenerationCache): between `maxEntries`
 * and twice as many counters.
 */
export class OverLimitCache {
  readonly #entries: TwoGenerationCache<KnownCount>;
  /** When the last entry remembered stops being valid: until then look-ups may find something. */
  #validUntilMs = 0;

  constructor(maxEntries = 100_000) {
    // Entities are bounded keys (`rl.` and a pseudonym); the entries' own size is fixed.
    this.#entries = new TwoGenerationCache<KnownCount>(maxEntries, Number.POSITIVE_INFINITY, () => 0);
  }

  /** Remembers a count that exceeded its limit at `nowMs`. */
  remember(entity: string, suffix: string, window: QuotaWindow, count: number, nowMs: number): void {
    const sliding = window.algorithm === "sliding";
    const windowEnd = nowMs - (nowMs % window.windowMs) + window.windowMs;
    const known: KnownCount = {
      count,
      atMs: nowMs,
      declinePerMs: sliding ? window.requestsPerUnit / window.windowMs : 0,
      // A fixed count restarts at the window's end; a sliding one is bounded for one window.
      validUntilMs: sliding ? nowMs + window.windowMs : windowEnd,
    };
    this.#entries.set(entity, known, suffix);
    if (known.validUntilMs > this.#validUntilMs) this.#validUntilMs = known.validUntilMs;
  }

  /** The least the counter can hold at `nowMs`, or undefined when nothing useful is known. */
  lowerBound(entity: string, suffix: string, nowMs: number): number | undefined {
    const known = this.#entries.get(entity, suffix);
    if (!known || nowMs >= known.validUntilMs || nowMs < known.atMs) return undefined;
    return known.count - known.declinePerMs * (nowMs - known.atMs);
  }

  /** True when no entry can still be valid at `nowMs`: the limiter then skips its look-ups. */
  knowsNothingAt(nowMs: number): boolean {
    return nowMs >= this.#validUntilMs;
  }
}

interface KnownCount {
  count: number;
  atMs: number;
  declinePerMs: number;
  validUntilMs: number;
}
