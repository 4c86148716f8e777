import { afterEach, describe, expect, it, vi } from "vitest";
import type { Decision } from "../domain/decision.js";
import { MAX_STATS_FIELDS, MemoryDecisionStatsStore, type DecisionStatsStore } from "../state/decision-stats.js";
import { StoreUnavailableError } from "../state/store.js";
import { DecisionStatistics, familyOf, STAT } from "./decision-stats.js";
import { PeriodicFlush } from "./periodic-flush.js";

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

  it("counts endpoints, shadow rules, waived friction, relief and one incident per decision under their fields", async () => {
    const stats = new DecisionStatistics({ store: new MemoryDecisionStatsStore(), retention: keep, clock: () => T0, log: quiet });
    const site = (code: string) => ({ code, value: 1, weight: 0 });
    stats.observe(decision({ endpoint: "login", reasons: [site("site.velocity"), site("site.failures")], shadowed: [{ rule: "trial", action: "block" }] }));
    stats.observe(decision({ endpoint: "login", reasons: [{ code: "friction.waived", value: 1, weight: 0 }] }));
    // A site reason without an endpoint is no incident anywhere.
    stats.observe(decision({ reasons: [site("site.velocity")] }));
    stats.observe(decision({ action: "block", rule: "a rule/with odd:chars", endpoint: "x".repeat(80), reasons: [{ code: "probe.path", value: 1, weight: 5 }] }));
    stats.relief("challenge");
    stats.relief("mfa");
    const [bucket] = await stats.read("minute", T0, T0);
    expect(bucket!.counts).toEqual({
      n: 4,
      "a:allow": 3,
      "a:block": 1,
      "e:login:n": 2,
      "i:login": 1,
      "s:trial": 1,
      w: 1,
      "r:a_rule_with_odd_chars:block": 1,
      [`e:${"x".repeat(64)}:n`]: 1,
      [`e:${"x".repeat(64)}:m`]: 1,
      "f:probe": 1,
      "l:challenge": 1,
      "l:mfa": 1,
    });
    expect(STAT.endpoint("login", true)).toBe("e:login:m");
    expect(STAT.incident("a b")).toBe("i:a_b");
  });

  it("names a family by the first reason when none has weight, and by the whole code when it has no dot", () => {
    expect(familyOf({ reasons: [{ code: "list.bad", value: 1, weight: 0 }, { code: "velocity.ip", value: 1, weight: 0 }] })).toBe("list");
    expect(familyOf({ reasons: [{ code: "list.bad", value: 1, weight: 0 }, { code: "velocity.ip", value: 1, weight: 5 }] })).toBe("velocity");
    expect(familyOf({ reasons: [{ code: "custom", value: 1, weight: 5 }] })).toBe("custom");
    // Equal weights: the first stays the strongest.
    expect(familyOf({ reasons: [{ code: "bot.ua", value: 1, weight: 5 }, { code: "velocity.ip", value: 1, weight: 5 }] })).toBe("bot");
  });

  it("counts a held request under quarantine when its rule never acted here", async () => {
    const stats = new DecisionStatistics({ store: new MemoryDecisionStatsStore(), retention: keep, clock: () => T0, log: quiet });
    const held = { code: "quarantine.active", value: 1, weight: 100 };
    stats.observe(decision({ action: "quarantine", rule: "elsewhere", reasons: [held] }));
    stats.observe(decision({ action: "block", rule: "deny", reasons: [{ code: "velocity.ip", value: 1, weight: 5 }] }));
    stats.observe(decision({ action: "block", rule: "deny", reasons: [{ code: "bot.ua", value: 1, weight: 5 }] }));
    stats.observe(decision({ action: "quarantine", rule: "deny", reasons: [held] }));
    const [bucket] = await stats.read("minute", T0, T0);
    expect(bucket!.counts).toMatchObject({ "f:quarantine": 1, "f:velocity": 1, "f:bot": 2 });
  });

  it("adds the minutes not yet flushed to what the store holds, within the range asked for, by minute or hour", async () => {
    const clock = { now: T0 + 5 * 60_000 };
    const store = new MemoryDecisionStatsStore({ clock: () => clock.now });
    await store.add(T0 + 5 * 60_000, { n: 10 }, keep());
    const stats = new DecisionStatistics({ store, retention: keep, clock: () => clock.now, log: quiet });
    stats.observe(decision());
    clock.now += 60_000;
    stats.observe(decision());
    stats.observe(decision());
    expect(await stats.read("minute", T0 + 5 * 60_000, T0 + 5 * 60_000)).toEqual([{ startMs: T0 + 5 * 60_000, counts: { n: 11, "a:allow": 1 } }]);
    expect(await stats.read("minute", T0 + 6 * 60_000, T0 + 6 * 60_000)).toEqual([{ startMs: T0 + 6 * 60_000, counts: { n: 2, "a:allow": 2 } }]);
    expect((await stats.read("minute", T0, T0 + 10 * 60_000)).map((b) => b.counts.n)).toEqual([11, 2]);
    // A range starting inside a minute still includes that minute's pending counts.
    expect((await stats.read("minute", T0 + 6 * 60_000 + 30_000, T0 + 7 * 60_000)).map((b) => b.counts.n)).toEqual([2]);
    expect(await stats.read("hour", T0, T0 + 59 * 60_000)).toEqual([{ startMs: T0, counts: { n: 13, "a:allow": 3 } }]);
    expect(await stats.read("minute", T0 + 7 * 60_000, T0 + 8 * 60_000)).toEqual([]);
  });

  it("keeps a minute exactly ten minutes old no longer, one nine minutes old still", async () => {
    const clock = { now: T0 };
    const store = flaky();
    const warnings: string[] = [];
    const log = { ...quiet, warn: (_o: object, message: string) => warnings.push(message) };
    const stats = new DecisionStatistics({ store, retention: keep, clock: () => clock.now, log });
    stats.observe(decision());
    clock.now = T0 + 60_000;
    stats.observe(decision());
    clock.now = T0 + 10 * 60_000;
    stats.observe(decision());
    expect((await stats.read("minute", T0, clock.now)).map((b) => b.startMs)).toEqual([T0 + 60_000, T0 + 10 * 60_000]);
    expect(warnings).toHaveLength(1);
  });

  it("says once that the store is away, and once that it is back", async () => {
    const clock = { now: T0 };
    const store = flaky();
    const said: string[] = [];
    const log = { info: (_o: object, m: string) => said.push(`info ${m}`), warn: (_o: object, m: string) => said.push(`warn ${m}`), error: () => {} };
    const stats = new DecisionStatistics({ store, retention: keep, clock: () => clock.now, log });
    stats.observe(decision());
    await stats.flush();
    expect(said).toEqual([expect.stringMatching(/^warn /)]); // at the first failure, not a later one
    stats.observe(decision());
    await stats.flush();
    expect(said).toHaveLength(1);
    // Counts taken while a failed flush was under way are merged with the ones put back.
    expect((await stats.read("minute", T0, T0))[0]!.counts.n).toBe(2);
    store.down = false;
    await stats.flush();
    await stats.flush();
    expect(said).toHaveLength(2);
    expect(said[1]).toMatch(/^info /);
    expect((await store.read("minute", T0, T0))[0]!.counts.n).toBe(2);
  });
});

describe("DecisionStatistics, in detail", () => {
  const held = { code: "quarantine.active", value: 1, weight: 100 };

  it("names no family after a reason that takes risk away: the first reason then names it", () => {
    expect(familyOf({ reasons: [{ code: "relief.challenge", value: 1, weight: -10 }, { code: "velocity.ip", value: 1, weight: 0 }] })).toBe("relief");
  });

  it("counts a held request with other reasons beside the hold under its rule's last family", async () => {
    const stats = new DecisionStatistics({ store: new MemoryDecisionStatsStore(), retention: keep, clock: () => T0, log: quiet });
    stats.observe(decision({ action: "block", rule: "deny", reasons: [{ code: "bot.ua", value: 1, weight: 5 }] }));
    stats.observe(decision({ action: "quarantine", rule: "deny", reasons: [{ code: "velocity.ip", value: 1, weight: 1 }, held] }));
    const [bucket] = await stats.read("minute", T0, T0);
    expect(bucket!.counts).toMatchObject({ "f:bot": 2 });
    expect(bucket!.counts["f:velocity"]).toBeUndefined();
  });

  it("remembers the families of at most 256 rules; a held request of a rule past them counts as quarantine", async () => {
    const stats = new DecisionStatistics({ store: new MemoryDecisionStatsStore(), retention: keep, clock: () => T0, log: quiet });
    for (let i = 0; i < 257; i++) stats.observe(decision({ action: "block", rule: `r${i}`, reasons: [{ code: "bot.ua", value: 1, weight: 5 }] }));
    stats.observe(decision({ action: "quarantine", rule: "r255", reasons: [held] }));
    stats.observe(decision({ action: "quarantine", rule: "r256", reasons: [held] }));
    const [bucket] = await stats.read("minute", T0, T0);
    expect(bucket!.counts).toMatchObject({ "f:bot": 258, "f:quarantine": 1 });
  });

  it("reads buckets oldest first when a minute not yet flushed is older than what the store holds", async () => {
    const store = new MemoryDecisionStatsStore({ clock: () => T0 });
    await store.add(T0 + 60_000, { n: 3 }, keep());
    const stats = new DecisionStatistics({ store, retention: keep, clock: () => T0, log: quiet });
    stats.observe(decision());
    expect(await stats.read("minute", T0, T0 + 60_000)).toEqual([
      { startMs: T0, counts: { n: 1, "a:allow": 1 } },
      { startMs: T0 + 60_000, counts: { n: 3 } },
    ]);
  });
});

describe("PeriodicFlush", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("flushes every period once started, never two at once, and once more on stop", async () => {
    vi.useFakeTimers();
    let runs = 0;
    let release: () => void = () => {};
    const flush = new PeriodicFlush(() => {
      runs++;
      return new Promise<void>((resolve) => (release = resolve));
    }, 1_000);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(runs).toBe(0);
    flush.start();
    flush.start(); // a second start adds no second timer
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(runs).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(1);
    // Still running: the next tick and a direct call join it.
    await vi.advanceTimersByTimeAsync(1_000);
    const joined = flush.flush();
    expect(runs).toBe(1);
    release();
    await joined;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(2);
    release();
    await vi.advanceTimersByTimeAsync(0);
    const stopped = flush.stop();
    expect(vi.getTimerCount()).toBe(0);
    release();
    await stopped;
    expect(runs).toBe(3);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(runs).toBe(3);
  });

  it("runs again after a failed flush", async () => {
    let runs = 0;
    const flush = new PeriodicFlush(async () => {
      runs++;
      if (runs === 1) throw new Error("store away");
    }, 1_000);
    await expect(flush.flush()).rejects.toThrow("store away");
    await flush.flush();
    expect(runs).toBe(2);
  });
});
