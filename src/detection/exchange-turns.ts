import { randomUUID } from "node:crypto";
import type { Store } from "../state/store.js";

type Exchange = NonNullable<Store["exchange"]>;

/**
 * One replica's turns at `Store.exchange()` for one detector: at most one every `everyMs` of
 * event time, started by the Check that finds it due, never two at once (no Check starts another
 * while one is under way), none where the store does not exchange.
 */
export class ExchangeTurns {
  readonly #exchange: Exchange | undefined;
  readonly #everyMs: number;
  /** This replica's name among those that exchange through the store. */
  readonly replica = randomUUID();
  #lastMs = 0;
  #running: Promise<void> | undefined;

  constructor(store: Pick<Store, "exchange"> | undefined, everyMs: number) {
    this.#exchange = store?.exchange?.bind(store);
    this.#everyMs = everyMs;
  }

  /** Whether replicas exchange through the store at all. */
  get shared(): boolean {
    return this.#exchange !== undefined;
  }

  /** Runs `turn` with the store's exchange when one is due at `nowMs`; its promise, else undefined. */
  maybe(nowMs: number, turn: (exchange: Exchange) => Promise<void>): Promise<void> | undefined {
    const exchange = this.#exchange;
    if (!exchange || this.#running || nowMs - this.#lastMs < this.#everyMs) return undefined;
    this.#lastMs = nowMs;
    this.#running = turn(exchange).finally(() => (this.#running = undefined));
    return this.#running;
  }
}
