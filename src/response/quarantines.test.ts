import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, responsePolicy, type EngineHarness } from "../../test/support/response.js";
import { MemorySharedBackend, type SharedBackend } from "../state/shared-backend.js";
import type { SharedMapStore } from "../state/shared-map.js";
import { StoreUnavailableError } from "../state/store.js";
import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { MemoryStore } from "../state/memory-store.js";
import { ReplicatedMap } from "../state/replicated-map.js";
import type { Store } from "../state/store.js";
import { quarantinesOver, sampleDecision } from "../../test/support/response.js";
import { ResponseError } from "./errors.js";
import { decodeQuarantine, markOf, QUARANTINE_COPY, quarantineDurationMs, type QuarantineMark } from "./quarantine-record.js";

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
      const entry = (await h.engine.quarantines.list())[0]!;
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
    const old = (await h.engine.quarantines.list())[0]!;
    await h.engine.quarantines.lift(old, "token:a", undefined, "id");
    h.clock.now += 20_000;
    await h.check("/trap", "192.0.2.3");
    expect(await h.engine.quarantines.lift(old, "token:b", undefined, "id")).toBe(false);
    expect(await h.engine.quarantines.list()).toHaveLength(1);
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
    // Still running by the request's time (a spent one is replaced: quarantines-expiry.test.ts).
    const theirs = JSON.stringify({ id: "q-theirs", scope: "ip", subject: "x", rule: "trap", policyVersion: "v1", reasons: [], startMs: 0, expiresMs: Number.MAX_SAFE_INTEGER, offence: 1, actor: "system" });
    // The write answers late (once the Check has been answered) that someone else got there
    // first, and their announcement is lost.
    let answer: (value: never) => void = () => {};
    const lateLoss = () => new Promise<never>((resolve) => (answer = resolve));
    h = await engineHarness(undefined, { backend: quarantinesWith({ putIfAbsent: lateLoss }), budgetMs: 10 });
    expect((await h.check("/trap", "192.0.2.6")).decision.action).toBe("quarantine");
    expect(h.engine.quarantines.held()).toHaveLength(1); // the provisional copy, on this replica only
    answer({ created: false, value: theirs, epoch: "e", seq: 1 } as never);
    // Everything after the answer is promise callbacks: one turn of the event loop runs them all.
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.engine.quarantines.held()).toEqual([]);
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
        read: (keys) => map.read(keys),
        version: () => map.version(),
        subscribe: (...args) => map.subscribe(...args),
        ...overrides,
      };
    },
  };
}

describe("Quarantines over a replicated memory map", () => {
  const T0 = Date.UTC(2026, 10, 24, 9);
  const policy = {
    rules: [{ id: "trap", retryAfterMs: 60_000 }],
    response: { quarantine: { durationMs: 15 * MINUTE, escalation: { factor: 2, maxMs: 60 * MINUTE, memoryMs: 86_400_000 } } },
  } as unknown as CompiledPolicy;
  const decision = (extra: Partial<Decision> = {}): Decision => sampleDecision({ action: "quarantine", risk: 80, rule: "trap", reasons: [{ code: "probe.path", value: 1, weight: 80 }], ...extra });
  const request = (timeMs = T0, ids: Partial<NormalisedRequest> = { ipId: "ip-p" }) => ({ ...ids, timeMs }) as NormalisedRequest;
  const maps: ReplicatedMap<QuarantineMark>[] = [];
  afterEach(async () => {
    await Promise.all(maps.splice(0).map((m) => m.stop()));
  });

  async function quarantines(store: Store = new MemoryStore(), maxEntries?: number) {
    const clock = { now: T0 };
    const backend = new MemorySharedBackend({ clock: () => clock.now });
    const map = new ReplicatedMap({ store: backend.map("quarantines"), ...QUARANTINE_COPY, clock: () => clock.now, maxEntries });
    maps.push(map);
    await map.start();
    return { ...quarantinesOver(map, backend, () => clock.now, store), clock, map };
  }

  it("imposes a rule's quarantine for the rule's retryAfter, with where it came from", async () => {
    const { q, seen } = await quarantines();
    const made = await q.impose(decision(), request(), policy);
    expect(made).toEqual({
      id: expect.stringMatching(/^q-[0-9a-f-]{36}$/),
      scope: "ip",
      subject: "ip-p",
      rule: "trap",
      policyVersion: "v1",
      reasons: decision().reasons,
      decisionId: "d-1",
      endpoint: "login",
      startMs: T0,
      expiresMs: T0 + 60_000,
      offence: 1,
      actor: "system",
    });
    expect(seen).toEqual([{ type: "quarantine.created", quarantine: made, shared: true }]);
    // The same client again: the quarantine in force (as the replica's copy keeps it), not a second one.
    expect(await q.impose(decision({ decisionId: "d-2" }), request(T0 + 1_000), policy)).toEqual(markOf(made!));
    expect(seen).toHaveLength(1);
    expect((await q.byId(made!.id))!.value).toEqual(made);
    expect(await q.byId("q-none")).toBeUndefined();
  });

  it("makes one quarantine of two at once, takes the policy's duration for a rule it does not know, and ip for no scope", async () => {
    const { q, seen } = await quarantines();
    const [a, b] = await Promise.all([q.impose(decision({ rule: "other", scope: undefined }), request(), policy), q.impose(decision({ rule: "other", scope: undefined }), request(), policy)]);
    expect(a!.id).toBe(b!.id);
    expect(a).toMatchObject({ scope: "ip", rule: "other", expiresMs: T0 + 15 * MINUTE });
    expect(seen).toHaveLength(1);
    expect(await q.impose(decision({ scope: "username" }), request(), policy)).toBeUndefined();
    expect(await q.impose(decision({ rule: undefined }), request(T0, { ipId: "ip-2" }), policy)).toMatchObject({ rule: "" });
  });

  it("escalates an offence in another ten-second slot, counts one slot once, and starts at 1 without the store", async () => {
    const { q, clock } = await quarantines();
    const first = (await q.impose(decision(), request(), policy))!;
    expect(await q.lift((await q.list())[0]!, "token:a", undefined, "id")).toBe(true);
    clock.now = T0 + 5_000;
    const sameSlot = (await q.impose(decision(), request(T0 + 5_000), policy))!;
    expect(sameSlot).toMatchObject({ offence: 1, expiresMs: T0 + 5_000 + 60_000 });
    expect(sameSlot.id).not.toBe(first.id);
    await q.lift((await q.list())[0]!, "token:a", undefined, "id");
    clock.now = T0 + 10_000;
    expect(await q.impose(decision(), request(T0 + 10_000), policy)).toMatchObject({ offence: 2, expiresMs: T0 + 10_000 + 120_000 });

    const down = await quarantines({ apply: () => Promise.reject(new Error("store away")) } as unknown as Store);
    expect(await down.q.impose(decision(), request(), policy)).toMatchObject({ offence: 1 });
  });

  it("finds the longest-lasting quarantine over the request's scopes, and none once expired", async () => {
    const { q } = await quarantines();
    await q.imposeByHand({ scope: "ip", subject: "ip-p", durationMs: 60_000, actor: "token:a", policyVersion: "v1" });
    const long = await q.imposeByHand({ scope: "username", subject: "user-p", durationMs: 120_000, actor: "token:a", policyVersion: "v1" });
    const both = { ipId: "ip-p", usernameId: "user-p" };
    expect((await q.find(request(T0, both)))!.id).toBe(long.id);
    expect((await q.find(request(T0, { ipId: "ip-p" })))!.scope).toBe("ip");
    expect(await q.find(request(T0 + 60_000, { ipId: "ip-p" }))).toBeUndefined();
    expect((await q.find(request(T0 + 119_999, both)))!.id).toBe(long.id);
    expect(await q.find(request(T0, { ipId: "ip-other" }))).toBeUndefined();
  });

  it("enforces every quarantine past the copy's count bound, reading from the store those it does not hold", async () => {
    const { q, map, clock } = await quarantines(new MemoryStore(), 2);
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await q.impose(decision(), request(T0, { ipId: `ip-${i}` }), policy))!);
    expect([map.size, map.complete]).toEqual([2, false]);
    for (let i = 0; i < 5; i++) expect((await q.find(request(T0 + 1_000, { ipId: `ip-${i}` })))?.id).toBe(made[i]!.id);
    expect(await q.find(request(T0 + 1_000, { ipId: "ip-none" }))).toBeUndefined();
    // A client the copy does not hold offends again: the quarantine in force, not a second one.
    expect((await q.impose(decision(), request(T0 + 2_000, { ipId: "ip-4" }), policy))!.id).toBe(made[4]!.id);
    expect(await q.list()).toHaveLength(5);
    // Once they have lapsed the copy is complete again and answers without the store.
    clock.now = T0 + 60_001;
    expect(map.complete).toBe(true);
    expect(q.find(request(T0 + 60_001, { ipId: "ip-4" }))).toBeUndefined();
  });

  it("past the bound, a Check the store cannot answer holds nothing more, and the next one that reaches it does", async () => {
    const { q, map } = await quarantines(new MemoryStore(), 1);
    await q.impose(decision(), request(T0, { ipId: "ip-held" }), policy);
    const unheld = (await q.impose(decision(), request(T0, { ipId: "ip-unheld" }), policy))!;
    const fetch = map.fetch.bind(map);
    map.fetch = () => Promise.reject(new StoreUnavailableError("down"));
    expect(await q.find(request(T0 + 1_000, { ipId: "ip-unheld" }))).toBeUndefined();
    expect((await q.find(request(T0 + 1_000, { ipId: "ip-held" })))?.scope).toBe("ip");
    map.fetch = fetch;
    expect((await q.find(request(T0 + 1_000, { ipId: "ip-unheld" })))?.id).toBe(unheld.id);
  });

  it("keeps a compact copy: what the Check path needs, not the rationale", async () => {
    const { q, map } = await quarantines();
    const made = (await q.impose(decision(), request(), policy))!;
    expect(map.get("ip:ip-p")).toEqual({ key: "ip:ip-p", value: markOf(made), dropAtMs: expect.any(Number) });
    expect(decodeQuarantine(JSON.stringify(made))).toEqual(made);
  });

  it("imposes by hand once per client, refusing a second with the one in force, and answers a repeated write with the first", async () => {
    const { q, seen, audit } = await quarantines();
    const manual = { scope: "username" as const, subject: "user-p", durationMs: 30 * MINUTE, actor: "token:alice", reason: "fraud report", policyVersion: "v1" };
    const made = await q.imposeByHand(manual, { key: "k-1" });
    expect(made).toMatchObject({ scope: "username", subject: "user-p", rule: "", reasons: [], startMs: T0, expiresMs: T0 + 30 * MINUTE, offence: 1, actor: "token:alice", reason: "fraud report", policyVersion: "v1" });
    expect(seen).toEqual([{ type: "quarantine.created", quarantine: made, shared: true }]);
    expect(await q.imposeByHand(manual, { key: "k-1" })).toEqual(made);
    expect(seen).toHaveLength(1);
    const refused = (await q.imposeByHand({ ...manual, reason: undefined }).catch((e: unknown) => e)) as ResponseError;
    expect(refused).toBeInstanceOf(ResponseError);
    expect(refused.code).toBe("conflict");
    expect(refused.message).toBe(`already quarantined on this scope (${made.id}, until 2026-11-24T09:30:00.000Z); lift that one first to replace it`);
    const { records } = await audit.query({ limit: 10, newestFirst: false });
    expect(records.map((r) => [r.action, r.actor, r.detail?.reason])).toEqual([["quarantine.created", "token:alice", "fraud report"]]);
    const plain = await q.imposeByHand({ ...manual, subject: "user-2", reason: undefined });
    expect(plain).not.toHaveProperty("reason");
  });

  it("lifts a quarantine once, announcing who and why", async () => {
    const { q, seen } = await quarantines();
    const made = await q.imposeByHand({ scope: "ip", subject: "ip-p", durationMs: 60_000, actor: "token:a", policyVersion: "v1" });
    const entry = (await q.list())[0]!;
    expect(await q.lift(entry, "token:bob", "customer called", "bulk", { key: "lift-1" })).toBe(true);
    expect(seen.at(-1)).toEqual({ type: "quarantine.lifted", quarantine: made, actor: "token:bob", reason: "customer called", how: "bulk" });
    expect(await q.list()).toEqual([]);
    expect(await q.lift(entry, "token:bob", "customer called", "bulk", { key: "lift-1" })).toBe(true);
    expect(await q.lift(entry, "token:carol", undefined, "id")).toBe(false);
    expect(seen.filter((e) => e.type === "quarantine.lifted")).toHaveLength(1);
  });
});
