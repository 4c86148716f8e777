import { describe, expect, it, vi } from "vitest";
import { MemoryStore } from "../state/memory-store.js";
import { KEEP_UP_EVERY_MS } from "./cadence.js";
import { ExchangeTurns } from "./exchange-turns.js";

const T0 = Date.UTC(2026, 11, 7, 12);
const MINUTE = 60_000;

/** A replica publishing non-empty evidence at each of its turns, as a busy detector does; `keepAt` is the keeper's look. */
function replica(store: MemoryStore): { turns: ExchangeTurns; checkAt: (timeMs: number) => Promise<void>; keepAt: (timeMs: number) => Promise<void> } {
  const turns = new ExchangeTurns(store);
  const at = async (timeMs: number, ahead: boolean) => {
    await turns.maybe(timeMs, (exchange) => exchange("site", { name: "test", replica: turns.replica, evidence: "seen", ttlMs: 5_000 }, timeMs).then(() => {}), ahead);
  };
  return { turns, checkAt: (timeMs) => at(timeMs, false), keepAt: (timeMs) => at(timeMs, true) };
}

type Replica = ReturnType<typeof replica>;

/**
 * Replicas sharing one memory store, and the count of Store.exchange calls each makes when
 * `checking` replicas see a Check every 50 ms of event time from `fromMs` to `toMs`.
 */
function fleet(count: number): { replicas: Replica[]; join: () => Replica; calls: (checking: Replica[], fromMs: number, toMs: number) => Promise<number[]> } {
  const store = new MemoryStore();
  const spy = vi.spyOn(store, "exchange");
  const replicas = Array.from({ length: count }, () => replica(store));
  const calls = async (checking: Replica[], fromMs: number, toMs: number) => {
    spy.mockClear();
    for (let t = fromMs; t < toMs; t += 50) for (const { checkAt } of checking) await checkAt(T0 + t);
    const published = spy.mock.calls.map(([, publication]) => publication.replica);
    return checking.map(({ turns }) => published.filter((name) => name === turns.replica).length);
  };
  return { replicas, join: () => replica(store), calls };
}

describe("ExchangeTurns, the pace of a replica's exchanges", () => {
  it("exchanges four times a second at first, and every two seconds once it has heard no other replica for ten", async () => {
    const { replicas, calls } = fleet(1);
    expect(await calls(replicas, 0, 10_000)).toEqual([40]);
    expect(await calls(replicas, 10_000, 10_000 + MINUTE)).toEqual([30]);
  });

  it("keeps replicas that hear each other at four times a second", async () => {
    const { replicas, calls } = fleet(2);
    expect(await calls(replicas, 0, 2 * MINUTE)).toEqual([480, 480]);
  });

  it("returns a lone replica to full pace within its next turn after another replica joins", async () => {
    const { replicas, join, calls } = fleet(1);
    // Forty turns in the first ten seconds, then one every two seconds: it had backed off.
    expect(await calls(replicas, 0, MINUTE)).toEqual([65]);
    const both = [replicas[0]!, join()];
    // Within the lone replica's two seconds both hear each other; from then on both exchange four times a second.
    await calls(both, MINUTE, MINUTE + 2_000);
    expect(await calls(both, MINUTE + 2_000, 2 * MINUTE + 2_000)).toEqual([240, 240]);
  });

  it("backs off again once the other replicas stop publishing", async () => {
    const { replicas, calls } = fleet(2);
    await calls(replicas, 0, MINUTE);
    // The second stops (its publication lapses after five seconds); the first is alone ten seconds after it last heard it.
    expect(await calls([replicas[0]!], MINUTE + 20_000, 2 * MINUTE + 20_000)).toEqual([30]);
  });

  it("taken by the keeper while no Check comes, so that a first Check finds none due whenever it comes", async () => {
    for (let arrivesMs = 2_000; arrivesMs < 2_400; arrivesMs += 7) {
      const store = new MemoryStore();
      const spy = vi.spyOn(store, "exchange");
      const { checkAt, keepAt } = replica(store);
      // Looks every KEEP_UP_EVERY_MS, each up to 40 ms late (a busy event loop).
      for (let k = 0, t = 0; t <= arrivesMs; k++, t = k * KEEP_UP_EVERY_MS + ((k * 17) % 40)) await keepAt(T0 + t);
      const kept = spy.mock.calls.length;
      await checkAt(T0 + arrivesMs);
      expect(kept).toBeGreaterThan(0);
      expect(spy).toHaveBeenCalledTimes(kept);
    }
  });

  it("left to the Checks while they come: the keeper takes none and the Checks' pace is unchanged", async () => {
    const store = new MemoryStore();
    const spy = vi.spyOn(store, "exchange");
    const { checkAt, keepAt } = replica(store);
    let keeper = 0;
    for (let t = 0; t < 10_000; t += 50) {
      await checkAt(T0 + t);
      const before = spy.mock.calls.length;
      await keepAt(T0 + t + 25);
      keeper += spy.mock.calls.length - before;
    }
    expect(keeper).toBe(0);
    expect(spy).toHaveBeenCalledTimes(40);
  });
});
