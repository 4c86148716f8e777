/**
 * A HyperLogLog that is register-for-register the one of Redis (≥ 5): the same hash
 * (MurmurHash64A of the member's UTF-8 bytes, seed 0xadc83b19), the same precision (p = 14,
 * 16,384 registers) and the same estimator (Ertl's improved raw estimator, as in Redis'
 * `hllCount`). So the memory store counts exactly what PFADD/PFCOUNT count for the same members:
 * exact in practice for small counts (it degenerates to linear counting, and two members rarely
 * share a register), and a standard error of 1.04/√16384 ≈ 0.81% for large ones.
 *
 * Storage follows Redis' idea too: sparse while few registers are set (a Map of register →
 * rank, about 30 bytes per set register), dense (16 KB, one byte per register) beyond
 * `SPARSE_MAX_REGISTERS`. The representation never changes the count, only the memory.
 */

import { TwoGenerationCache } from "../domain/two-generation-cache.js";

export const HLL_PRECISION = 14;
export const HLL_REGISTERS = 1 << HLL_PRECISION;
/** Bits of the hash left after the register index; a rank is at most Q + 1. */
const HLL_Q = 64 - HLL_PRECISION;
/** 0.5 / ln 2, the α∞ of Ertl's estimator: the double nearest Redis' 0.721347520444481703680. */
const HLL_ALPHA_INF = 0.7213475204444817;
/**
 * Above this many set registers a sketch goes dense: measured, a Map of 512 small integers
 * costs about 14 KB of heap, as much as the 16 KB register array.
 */
export const SPARSE_MAX_REGISTERS = 512;
/** Heap bytes of a sketch besides its registers (object, Map or typed-array headers, the kept union histogram). */
const SKETCH_OVERHEAD_BYTES = 500;
/** Measured heap bytes per entry of the sparse Map (small integer keys and values). */
const SPARSE_BYTES_PER_REGISTER = 32;

export class HyperLogLog {
  /** Register index → rank, for the registers that are not 0; undefined once dense. */
  #sparse: Map<number, number> | undefined = new Map();
  #dense: Uint8Array | undefined;
  /** Bumped whenever a register rises, so a count can be reused until the sketch changes. */
  #version = 0;
  /**
   * The rank histogram of this sketch's union with one other (the window's previous bucket) or
   * alone, kept up to date as registers rise. A dense union walks 16,384 registers; a hot key
   * (one fingerprint shared by a whole campaign, a busy endpoint's clients) would pay that on
   * every request although one add moves at most one register. With the histogram kept, an add
   * moves one count between two ranks and a count is the estimator over 52 numbers. Valid while
   * both sketches are at the versions it records; otherwise the next count rebuilds it.
   */
  #union: { other: HyperLogLog | undefined; version: number; otherVersion: number; histogram: number[]; count: number | undefined } | undefined;

  /** Adds a member; like PFADD, adding one already counted changes nothing. */
  add(member: string): void {
    const packed = packedUpdate(member);
    const register = packed >>> RANK_BITS;
    const rank = packed & RANK_MASK;
    if (this.#dense) {
      const before = this.#dense[register]!;
      if (rank <= before) return;
      this.#dense[register] = rank;
      this.#raised(register, before, rank);
      return;
    }
    const sparse = this.#sparse!;
    const before = sparse.get(register) ?? 0;
    if (rank <= before) return;
    sparse.set(register, rank);
    this.#raised(register, before, rank);
    if (sparse.size > SPARSE_MAX_REGISTERS) this.#becomeDense(sparse);
  }

  /** One register rose: the union's register is the larger of this one and the other's. */
  #raised(register: number, before: number, after: number): void {
    const union = this.#union;
    if (union && union.version === this.#version && (union.other ? union.other.#version : 0) === union.otherVersion) {
      const other = union.other ? union.other.#register(register) : 0;
      const was = before > other ? before : other;
      const is = after > other ? after : other;
      if (is !== was) {
        union.histogram[was]!--;
        union.histogram[is]!++;
        union.count = undefined;
      }
      union.version = this.#version + 1;
    }
    this.#version++;
  }

  #register(register: number): number {
    return this.#dense ? this.#dense[register]! : (this.#sparse!.get(register) ?? 0);
  }

  /** Estimated distinct members added, like PFCOUNT of one key. */
  count(): number {
    return HyperLogLog.countUnion([this]);
  }

  /** Estimated distinct members of the union of the sketches, like PFCOUNT of several keys. */
  static countUnion(sketches: readonly HyperLogLog[]): number {
    if (sketches.length === 0 || sketches.length > 2) return estimateCardinality(HyperLogLog.#unionHistogram(sketches));
    return HyperLogLog.countPair(sketches[0]!, sketches[1]);
  }

  /**
   * countUnion() of `first` and, when given, `other` (a window's current and previous bucket),
   * without an array to pass them in: the memory store counts two buckets on most of its ops.
   */
  static countPair(first: HyperLogLog, other: HyperLogLog | undefined): number {
    const otherVersion = other ? other.#version : 0;
    let union = first.#union;
    if (!union || union.other !== other || union.version !== first.#version || union.otherVersion !== otherVersion) {
      union = { other, version: first.#version, otherVersion, histogram: HyperLogLog.#unionHistogram(other ? [first, other] : [first]), count: undefined };
      first.#union = union;
    }
    return (union.count ??= estimateCardinality(union.histogram));
  }

  static #unionHistogram(sketches: readonly HyperLogLog[]): number[] {
    const anyDense = sketches.some((sketch) => sketch.#dense !== undefined);
    return anyDense ? HyperLogLog.#denseUnionHistogram(sketches) : HyperLogLog.#sparseUnionHistogram(sketches);
  }

  /** An upper estimate of the heap this sketch holds, for the memory store's byte bound. */
  get approximateBytes(): number {
    if (this.#dense) return SKETCH_OVERHEAD_BYTES + this.#dense.byteLength;
    return SKETCH_OVERHEAD_BYTES + this.#sparse!.size * SPARSE_BYTES_PER_REGISTER;
  }

  get isDense(): boolean {
    return this.#dense !== undefined;
  }

  #becomeDense(sparse: Map<number, number>): void {
    const dense = new Uint8Array(HLL_REGISTERS);
    sparse.forEach((rank, register) => void (dense[register] = rank));
    this.#dense = dense;
    this.#sparse = undefined;
  }

  /**
   * How many registers of the union hold each rank (index 0: never set), where a register of
   * the union is the largest of the sketches' ones. Small unions stay sparse: cheap to count.
   * Counted straight from the sketches' Maps, each register of the union once (with the first
   * sketch that holds it), without building the union as a Map of its own: a count is rebuilt
   * whenever a new bucket's sketch is first counted, and that Map was most of what the memory
   * store allocated per replayed event.
   */
  static #sparseUnionHistogram(sketches: readonly HyperLogLog[]): number[] {
    const histogram = emptyHistogram();
    let set = 0;
    for (let i = 0; i < sketches.length; i++) {
      sketches[i]!.#sparse!.forEach((rank, register) => {
        for (let earlier = 0; earlier < i; earlier++) if (sketches[earlier]!.#sparse!.has(register)) return;
        let union = rank;
        for (let later = i + 1; later < sketches.length; later++) {
          const other = sketches[later]!.#sparse!.get(register);
          if (other !== undefined && other > union) union = other;
        }
        histogram[union]!++;
        set++;
      });
    }
    histogram[0] = HLL_REGISTERS - set;
    return histogram;
  }

  /**
   * As `#sparseUnionHistogram`, over a register array: some 50 µs for two dense sketches, about
   * what Redis spends on a PFCOUNT of two dense keys.
   */
  static #denseUnionHistogram(sketches: readonly HyperLogLog[]): number[] {
    const dense = sketches.filter((sketch) => sketch.#dense !== undefined).map((sketch) => sketch.#dense!);
    const union = unionScratch;
    union.set(dense[0]!); // copying the first is twice as fast as raising zeros to it
    for (const registers of dense.slice(1)) raiseRegisters(union, registers);
    for (const sketch of sketches) {
      sketch.#sparse?.forEach((rank, register) => void (union[register] = Math.max(union[register]!, rank)));
    }
    return histogramOf(union);
  }
}

/** How many registers hold each rank. */
function histogramOf(registers: Uint8Array): number[] {
  const histogram = emptyHistogram();
  for (let register = 0; register < registers.length; register++) histogram[registers[register]!]!++;
  return histogram;
}

/**
 * The register array of a dense union, reused by every count: allocating 16 KB costs as much as
 * the count itself, and a count runs synchronously, so two never share it.
 */
const unionScratch = new Uint8Array(HLL_REGISTERS);

/** `union[i] = max(union[i], registers[i])` for every register. */
function raiseRegisters(union: Uint8Array, registers: Uint8Array): void {
  for (let register = 0; register < union.length; register++) {
    const rank = registers[register]!;
    const current = union[register]!;
    union[register] = rank > current ? rank : current;
  }
}

/**
 * One slot per possible rank, 0 to Q + 1. A plain array, not an Int32Array: a count of a sparse sketch allocates one, and a small typed
 * array costs several times as much to create (1.3% of replay's CPU was this line). The counts
 * stay below 2^14, well inside the small integers V8 keeps unboxed.
 */
function emptyHistogram(): number[] {
  return ZERO_HISTOGRAM.slice();
}

/** Copied rather than filled: a copy of a packed array of small integers is one block move. */
const ZERO_HISTOGRAM: readonly number[] = new Array<number>(HLL_Q + 2).fill(0);

/**
 * Ertl's improved raw estimator ("New cardinality estimation algorithms for HyperLogLog
 * sketches", 2017), a line-by-line port of Redis' `hllCount`, so both round the same way.
 */
export function estimateCardinality(histogram: ArrayLike<number>): number {
  const m = HLL_REGISTERS;
  let z = m * tau((m - histogram[HLL_Q + 1]!) / m);
  for (let rank = HLL_Q; rank >= 1; rank--) {
    z += histogram[rank]!;
    z *= 0.5;
  }
  z += m * sigma(histogram[0]! / m);
  return Math.round((HLL_ALPHA_INF * m * m) / z);
}

/** Redis' `hllSigma`: the correction for registers never set. */
function sigma(x: number): number {
  if (x === 1) return Number.POSITIVE_INFINITY;
  let y = 1;
  let z = x;
  let previous: number;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (previous !== z);
  return z;
}

/** Redis' `hllTau`: the correction for registers at the largest rank. */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let previous: number;
  do {
    x = Math.sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y; // C's pow(1 - x, 2): a correctly rounded square either way
  } while (previous !== z);
  return z / 3;
}

/**
 * The register a member updates and the rank it offers, as Redis' `hllPatLen`: the low 14 bits
 * of the hash pick the register; the rank is 1 + the number of trailing zero bits of the rest
 * (at most Q + 1, since bit Q is forced to 1).
 */
export function registerUpdate(member: string): { register: number; rank: number } {
  const packed = packedUpdate(member);
  return { register: packed >>> RANK_BITS, rank: packed & RANK_MASK };
}

/** A rank is at most Q + 1 = 51: six bits, below the register index. */
const RANK_BITS = 6;
const RANK_MASK = (1 << RANK_BITS) - 1;

/**
 * registerUpdate() of members hashed before, packed as `register << 6 | rank`. The members of a
 * replay or a busy replica repeat (the same pseudonyms, paths and resources are counted under
 * many keys and windows); a Map look-up of a string whose hash V8 keeps is a fraction of
 * encoding it and running MurmurHash64A. Bounded like the pseudonyms' memo; members longer
 * than MAX_REMEMBERED_MEMBER are hashed every time.
 */
const UPDATES = new TwoGenerationCache<number>(50_000, 2_000_000, () => 1);
const MAX_REMEMBERED_MEMBER = 256;

function packedUpdate(member: string): number {
  if (member.length > MAX_REMEMBERED_MEMBER) return hashedUpdate(member);
  const known = UPDATES.get(member);
  if (known !== undefined) return known;
  const packed = hashedUpdate(member);
  UPDATES.set(member, packed);
  return packed;
}

function hashedUpdate(member: string): number {
  murmurHash64A(utf8(member));
  const hi = hashHi;
  const lo = hashLo;
  const register = lo & (HLL_REGISTERS - 1);
  // The hash shifted right by 14: bits 14–45 in `low`, bits 46–63 and the forced bit Q in `high`.
  const low = ((lo >>> HLL_PRECISION) | (hi << (32 - HLL_PRECISION))) >>> 0;
  if (low !== 0) return (register << RANK_BITS) | (trailingZeros32(low) + 1);
  const high = ((hi >>> HLL_PRECISION) | (1 << (HLL_Q - 32))) >>> 0;
  return (register << RANK_BITS) | (32 + trailingZeros32(high) + 1);
}

function trailingZeros32(value: number): number {
  return 31 - Math.clz32(value & -value);
}

/** Members are short (pseudonyms, paths); their UTF-8 bytes go to one reused buffer, not a new one each. */
const scratch = Buffer.allocUnsafe(1024);

function utf8(member: string): Uint8Array {
  // Three bytes per UTF-16 unit at most: a member that might not fit gets a buffer of its own.
  if (member.length * 3 > scratch.length) return Buffer.from(member, "utf8");
  return scratch.subarray(0, scratch.write(member, 0, "utf8"));
}

/** MurmurHash64A's multiplier 0xc6a4a7935bd1e995 in 32-bit halves. */
const M_HI = 0xc6a4a793;
const M_LO = 0x5bd1e995;
/** The seed Redis hashes HyperLogLog members with (its high half is 0). */
const REDIS_HLL_SEED = 0xadc83b19;

/** The 64-bit state as two unsigned 32-bit halves: numbers, not BigInts, so a hash allocates nothing. */
let hashHi = 0;
let hashLo = 0;

/** (hi, lo) × M modulo 2^64, into hashHi/hashLo. The low halves' full product is built from 16-bit limbs so no double loses a bit. */
function timesM(hi: number, lo: number): void {
  const a0 = lo & 0xffff;
  const a1 = lo >>> 16;
  const b0 = M_LO & 0xffff;
  const b1 = M_LO >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  hashLo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const carry = p11 + Math.floor(p01 / 0x10000) + Math.floor(p10 / 0x10000) + Math.floor(mid / 0x10000);
  hashHi = (carry + Math.imul(hi, M_LO) + Math.imul(lo, M_HI)) >>> 0;
}

/** h ^= h >> 47 on (hashHi, hashLo). */
function xorShift47(): void {
  hashLo = (hashLo ^ (hashHi >>> 15)) >>> 0;
}

/**
 * MurmurHash64A (Austin Appleby), as in Redis' hyperloglog.c on a little-endian machine: the
 * input is read as little-endian 64-bit blocks, then a tail of up to 7 bytes. Written by hand
 * on 32-bit halves (no library offers this variant with Redis' seed); the result is left in
 * hashHi/hashLo.
 */
function murmurHash64A(bytes: Uint8Array): void {
  const length = bytes.length;
  timesM(0, length);
  let hi = hashHi;
  let lo = (hashLo ^ REDIS_HLL_SEED) >>> 0;
  const tailStart = length - (length & 7);
  for (let offset = 0; offset < tailStart; offset += 8) {
    const kLo = (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
    const kHi = (bytes[offset + 4]! | (bytes[offset + 5]! << 8) | (bytes[offset + 6]! << 16) | (bytes[offset + 7]! << 24)) >>> 0;
    timesM(kHi, kLo); // k *= m
    xorShift47(); // k ^= k >> r
    timesM(hashHi, hashLo); // k *= m
    hashHi = (hi ^ hashHi) >>> 0; // h ^= k
    hashLo = (lo ^ hashLo) >>> 0;
    timesM(hashHi, hashLo); // h *= m
    hi = hashHi;
    lo = hashLo;
  }
  if (tailStart < length) {
    for (let i = length - 1; i >= tailStart; i--) {
      const shift = 8 * (i - tailStart);
      if (shift < 32) lo = (lo ^ (bytes[i]! << shift)) >>> 0;
      else hi = (hi ^ (bytes[i]! << (shift - 32))) >>> 0;
    }
    timesM(hi, lo);
    hi = hashHi;
    lo = hashLo;
  }
  hashHi = hi;
  hashLo = lo;
  xorShift47();
  timesM(hashHi, hashLo);
  xorShift47();
}
