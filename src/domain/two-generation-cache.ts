/**
 * A bounded memo for the Check path's repeated pure computations (pseudonyms, digests of
 * cookies and paths): two generations of Maps, the older dropped when the newer fills by
 * entries or by characters of its keys and values, and an entry found in the older one
 * moved to the newer. Memory stays bounded without an LRU's per-access bookkeeping; written by
 * hand because it is a dozen lines and lru-cache's own cost showed in the same profiles.
 */
export class TwoGenerationCache {
  #young = new Map<string, string>();
  #old = new Map<string, string>();
  #youngChars = 0;

  constructor(
    /** Most entries one generation holds. */
    private readonly maxEntries: number,
    /** Most characters of keys and values one generation holds (UTF-16: twice as many bytes). */
    private readonly maxChars: number,
  ) {}

  get(key: string): string | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: string): void {
    if (this.#young.size >= this.maxEntries || this.#youngChars >= this.maxChars) {
      this.#old = this.#young;
      this.#young = new Map();
      this.#youngChars = 0;
    }
    this.#young.set(key, value);
    this.#youngChars += key.length + value.length;
  }

  /** The cached value of `key`, else `compute()`'s, remembered. */
  through(key: string, compute: () => string): string {
    const cached = this.get(key);
    if (cached !== undefined) return cached;
    const value = compute();
    this.set(key, value);
    return value;
  }

  clear(): void {
    this.#young = new Map();
    this.#old = new Map();
    this.#youngChars = 0;
  }
}
