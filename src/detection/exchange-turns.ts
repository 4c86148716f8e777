import { randomUUID } from "node:crypto";
import type { Store } from "../state/store.js";

type Exchange = NonNullable<Store["exchange"]>;

/**
 * How often a replica exchanges a detector's evidence: four times as often as the site-wide
 * merge, because the cohorts' walk band and the rhythm are judged on each request, against the
 * others' requests as of their last publication. Once a second left the sweep's sequential walk
 * by sessions 151 ids with three replicas, every quarter second 64, on seed 1 (land: 308;
 * docs/cohorts.md, several replicas).
 */
const EXCHANGE_EVERY_MS = 250;

/**
 * One replica's turns at `Store.exchange()` for one detector: at most one every EXCHANGE_EVERY_MS
 * of event time, started by the Check that finds it due, never two at once (no Check starts another
 * while one is under way), none where the store does not exchange.
 */
export class ExchangeTurns {
  readonly #exchange: Exchange | undefined;
  /** This replica's name among those that exchange through the store. */
  readonly replica = randomUUID();
  #lastMs = 0;
  #running: Promise<void> | undefined;

  constructor(store: Pick<Store, "exchange"> | undefined) {
    this.#exchange = store?.exchange?.bind(store);
  }

  /** Whether replicas exchange through the store at all. */
  get shared(): boolean {
    return this.#exchange !== undefined;
  }

  /** Runs `turn` with the store's exchange when one is due at `nowMs`; its promise, else undefined. */
  maybe(nowMs: number, turn: (exchange: Exchange) => Promise<void>): Promise<void> | undefined {
    const exchange = this.#exchange;
    if (!exchange || this.#running || nowMs - this.#lastMs < EXCHANGE_EVERY_MS) return undefined;
    this.#lastMs = nowMs;
    this.#running = turn(exchange).finally(() => (this.#running = undefined));
    return this.#running;
  }
}
