import { LRUCache } from "lru-cache";
import type { Store } from "../state/store.js";

/**
 * Each challenge may be solved once. A solution is claimed by its challenge's nonce: first in
 * this replica's memory (a replay to the same replica costs nothing), then in the shared
 * store, so a solution replayed to another replica is refused too when Redis is used.
 */
export class SolutionClaims {
  readonly #store: Store;
  readonly #local: LRUCache<string, true>;

  constructor(store: Store, maxLocal = 100_000) {
    this.#store = store;
    this.#local = new LRUCache({ max: maxLocal, ttlAutopurge: false });
  }

  /**
   * True the first time `nonce` is claimed while its challenge is alive (`lifetimeMs` long).
   * In the store it is a sliding window with a limit of one and the challenge's lifetime as
   * its window: the previous window still counts until a whole lifetime has passed since the
   * claim, by which time the challenge has expired anyway.
   */
  async claim(nonce: string, lifetimeMs: number, nowMs: number): Promise<boolean> {
    if (this.#local.has(nonce)) return false;
    this.#local.set(nonce, true, { ttl: lifetimeMs });
    const op = { op: "window.take" as const, name: "solution", windowMs: lifetimeMs, algorithm: "sliding" as const, limit: 1, amount: 1 };
    const [before] = await this.#store.apply(`challenge.${nonce}`, [op], nowMs);
    return (before ?? 0) + 1 <= 1;
  }
}
