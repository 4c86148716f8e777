import ipaddr from "ipaddr.js";

/**
 * A set of IPv4 and IPv6 address ranges answering "is this address in any of them?" in
 * O(log n). Ranges are merged into sorted, disjoint intervals kept in typed arrays, and a lookup
 * is one binary search: for membership this gives what a prefix trie gives (longest-prefix
 * answers are not needed, only "covered or not"), at a fraction of a trie's memory (8 bytes per
 * IPv4 interval, 32 per IPv6 interval, no per-node objects for the collector to walk).
 *
 * Written by hand: the npm registry has no widely used, maintained IP range or CIDR trie package
 * (the few that exist have a handful of users and no IPv6 or no typed storage), and Node's own
 * net.BlockList scans its rules one by one.
 */
export class RangeSet {
  private constructor(
    /** IPv4 interval starts and ends (inclusive), sorted and disjoint. */
    private readonly v4Starts: Uint32Array,
    private readonly v4Ends: Uint32Array,
    /** IPv6 intervals, four 32-bit words per address, most significant first. */
    private readonly v6Starts: Uint32Array,
    private readonly v6Ends: Uint32Array,
  ) {}

  static readonly EMPTY = new RangeSet(new Uint32Array(0), new Uint32Array(0), new Uint32Array(0), new Uint32Array(0));

  /** Disjoint intervals held (after merging overlapping and adjacent ranges). */
  get size(): number {
    return this.v4Starts.length + this.v6Starts.length / 4;
  }

  /** Bytes of the typed arrays behind the set. */
  get bytes(): number {
    return this.v4Starts.byteLength + this.v4Ends.byteLength + this.v6Starts.byteLength + this.v6Ends.byteLength;
  }

  /** True when the address (an ipaddr.js address, or its text) is in one of the ranges. */
  has(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
    if (address.kind() === "ipv4") return this.hasV4(v4Number((address as ipaddr.IPv4).octets));
    const parts = (address as ipaddr.IPv6).parts;
    if (isV4Mapped(parts)) return this.hasV4(((parts[6]! << 16) | parts[7]!) >>> 0);
    for (let i = 0; i < 4; i++) scratch[i] = ((parts[i * 2]! << 16) | parts[i * 2 + 1]!) >>> 0;
    return this.hasV6(scratch);
  }

  hasV4(value: number): boolean {
    const starts = this.v4Starts;
    let low = 0;
    let high = starts.length - 1;
    // The last interval starting at or before the value is the only one that can hold it.
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (starts[middle]! <= value) low = middle + 1;
      else high = middle - 1;
    }
    return high >= 0 && this.v4Ends[high]! >= value;
  }

  hasV6(words: ArrayLike<number>): boolean {
    const starts = this.v6Starts;
    let low = 0;
    let high = starts.length / 4 - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (compareWords(starts, middle * 4, words, 0) <= 0) low = middle + 1;
      else high = middle - 1;
    }
    return high >= 0 && compareWords(this.v6Ends, high * 4, words, 0) >= 0;
  }

  /** The typed arrays behind the set, to hand to another thread (transferable) and rebuild with fromArrays. */
  toArrays(): [Uint32Array, Uint32Array, Uint32Array, Uint32Array] {
    return [this.v4Starts, this.v4Ends, this.v6Starts, this.v6Ends];
  }

  /** A set from arrays toArrays() gave; they are checked for shape, and trusted to be sorted and disjoint. */
  static fromArrays(arrays: readonly unknown[]): RangeSet {
    const valid = arrays.length === 4 && arrays.every((array) => array instanceof Uint32Array);
    const [v4Starts, v4Ends, v6Starts, v6Ends] = arrays as Uint32Array[];
    if (!valid || v4Starts!.length !== v4Ends!.length || v6Starts!.length !== v6Ends!.length || v6Starts!.length % 4 !== 0) {
      throw new TypeError("not the arrays of a RangeSet");
    }
    return new RangeSet(v4Starts!, v4Ends!, v6Starts!, v6Ends!);
  }

  static builder(): RangeSetBuilder {
    return new RangeSetBuilder();
  }

  /** @internal used by the builder */
  static fromSorted(v4Starts: Uint32Array, v4Ends: Uint32Array, v6Starts: Uint32Array, v6Ends: Uint32Array): RangeSet {
    return new RangeSet(v4Starts, v4Ends, v6Starts, v6Ends);
  }
}

/** Collects CIDR ranges (text or parsed), then sorts and merges them once in build(). */
export class RangeSetBuilder {
  /** IPv4 ranges packed as start * 64 + host bits, so a plain numeric sort orders them (38 bits, exact in a double). */
  #v4: Float64Array = new Float64Array(1024);
  #v4Count = 0;
  #v6: { start: number[]; end: number[] }[] = [];

  get count(): number {
    return this.#v4Count + this.#v6.length;
  }

  /** Adds a CIDR or a bare address; false (and nothing added) when the text is neither. */
  addText(text: string): boolean {
    const fast = parseV4Cidr(text);
    if (fast) {
      this.addV4(fast[0], fast[1]);
      return true;
    }
    const parsed = parseAnyCidr(text);
    if (!parsed) return false;
    this.add(parsed[0], parsed[1]);
    return true;
  }

  add(address: ipaddr.IPv4 | ipaddr.IPv6, prefix: number): void {
    if (address.kind() === "ipv4") return this.addV4(v4Number((address as ipaddr.IPv4).octets), prefix);
    const v6 = address as ipaddr.IPv6;
    if (isV4Mapped(v6.parts) && prefix >= 96) return this.addV4(v4Number(v6.toIPv4Address().octets), prefix - 96);
    const start = v6Words(v6.parts);
    const end = start.slice();
    for (let bit = prefix; bit < 128; bit++) {
      const word = bit >>> 5;
      const mask = 1 << (31 - (bit & 31));
      start[word] = (start[word]! & ~mask) >>> 0;
      end[word] = (end[word]! | mask) >>> 0;
    }
    this.#v6.push({ start, end });
  }

  addV4(value: number, prefix: number): void {
    const hostBits = 32 - prefix;
    const start = hostBits === 32 ? 0 : (value >>> hostBits) * 2 ** hostBits;
    if (this.#v4Count === this.#v4.length) {
      const grown = new Float64Array(this.#v4.length * 2);
      grown.set(this.#v4);
      this.#v4 = grown;
    }
    this.#v4[this.#v4Count++] = start * 64 + hostBits;
  }

  build(): RangeSet {
    const packed = this.#v4.subarray(0, this.#v4Count).sort();
    const starts = new Uint32Array(this.#v4Count);
    const ends = new Uint32Array(this.#v4Count);
    let n = 0;
    for (const key of packed) {
      const hostBits = key % 64;
      const start = (key - hostBits) / 64;
      const end = start + 2 ** hostBits - 1;
      if (n > 0 && start <= ends[n - 1]! + 1) {
        if (end > ends[n - 1]!) ends[n - 1] = end;
      } else {
        starts[n] = start;
        ends[n] = end;
        n++;
      }
    }
    const v6 = this.#v6.sort((a, b) => compareWords(a.start, 0, b.start, 0));
    const v6Starts = new Uint32Array(v6.length * 4);
    const v6Ends = new Uint32Array(v6.length * 4);
    let m = 0;
    for (const { start, end } of v6) {
      if (m > 0 && (compareWords(start, 0, v6Ends, (m - 1) * 4) <= 0 || isSuccessor(v6Ends, (m - 1) * 4, start))) {
        if (compareWords(end, 0, v6Ends, (m - 1) * 4) > 0) v6Ends.set(end, (m - 1) * 4);
      } else {
        v6Starts.set(start, m * 4);
        v6Ends.set(end, m * 4);
        m++;
      }
    }
    return RangeSet.fromSorted(starts.slice(0, n), ends.slice(0, n), v6Starts.slice(0, m * 4), v6Ends.slice(0, m * 4));
  }
}

/** Words of the address being looked up: look-ups are synchronous, so one buffer serves them all. */
const scratch = new Uint32Array(4);

/** ::ffff:a.b.c.d, tested directly (ipaddr.js's range() walks every special range). */
function isV4Mapped(parts: number[]): boolean {
  return parts[0] === 0 && parts[1] === 0 && parts[2] === 0 && parts[3] === 0 && parts[4] === 0 && parts[5] === 0xffff;
}

function v4Number(octets: number[]): number {
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}

function v6Words(parts: number[]): number[] {
  return [0, 1, 2, 3].map((i) => ((parts[i * 2]! << 16) | parts[i * 2 + 1]!) >>> 0);
}

function compareWords(a: ArrayLike<number>, aAt: number, b: ArrayLike<number>, bAt: number): number {
  for (let i = 0; i < 4; i++) {
    const difference = a[aAt + i]! - b[bAt + i]!;
    if (difference !== 0) return difference;
  }
  return 0;
}

/** True when `next` is the address right after the one at `at` in `words`. */
function isSuccessor(words: ArrayLike<number>, at: number, next: ArrayLike<number>): boolean {
  const incremented = [words[at]!, words[at + 1]!, words[at + 2]!, words[at + 3]!];
  for (let i = 3; i >= 0; i--) {
    if (incremented[i] === 0xffffffff) {
      incremented[i] = 0;
      continue;
    }
    incremented[i] = incremented[i]! + 1;
    return compareWords(incremented, 0, next, 0) === 0;
  }
  return false;
}

/**
 * Dotted-quad IPv4 with an optional /prefix, parsed without allocating (a million-line feed
 * spends most of its load time here). Leading zeros are refused, as ipaddr.js refuses them,
 * because some tools read them as octal. Undefined for anything else (IPv6 goes the slow way).
 */
export function parseV4Cidr(text: string): [number, number] | undefined {
  let value = 0;
  let octet = -1;
  let octets = 0;
  let digits = 0;
  let i = 0;
  const length = text.length;
  for (; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      if (digits > 0 && octet === 0) return undefined;
      octet = octet < 0 ? code - 48 : octet * 10 + code - 48;
      if (octet > 255 || ++digits > 3) return undefined;
    } else if (code === 46) {
      if (octet < 0 || octets === 3) return undefined;
      value = value * 256 + octet;
      octets++;
      octet = -1;
      digits = 0;
    } else break;
  }
  if (octet < 0 || octets !== 3) return undefined;
  value = value * 256 + octet;
  if (i === length) return [value, 32];
  if (text.charCodeAt(i) !== 47) return undefined;
  const prefixText = text.slice(i + 1);
  if (!/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(prefixText)) return undefined;
  return [value, Number(prefixText)];
}

/**
 * A CIDR or bare address: IPv4 only as four decimal parts (ipaddr.js would also take "1.2.3"
 * or hexadecimal parts, which no list means), IPv6 as ipaddr.js reads it. Undefined otherwise.
 */
export function parseAnyCidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  if (!text.includes(":")) {
    const v4 = parseV4Cidr(text);
    return v4 && [ipaddr.IPv4.parse([24, 16, 8, 0].map((shift) => Math.floor(v4[0] / 2 ** shift) % 256).join(".")), v4[1]];
  }
  try {
    if (text.includes("/")) return ipaddr.IPv6.parseCIDR(text);
    return [ipaddr.IPv6.parse(text), 128];
  } catch {
    return undefined;
  }
}
