import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus, xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

/**
 * Seeded randomness for the traffic generator: the same seed gives the same bytes, which is
 * what makes a generated file a reproducible test fixture. Every actor gets its own stream
 * (`fork`), so adding an attack to a scenario does not reshuffle the legitimate users.
 */
export class Random {
  readonly #rng: RandomGenerator;

  constructor(seed: number | RandomGenerator) {
    this.#rng = typeof seed === "number" ? xoroshiro128plus(seed) : seed;
  }

  /**
   * An independent stream, at any depth of forks of forks: its 128-bit state is two 64-bit words
   * drawn from this stream and scrambled by SplitMix64. (Jumping 2^64 draws ahead cannot nest: a
   * fork's own fork landed where its parent had jumped to, and both drew the same numbers.) A
   * scrambled state is as good as a random point on xoroshiro128+'s cycle of 2^128 - 1 states, so
   * n streams of at most L draws overlap with chance below n²·L / 2^128: under 10^-20 for a
   * million forks of a million draws each.
   */
  fork(): Random {
    const [high0, low0] = splitMix64(this.#word(), this.#word());
    const [high1, low1] = splitMix64(this.#word(), this.#word());
    // The all-zero state, the one xoroshiro cannot leave, needs two exact draws: chance 2^-128.
    return new Random(xoroshiro128plusFromState([high0, low0, high1, low1]));
  }

  /** 32 raw bits. */
  #word(): number {
    return this.#rng.next() >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return uniformInt(this.#rng, 0, 0x3fffffff) / 0x40000000;
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return uniformInt(this.#rng, min, max);
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.int(0, items.length - 1)]!;
  }

  /** Picks by relative weight. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((sum, [, weight]) => sum + weight, 0);
    let draw = this.float() * total;
    for (const [item, weight] of items) {
      draw -= weight;
      if (draw < 0) return item;
    }
    return items[items.length - 1]![0];
  }

  /** Gaps between events of a Poisson process with this mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  /** Human think times are log-normal: mostly short, with a long tail of distraction. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** Standard normal by Box-Muller. */
  normal(): number {
    const u = 1 - this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** Lower-case hex, for ids and cookies. */
  hex(length: number): string {
    let text = "";
    while (text.length < length) text += this.int(0, 0xffff).toString(16).padStart(4, "0");
    return text.slice(0, length);
  }
}

const MASK_64 = (1n << 64n) - 1n;

/**
 * SplitMix64's output function for the 64-bit word high:low (Steele, Lea and Flood, "Fast
 * splittable pseudorandom number generators", 2014), as the xoroshiro authors recommend for
 * seeding: a bijection, so distinct draws give distinct states, that spreads every input bit over
 * the whole word. Returns the high and low halves as signed 32-bit integers, pure-rand's layout.
 */
function splitMix64(high: number, low: number): [number, number] {
  let z = ((BigInt(high) << 32n) + BigInt(low) + 0x9e3779b97f4a7c15n) & MASK_64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
  z ^= z >> 31n;
  return [Number(BigInt.asIntN(32, z >> 32n)), Number(BigInt.asIntN(32, z))];
}
