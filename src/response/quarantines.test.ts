import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, responsePolicy, type EngineHarness } from "../../test/support/response.js";
import { MemorySharedBackend, type SharedBackend } from "../state/shared-backend.js";
import type { SharedMapStore } from "../state/shared-map.js";
import { StoreUnavailableError } from "../state/store.js";
import { quarantineDurationMs } from "./quarantine-record.js";

const escalation = { factor: 2, maxMs: 60 * 60_000, memoryMs: 7 * 86_400_000 };
const MINUTE = 60_000;

describe("quarantineDurationMs", () => {
  it.each([
    [1, 15 * MINUTE],
    [2, 30 * MINUTE],
    [3, 60 * MINUTE],
    [9, 60 * MINUTE],
  ])("offence %i lasts %i ms (base 15m, ×2, capped at 1h)", (offence, expected) => {
    expect(quarantineDurationMs(15 * MINUTE, offence, escalation)).toBe(expected);
  });
  it("caps a base longer than the cap", () => expect(quarantineDurationMs(2 * 60 * MINUTE, 1, escalation)).toBe(60 * MINUTE));
});

let h: EngineHarness;
afterEach(async () => h?.stop());

describe("quarantines through the pipeline (one replica, memory)", () => {
  it("creates one on a quarantine rule, enforces it from the local copy, and records it", async () => {
    h = await engineHarness();
    const first = (await h.check("/trap", "192.0.2.1")).decision;
    expect(first).toMatchObject({ action: "quarantine", rule: "trap", retryAfterSeconds: 60 });
    expect(first.reasons).toContainEqual(expect.objectContaining({ code: "quarantine.imposed", value: 1 }));
    // Every later request of that IP, on any endpoint, is held without detection.
    const held = (await h.check("/search", "192.0.2.1", {}, h.clock.now + 30_000)).decision;
    expect(held).toMatchObject({ action: "quarantine", rule: "trap", risk: 100, retryAfterSeconds: 30 });
    expect(held.reasons.map((r) => r.code)).toEqual(["quarantine.active"]);
    expect((await h.check("/search", "192.0.2.2")).decision.action).toBe("allow");
    // Expiry is on event time.
    expect((await h.check("/search", "192.0.2.1", {}, h.clock.now + 61_000)).decision.action).toBe("allow");
    expect(h.events.filter((e) => e.type === "quarantine.created")).toHaveLength(1);
  });

  it("escalates a repeat offender after a lift, and caps the duration", async () => {
    h = await engineHarness(responsePolicy("v1", "", "  response: { quarantine: { escalation: { factor: 3, max: 5m } } }"));
    const durations = [];
    for (let i = 0; i < 3; i++) {
      h.clock.now += 20_000; // a new offence slot each time
      const { decision } = await h.check("/trap", "192.0.2.9");
      durations.push(decision.retryAfterSeconds);
      const entry = h.engine.quarantines.list()[0]!;
      expect(await h.engine.quarantines.lift(entry, "token:alice", "false positive", "id")).toBe(true);
    }
    expect(durations).toEqual([60, 180, 300]);
    const lifted = h.events.filter((e) => e.type === "quarantine.lifted");
    expect(lifted).toHaveLength(3);
    expect(lifted[0]).toMatchObject({ actor: "token:alice", reason: "false positive", how: "id" });
  });

  it("never lifts a newer quarantine of the same client with an old entry", async () => {
    h = await engineHarness();
    await h.check("/trap", "192.0.2.3");
    const old = h.engine.quarantines.list()[0]!;
    await h.engine.quarantines.lift(old, "token:a", undefined, "id");
    h.clock.now += 20_000;
    await h.check("/trap", "192.0.2.3");
    expect(await h.engine.quarantines.lift(old, "token:b", undefined, "id")).toBe(false);
    expect(h.engine.quarantines.list()).toHaveLength(1);
  });

  it("enforces on this replica alone when the shared store is down, and says so", async () => {
    h = await engineHarness(undefined, { backend: quarantinesWith({ putIfAbsent: () => Promise.reject(new StoreUnavailableError("down")) }) });
    expect((await h.check("/trap", "192.0.2.4")).decision.action).toBe("quarantine");
    expect((await h.check("/search", "192.0.2.4")).decision.action).toBe("quarantine");
    expect(h.events).toContainEqual(expect.objectContaining({ type: "quarantine.created", shared: false }));
  });

  it("answers within the budget with a provisional quarantine when the shared write is slow", async () => {
    h = await engineHarness(undefined, { backend: quarantinesWith({ putIfAbsent: () => new Promise(() => {}) }), budgetMs: 20 });
    // The shared write never settles, so an answer at all is the budget at work: without it this
    // check would wait for ever (the test's own timeout), with no wall-clock limit to flake on.
    expect((await h.check("/trap", "192.0.2.5")).decision).toMatchObject({ action: "quarantine", retryAfterSeconds: 60 });
    expect((await h.check("/search", "192.0.2.5")).decision.action).toBe("quarantine");
  });

  it("drops its provisional copy when the slow write finds another replica's quarantine", async () => {
    const theirs = JSON.stringify({ id: "q-theirs", scope: "ip", subject: "x", rule: "trap", policyVersion: "v1", reasons: [], startMs: 0, expiresMs: 1, offence: 1, actor: "system" });
    // The write answers late that someone else got there first, and their announcement is lost.
    const lateLoss = () => new Promise<never>((resolve) => setTimeout(() => resolve({ created: false, value: theirs, epoch: "e", seq: 1 } as never), 60));
    h = await engineHarness(undefined, { backend: quarantinesWith({ putIfAbsent: lateLoss }), budgetMs: 10 });
    expect((await h.check("/trap", "192.0.2.6")).decision.action).toBe("quarantine");
    expect(h.engine.quarantines.list()).toHaveLength(1); // the provisional copy
    await expect.poll(() => h.engine.quarantines.list()).toEqual([]);
  });
});

/** A memory backend whose "quarantines" map has some methods replaced (a store failing its way). */
function quarantinesWith(overrides: Partial<SharedMapStore>): SharedBackend {
  const base = new MemorySharedBackend();
  return {
    kind: "memory",
    audit: base.audit,
    stats: base.stats,
    decisions: base.decisions,
    close: async () => {},
    map(name) {
      const map = base.map(name);
      if (name !== "quarantines") return map;
      return {
        put: (...args) => map.put(...args),
        putIfAbsent: (...args) => map.putIfAbsent(...args),
        remove: (...args) => map.remove(...args),
        snapshot: () => map.snapshot(),
        version: () => map.version(),
        subscribe: (...args) => map.subscribe(...args),
        ...overrides,
      };
    },
  };
}
