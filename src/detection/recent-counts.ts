import { LRUCache } from "lru-cache";

/**
 * Per-replica copies of distinct counts on keys a whole campaign shares — above all the usernames
 * tried behind one device fingerprint, which every login of a stuffing campaign (and of a crowd
 * of identical browsers) adds to, and the catalogue resources behind one, which every product
 * read of a distributed scraper (and of every shopper with that browser) adds to. Counting such a key in Redis is a union of two dense
 * HyperLogLogs on every login; with a copy, a login only adds its member (`count: false`) and
 * reads the copy, and the copy is refreshed from the store about once a second of event time,
 * as the site-wide figures are.
 *
 * A copy is used only while it is exact enough to decide alike: taken less than `maxAgeMs` ago
 * (event time), in the same bucket of the window (a distinct count over the current and the
 * previous bucket only grows within one bucket, so the true count is at least the copy), and
 * only when the copy is already above the threshold it is compared with (so the signal fires
 * exactly as with a fresh count; only the value it reports may be up to a second old). Below
 * the threshold every login counts afresh, so no count ever crosses a threshold late.
 *
 * Hand-written: a map with an age and a bucket per entry; lru-cache bounds it.
 */
export class RecentCounts {
  readonly #copies: LRUCache<string, Copy>;
  readonly #maxAgeMs: number;

  constructor(options: { maxAgeMs?: number; maxEntries?: number } = {}) {
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.#copies = new LRUCache({ max: options.maxEntries ?? DEFAULT_MAX_ENTRIES });
  }

  /**
   * The copy of `key`'s count over `windowMs` when it may stand in for a fresh count at
   * `nowMs` against `threshold` (see the class comment), else undefined.
   */
  usable(key: string, windowMs: number, nowMs: number, threshold: number): number | undefined {
    const copy = this.#copies.get(key);
    if (copy === undefined || copy.count <= threshold) return undefined;
    const age = nowMs - copy.readAtMs;
    if (age < 0 || age >= this.#maxAgeMs || Math.floor(nowMs / windowMs) !== copy.bucket) return undefined;
    return copy.count;
  }

  /** Remembers a fresh count of `key`, read at `nowMs`. */
  remember(key: string, windowMs: number, nowMs: number, count: number): void {
    const copy = this.#copies.get(key);
    // Concurrent Checks may answer out of order: keep the latest reading.
    if (copy !== undefined && copy.readAtMs > nowMs) return;
    this.#copies.set(key, { count, readAtMs: nowMs, bucket: Math.floor(nowMs / windowMs) });
  }
}

interface Copy {
  count: number;
  readAtMs: number;
  bucket: number;
}

/** About once a second, as the site-wide figures are merged. */
export const DEFAULT_MAX_AGE_MS = 1_000;
const DEFAULT_MAX_ENTRIES = 10_000;
