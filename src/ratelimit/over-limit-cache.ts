import { LRUCache } from "lru-cache";
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
 */
export class OverLimitCache {
  readonly #entries: LRUCache<string, KnownCount>;

  constructor(maxEntries = 100_000) {
    this.#entries = new LRUCache({ max: maxEntries });
  }

  /** Remembers a count that exceeded its limit at `nowMs`. */
  remember(counter: string, window: QuotaWindow, count: number, nowMs: number): void {
    const sliding = window.algorithm === "sliding";
    const windowEnd = nowMs - (nowMs % window.windowMs) + window.windowMs;
    const known: KnownCount = {
      count,
      atMs: nowMs,
      declinePerMs: sliding ? window.requestsPerUnit / window.windowMs : 0,
      // A fixed count restarts at the window's end; a sliding one is bounded for one window.
      validUntilMs: sliding ? nowMs + window.windowMs : windowEnd,
    };
    this.#entries.set(counter, known);
  }

  /** The least the counter can hold at `nowMs`, or undefined when nothing useful is known. */
  lowerBound(counter: string, nowMs: number): number | undefined {
    const known = this.#entries.get(counter);
    if (!known) return undefined;
    if (nowMs >= known.validUntilMs || nowMs < known.atMs) {
      this.#entries.delete(counter);
      return undefined;
    }
    return known.count - known.declinePerMs * (nowMs - known.atMs);
  }

  get size(): number {
    return this.#entries.size;
  }
}

interface KnownCount {
  count: number;
  atMs: number;
  declinePerMs: number;
  validUntilMs: number;
}
