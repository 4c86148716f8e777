import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { JumpableRandomGenerator } from "pure-rand/types/JumpableRandomGenerator";

/**
 * Seeded randomness for the traffic generator: the same seed gives the same bytes, which is
 * what makes a generated file a reproducible test fixture. Every actor gets its own stream
 * (`fork`), so adding an attack to a scenario does not reshuffle the legitimate users.
 */
export class Random {
  readonly #rng: JumpableRandomGenerator;

  constructor(seed: number | JumpableRandomGenerator) {
    this.#rng = typeof seed === "number" ? xoroshiro128plus(seed) : seed;
  }

  /**
   * An independent stream: the fork takes this stream as it is and this one jumps 2^64 draws
   * ahead, so no two forks ever overlap.
   */
  fork(): Random {
    const forked = new Random(this.#rng.clone());
    this.#rng.jump();
    return forked;
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
