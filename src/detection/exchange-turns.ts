import { randomUUID } from "node:crypto";
import type { Store } from "../state/store.js";
import { Cadence } from "./cadence.js";

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
 * A replica that has heard no other replica's publication for this long takes it that it is
 * alone: nobody reads what it publishes, and four encodings, writes and read-backs a second
 * buy nothing (in the live replay a lone server spent about 40 µs of JavaScript a Check on
 * them, and about as much writing them to Redis; BENCHMARKS.md). A new replica starts at full
 * pace for as long.
 */
const ALONE_AFTER_MS = 10_000;
/**
 * A lone replica's pace: below the shortest retention of a publication (the rhythm's five
 * seconds), so its field never lapses and a replica that joins hears it at its first exchange,
 * and it hears the newcomer at its next one, at most this late, and returns to full pace.
 */
const ALONE_EVERY_MS = 2_000;

/**
 * One replica's turns at `Store.exchange()` for one detector: at most one every EXCHANGE_EVERY_MS
 * of event time (ALONE_EVERY_MS while no other replica is heard), started by the Check that
 * finds it due (or, while no Check asks, by the keeper a little ahead of time: cadence.ts), never
 * two at once (no Check starts another while one is under way), none where the store does not
 * exchange.
 */
export class ExchangeTurns {
  readonly #exchange: Exchange | undefined;
  /** This replica's name among those that exchange through the store. */
  readonly replica = randomUUID();
  readonly #cadence = new Cadence();
  /** When another replica's publication last came back (at first, the first turn's time). */
  #heardMs: number | undefined;
  #running: Promise<void> | undefined;

  constructor(store: Pick<Store, "exchange"> | undefined) {
    this.#exchange = store?.exchange?.bind(store);
  }

  /** Whether replicas exchange through the store at all. */
  get shared(): boolean {
    return this.#exchange !== undefined;
  }

  /**
   * Runs `turn` with the store's exchange when one is due at `nowMs`; its promise, else undefined.
   * `ahead`: the keeper's call, which runs it only while no Check asks and a little ahead of time
   * (Cadence.dueAhead).
   */
  maybe(nowMs: number, turn: (exchange: Exchange) => Promise<void>, ahead = false): Promise<void> | undefined {
    const exchange = this.#exchange;
    if (!exchange) return undefined;
    this.#heardMs ??= nowMs;
    const every = nowMs - this.#heardMs > ALONE_AFTER_MS ? ALONE_EVERY_MS : EXCHANGE_EVERY_MS;
    const busy = this.#running !== undefined;
    if (!(ahead ? this.#cadence.dueAhead(nowMs, every, busy) : this.#cadence.due(nowMs, every, busy))) return undefined;
    const listening: Exchange = async (entity, publication, atMs) => {
      const others = await exchange(entity, publication, atMs);
      if (others.length > 0) this.#heardMs = Math.max(this.#heardMs ?? atMs, atMs);
      return others;
    };
    this.#running = turn(listening).finally(() => (this.#running = undefined));
    return this.#running;
  }
}
