import { describe, expect, it, vi } from "vitest";
import { MemoryStore } from "../state/memory-store.js";
import { ExchangeTurns } from "./exchange-turns.js";

const T0 = Date.UTC(2026, 11, 7, 12);
const MINUTE = 60_000;

/** A replica publishing non-empty evidence at each of its turns, as a busy detector does. */
function replica(store: MemoryStore): { turns: ExchangeTurns; checkAt: (timeMs: number) => Promise<void> } {
  const turns = new ExchangeTurns(store);
  const checkAt = async (timeMs: number) => {
    await turns.maybe(timeMs, async (exchange) => {
      await exchange("site", { name: "test", replica: turns.replica, evidence: "seen", ttlMs: 5_000 }, timeMs);
    });
  };
  return { turns, checkAt };
}

/** Store.exchange calls made by each replica's Checks every 50 ms of event time from `fromMs` to `toMs`, counted per replica name. */
async function callsPerReplica(spy: ReturnType<typeof vi.spyOn>, checks: Array<(timeMs: number) => Promise<void>>, fromMs: number, toMs: number): Promise<Map<string, number>> {
  spy.mockClear();
  for (let t = fromMs; t < toMs; t += 50) for (const checkAt of checks) await checkAt(T0 + t);
  const calls = new Map<string, number>();
  for (const [, publication] of spy.mock.calls as Array<[string, { replica: string }]>) calls.set(publication.replica, (calls.get(publication.replica) ?? 0) + 1);
  return calls;
}

describe("ExchangeTurns, the pace of a replica's exchanges", () => {
  it("exchanges four times a second at first, and every two seconds once it has heard no other replica for ten", async () => {
    const store = new MemoryStore();
    const spy = vi.spyOn(store, "exchange");
    const lone = replica(store);
    const first = await callsPerReplica(spy, [lone.checkAt], 0, 10_000);
    expect(first.get(lone.turns.replica)).toBe(40);
    const later = await callsPerReplica(spy, [lone.checkAt], 10_000, 10_000 + MINUTE);
    expect(later.get(lone.turns.replica)).toBe(30);
  });

  it("keeps replicas that hear each other at four times a second", async () => {
    const store = new MemoryStore();
    const spy = vi.spyOn(store, "exchange");
    const a = replica(store);
    const b = replica(store);
    const calls = await callsPerReplica(spy, [a.checkAt, b.checkAt], 0, 2 * MINUTE);
    expect(calls.get(a.turns.replica)).toBe(480);
    expect(calls.get(b.turns.replica)).toBe(480);
  });

  it("returns a lone replica to full pace within its next turn after another replica joins", async () => {
    const store = new MemoryStore();
    const spy = vi.spyOn(store, "exchange");
    const lone = replica(store);
    await callsPerReplica(spy, [lone.checkAt], 0, MINUTE);
    const joining = replica(store);
    // Within the lone replica's two seconds both hear each other; from then on both exchange four times a second.
    await callsPerReplica(spy, [lone.checkAt, joining.checkAt], MINUTE, MINUTE + 2_000);
    const after = await callsPerReplica(spy, [lone.checkAt, joining.checkAt], MINUTE + 2_000, 2 * MINUTE + 2_000);
    expect(after.get(lone.turns.replica)).toBe(240);
    expect(after.get(joining.turns.replica)).toBe(240);
  });

  it("backs off again once the other replicas stop publishing", async () => {
    const store = new MemoryStore();
    const spy = vi.spyOn(store, "exchange");
    const a = replica(store);
    const b = replica(store);
    await callsPerReplica(spy, [a.checkAt, b.checkAt], 0, MINUTE);
    // b stops (its publication lapses after five seconds); a is alone ten seconds after it last heard b.
    const alone = await callsPerReplica(spy, [a.checkAt], MINUTE + 20_000, 2 * MINUTE + 20_000);
    expect(alone.get(a.turns.replica)).toBe(30);
  });
});
