/**
 * A bounded memo for the Check path's repeated pure computations (pseudonyms, digests of
 * cookies and paths, parsed addresses): two generations of Maps, the older dropped when the
 * newer fills by entries or by characters of its keys and values, and an entry found in the
 * older one moved to the newer. Memory stays bounded without an LRU's per-access bookkeeping;
 * written by hand because it is a dozen lines and lru-cache's own cost showed in the same
 * profiles.
 *
 * Keys live in spaces (a pseudonym's kind, a digest's algorithm): a space is a Map of its own,
 * so a caller never builds a `<space>\0<key>` string per look-up, which cost a copy of the key
 * and a hash of the copy on every call.
 */
export class TwoGenerationCache<V = string> {
  #young = new Map<string, Map<string, V>>();
  #old = new Map<string, Map<string, V>>();
  #youngEntries = 0;
  #youngChars = 0;

  constructor(
    /** Most entries one generation holds. */
    private readonly maxEntries: number,
    /** Most characters of keys and values one generation holds (UTF-16: twice as many bytes). */
    private readonly maxChars: number,
    /** The characters a value counts for; a string's own length unless said otherwise. */
    private readonly charsOf: (value: V) => number = (value) => (value as string).length,
  ) {}

  get(key: string, space = ""): V | undefined {
    const young = this.#young.get(space)?.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(space)?.get(key);
    if (old !== undefined) this.set(key, old, space);
    return old;
  }

  set(key: string, value: V, space = ""): void {
    if (this.#youngEntries >= this.maxEntries || this.#youngChars >= this.maxChars) {
      this.#old = this.#young;
      this.#young = new Map();
      this.#youngEntries = 0;
      this.#youngChars = 0;
    }
    let entries = this.#young.get(space);
    if (entries === undefined) this.#young.set(space, (entries = new Map()));
    const size = entries.size;
    entries.set(key, value);
    if (entries.size > size) this.#youngEntries++;
    this.#youngChars += space.length + key.length + this.charsOf(value);
  }

  clear(): void {
    this.#young = new Map();
    this.#old = new Map();
    this.#youngEntries = 0;
    this.#youngChars = 0;
  }
}

/**
 * `prefix + value`, the same string object as the last time these two were joined (within the
 * memo's bounds). Names built per Check from a fixed prefix and a pseudonym or a policy name
 * (store entities, op names, quarantine keys) go on to key Maps; a string joined afresh must
 * be copied and hashed at each look-up, while one remembered keeps its hash, and two look-ups
 * of it compare by identity. Values longer than `maxValue` are joined every time.
 */
export class JoinedNames {
  readonly #memo: TwoGenerationCache<string>;

  constructor(
    maxEntries: number,
    private readonly maxValue = 256,
  ) {
    this.#memo = new TwoGenerationCache<string>(maxEntries, maxEntries * 80);
  }

  join(prefix: string, value: string): string {
    if (value.length > this.maxValue) return prefix + value;
    const known = this.#memo.get(value, prefix);
    if (known !== undefined) return known;
    const joined = prefix + value;
    this.#memo.set(value, joined, prefix);
    return joined;
  }
}
