import { describe, expect, it } from "vitest";
import type { Decision } from "../domain/decision.js";
import { MAX_STATS_FIELDS, MemoryDecisionStatsStore, type DecisionStatsStore } from "../state/decision-stats.js";
import { StoreUnavailableError } from "../state/store.js";
import { DecisionStatistics, familyOf, STAT } from "./decision-stats.js";

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const T0 = Date.UTC(2026, 10, 24, 9);
const keep = () => ({ hourMs: 3_600_000, minuteMs: 3_600_000 });

function decision(overrides: Partial<Decision> = {}): Decision {
  return { decisionId: "d", action: "allow", risk: 0, reasons: [], policyVersion: "v1", degraded: false, shadowed: [], eventTimeMs: T0, ...overrides };
}

/** A store that refuses every add while `down` is set, as Redis does when it is away. */
function flaky(): DecisionStatsStore & { down: boolean } {
  const inner = new MemoryDecisionStatsStore({ clock: () => T0 });
  return {
    down: true,
    add(minute, counts, retention) {
      return this.down ? Promise.reject(new StoreUnavailableError("redis away")) : inner.add(minute, counts, retention);
    },
    read: (resolution, from, to) => inner.read(resolution, from, to),
  };
}

describe("DecisionStatistics", () => {
  it("keeps the counts while the store is away and adds them once it is back", async () => {
    const clock = { now: T0 };
    const store = flaky();
    const stats = new DecisionStatistics({ store, retention: keep, clock: () => clock.now, log: quiet });
    stats.observe(decision({ action: "challenge", rule: "r", endpoint: "login", reasons: [{ code: "velocity.ip", value: 9, threshold: 5, weight: 40 }] }));
    stats.observe(decision({ degraded: true }));
    await stats.flush();
    expect(await store.read("minute", T0, T0)).toEqual([]);
    expect((await stats.read("minute", T0, T0))[0]!.counts).toMatchObject({ n: 2, "a:challenge": 1, "r:r:challenge": 1, "f:velocity": 1, "e:login:m": 1, d: 1 });
    store.down = false;
    clock.now += 10_000;
    stats.observe(decision());
    await stats.flush();
    expect((await store.read("minute", T0, T0))[0]!.counts).toMatchObject({ n: 3, "a:allow": 2, "a:challenge": 1, d: 1 });
    expect(await stats.read("minute", T0, T0)).toEqual(await store.read("minute", T0, T0));
  });

  it("drops minutes older than ten while the store stays away, and bounds the fields of a minute", async () => {
    const clock = { now: T0 };
    const store = flaky();
    const stats = new DecisionStatistics({ store, retention: keep, clock: () => clock.now, log: quiet });
    stats.observe(decision());
    clock.now += 11 * 60_000;
    stats.observe(decision());
    store.down = false;
    await stats.flush();
    expect((await store.read("minute", T0, clock.now)).map((b) => b.startMs)).toEqual([T0 + 11 * 60_000]);

    for (let i = 0; i < MAX_STATS_FIELDS + 50; i++) stats.observe(decision({ action: "block", rule: `rule-${i}` }));
    await stats.flush();
    const [bucket] = await store.read("minute", clock.now, clock.now);
    expect(Object.keys(bucket!.counts).length).toBeLessThanOrEqual(MAX_STATS_FIELDS + 1);
    expect(bucket!.counts[STAT.overflow]).toBeGreaterThan(0);
    expect(bucket!.counts["a:block"]).toBe(MAX_STATS_FIELDS + 50);
  });

  it("names families by the strongest reason, and a held request by its rule's last family", () => {
    expect(familyOf({ reasons: [{ code: "velocity.ip", value: 1, weight: 10 }, { code: "login.failure_ratio.ip", value: 1, weight: 30 }] })).toBe("login");
    expect(familyOf({ reasons: [] })).toBe("other");
    const stats = new DecisionStatistics({ store: new MemoryDecisionStatsStore(), retention: keep, clock: () => T0, log: quiet });
    stats.observe(decision({ action: "quarantine", rule: "trap", reasons: [{ code: "probe.path", value: 1, weight: 50 }] }));
    stats.observe(decision({ action: "quarantine", rule: "trap", reasons: [{ code: "quarantine.active", value: 1, weight: 100 }] }));
    stats.observe(decision({ action: "quarantine", rule: "", reasons: [{ code: "quarantine.active", value: 1, weight: 100 }] }));
    return stats.read("minute", T0, T0).then(([bucket]) => expect(bucket!.counts).toMatchObject({ "f:probe": 2, "f:quarantine": 1 }));
  });
});
