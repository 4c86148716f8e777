import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, responsePolicy, type EngineHarness } from "../../test/support/response.js";
import type { Decision } from "../domain/decision.js";
import { AnomalyTracker } from "./anomalies.js";
import { ResponseEvents, type ResponseEvent } from "./events.js";
import { FlaggedDecisions, isFlagged } from "./flagged.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { sampleDecision, sampleQuarantine } from "../../test/support/response.js";
import type { Quarantine, QuarantineMark } from "./quarantine-record.js";
import type { Quarantines } from "./quarantines.js";
import { Responder } from "./responder.js";

let h: EngineHarness;
afterEach(async () => h?.stop());


describe("shadow and block records", () => {
  it("lets a shadow quarantine rule pass, counted as would-have once per client and minute", async () => {
    h = await engineHarness();
    for (let i = 0; i < 5; i++) {
      const { decision } = await h.check("/shadow", "192.0.2.20");
      expect(decision.action).toBe("allow");
      expect(decision.shadowed).toEqual([{ rule: "would-quarantine", action: "quarantine" }]);
    }
    expect(await h.engine.quarantines.list()).toEqual([]);
    const wouldHave = h.events.filter((e) => e.type === "shadow.would_have");
    expect(wouldHave).toEqual([expect.objectContaining({ rule: "would-quarantine", action: "quarantine", scope: "ip" })]);
    expect(h.engine.flagged.list()).toHaveLength(5);
  });

  it("treats a whole policy in shadow mode the same way", async () => {
    h = await engineHarness(responsePolicy("s1", "", "  mode: shadow"));
    expect((await h.check("/trap", "192.0.2.21")).decision).toMatchObject({ action: "allow", shadowed: [{ rule: "trap", action: "quarantine" }] });
    expect((await h.check("/search", "192.0.2.21")).decision.action).toBe("allow");
    expect(await h.engine.quarantines.list()).toEqual([]);
  });

  it("records a block once per rule, client and minute", async () => {
    h = await engineHarness();
    for (let i = 0; i < 3; i++) expect((await h.check("/deny", "192.0.2.22")).decision.action).toBe("block");
    await h.check("/deny", "192.0.2.23");
    expect(h.events.filter((e) => e.type === "enforcement.block")).toHaveLength(2);
  });
});

describe("without bookkeeping (offline replay)", () => {
  it("decides and quarantines as with it, and records, counts and announces nothing else", async () => {
    h = await engineHarness(undefined, { bookkeeping: false });
    expect((await h.check("/deny", "192.0.2.24")).decision.action).toBe("block");
    const { decision } = await h.check("/shadow", "192.0.2.24");
    expect(decision).toMatchObject({ action: "allow", shadowed: [{ rule: "would-quarantine", action: "quarantine" }] });
    expect((await h.check("/trap", "192.0.2.25")).decision.action).toBe("quarantine");
    expect(await h.engine.quarantines.list()).toHaveLength(1);
    expect((await h.check("/search", "192.0.2.25")).decision.action).toBe("quarantine");
    expect(h.engine.flagged.list()).toEqual([]);
    expect(h.events.map((e) => e.type).filter((type) => type !== "policy.loaded")).toEqual(["quarantine.created"]);
  });
});

describe("friction relief", () => {
  it("waives a challenge after a passed challenge, and a step-up only after passed MFA", async () => {
    h = await engineHarness();
    const user = { "x-user": "Bob@example.com" };
    expect((await h.check("/challenge", "192.0.2.30", user)).decision.action).toBe("challenge");
    expect((await h.check("/step", "192.0.2.30", user)).decision.action).toBe("step_up");

    await h.engine.recordRelief("challenge", { username: h.pseudonymiser.pseudonymise("username", "bob@example.com") }, h.clock.now);
    const waived = (await h.check("/challenge", "192.0.2.30", user)).decision;
    expect(waived).toMatchObject({ action: "allow", rule: undefined });
    expect(waived.reasons).toContainEqual(expect.objectContaining({ code: "friction.waived", detail: "challenge by challenge-user" }));
    expect((await h.check("/step", "192.0.2.30", user)).decision.action).toBe("step_up");
    expect((await h.check("/challenge", "192.0.2.31", { "x-user": "carol@example.com" })).decision.action).toBe("challenge");

    await h.engine.recordRelief("mfa", { username: h.pseudonymiser.pseudonymise("username", "bob@example.com") }, h.clock.now);
    expect((await h.check("/step", "192.0.2.30", user)).decision.action).toBe("allow");
  });
});

describe("flagged decisions", () => {
  const decision = (i: number, action: Decision["action"] = "throttle"): Decision => ({
    decisionId: `d${i}`,
    action,
    risk: 10,
    reasons: [],
    policyVersion: "v1",
    degraded: false,
    shadowed: [],
    eventTimeMs: i,
  });

  it("keeps the newest non-allow decisions in a fixed ring", () => {
    const ring = new FlaggedDecisions(3);
    for (let i = 1; i <= 5; i++) ring.add(decision(i));
    ring.add(decision(6, "allow"));
    expect(ring.list().map((d) => d.decisionId)).toEqual(["d5", "d4", "d3"]);
  });
});

describe("anomaly reports", () => {
  it("starts with the first site reason on an endpoint and ends after a quiet minute", () => {
    const events = new ResponseEvents();
    const seen: ResponseEvent[] = [];
    events.on((event) => seen.push(event));
    const tracker = new AnomalyTracker(events, 60_000);
    const at = (timeMs: number, codes: string[]) =>
      tracker.observe({ decisionId: "d", action: "allow", risk: 0, policyVersion: "v", degraded: false, shadowed: [], endpoint: "login", eventTimeMs: timeMs, reasons: codes.map((code) => ({ code, value: 1, weight: 10 })) });
    at(0, ["site.failure_ratio"]);
    at(1_000, ["site.failure_ratio"]);
    at(30_000, []);
    expect(tracker.active()).toHaveLength(1);
    at(62_000, []);
    expect(seen.map((e) => e.type)).toEqual(["anomaly.started", "anomaly.ended"]);
    expect(tracker.active()).toEqual([]);
  });

  it("ends an anomaly once decisions have shown none for exactly the quiet time, at event times of today", () => {
    const events = new ResponseEvents();
    const seen: string[] = [];
    events.on((event) => seen.push(event.type));
    const tracker = new AnomalyTracker(events, 60_000);
    const T = Date.UTC(2026, 11, 6, 12);
    const at = (timeMs: number, codes: string[]) =>
      tracker.observe({ decisionId: "d", action: "allow", risk: 0, policyVersion: "v", degraded: false, shadowed: [], endpoint: "login", eventTimeMs: timeMs, reasons: codes.map((code) => ({ code, value: 1, weight: 10 })) });
    at(T, ["site.velocity"]);
    at(T + 1, []);
    at(T + 59_999, []);
    expect(seen).toEqual(["anomaly.started"]);
    at(T + 60_000, []);
    expect(seen).toEqual(["anomaly.started", "anomaly.ended"]);
  });
});

describe("flagged decisions, in detail", () => {
  const base: Decision = { decisionId: "d", action: "allow", risk: 0, reasons: [], policyVersion: "v1", degraded: false, shadowed: [], eventTimeMs: Date.UTC(2026, 10, 24, 9) };

  it("flags what is not a plain allow: shadow matches and waived friction too", () => {
    expect(isFlagged(base)).toBe(false);
    expect(isFlagged({ ...base, shadowed: [{ rule: "r", action: "block" }] })).toBe(true);
    expect(isFlagged({ ...base, reasons: [{ code: "friction.waived", value: 1, weight: 0 }] })).toBe(true);
    expect(isFlagged({ ...base, reasons: [{ code: "velocity.ip", value: 1, weight: 0 }] })).toBe(false);
    const ring = new FlaggedDecisions(2);
    ring.add({ ...base, action: "block" });
    expect(ring.list()).toEqual([{ decisionId: "d", action: "block", risk: 0, reasons: [], policyVersion: "v1", degraded: false, shadowed: [], time: "2026-11-24T09:00:00.000Z" }]);
    expect(new FlaggedDecisions().capacity).toBe(1000);
  });

  it("reports each endpoint's anomaly on its own, and lists those in force", () => {
    const events = new ResponseEvents();
    const seen: string[] = [];
    events.on((event) => seen.push(`${event.type} ${"endpoint" in event ? event.endpoint : ""} ${"reasons" in event ? String(event.reasons) : ""}`));
    const tracker = new AnomalyTracker(events);
    const at = (timeMs: number, endpoint: string | undefined, codes: string[]) => tracker.observe({ ...base, endpoint, eventTimeMs: timeMs, reasons: codes.map((code) => ({ code, value: 1, weight: 1 })) });
    at(0, undefined, ["site.velocity"]);
    at(0, "login", ["velocity.ip", "site.velocity"]);
    at(10_000, "search", ["site.failures"]);
    at(20_000, "login", ["site.failures"]);
    expect(tracker.active()).toEqual([
      { endpoint: "login", reasons: ["site.failures"], lastSeen: new Date(20_000).toISOString() },
      { endpoint: "search", reasons: ["site.failures"], lastSeen: new Date(10_000).toISOString() },
    ]);
    at(79_999, "login", []);
    at(80_000, "login", []);
    at(80_001, "login", []);
    expect(seen).toEqual(["anomaly.started login site.velocity", "anomaly.started search site.failures", "anomaly.ended login site.failures"]);
  });
});

describe("Responder without the pipeline", () => {
  const T0 = Date.UTC(2026, 10, 24, 9);
  const request = { ipId: "ip-p", subnet: "192.0.2.0/24", usernameId: "user-p", timeMs: T0 } as NormalisedRequest;
  const policy = {
    challenge: { wwwAuthenticate: "Palisade" },
    rules: [
      { id: "trial", scope: "username" },
      { id: "deny", scope: "ip" },
    ],
  } as unknown as CompiledPolicy;
  const decision = (action: Decision["action"], extra: Partial<Decision> = {}): Decision => sampleDecision({ decisionId: "d-pipeline", action, ...extra });

  function responder(options: { found?: Quarantine; impose?: () => Promise<Quarantine | undefined> } = {}) {
    const events = new ResponseEvents();
    const seen: ResponseEvent[] = [];
    events.on((event) => seen.push(event));
    const recorded: [string, string | undefined, string | undefined][] = [];
    const observed: string[] = [];
    const held: QuarantineMark[] = [];
    const errors: string[] = [];
    const imposed: Decision[] = [];
    const quarantines = {
      find: () => options.found,
      impose: (d: Decision) => {
        imposed.push(d);
        return (options.impose ?? (async () => ({ ...sampleQuarantine, id: "q-new", offence: 3, expiresMs: T0 + 90_500 })))();
      },
    } as unknown as Quarantines;
    const r = new Responder({
      quarantines,
      events,
      flagged: new FlaggedDecisions(),
      anomalies: new AnomalyTracker(events),
      stats: { observe: (d) => observed.push(d.decisionId) },
      records: {
        record: (d, subject, network) => {
          recorded.push([d.action, subject, network]);
          return `d-record-${recorded.length}`;
        },
      },
      log: { info: () => {}, warn: () => {}, error: (_o, message) => errors.push(message) },
      onHeld: (q) => held.push(q),
    });
    return { r, seen, recorded, observed, held, errors, imposed };
  }

  it("holds a request of a quarantined client with the time left, rounded up, at least a second", async () => {
    const q = { ...sampleQuarantine, id: "q-7", rule: "trap", scope: "username" as const, expiresMs: T0 + 1_001 };
    const { r, held } = responder({ found: q });
    expect(r.held(request)).toEqual({
      action: "quarantine",
      risk: 100,
      reasons: [{ code: "quarantine.active", value: 1, weight: 100, detail: "q-7" }],
      rule: "trap",
      scope: "username",
      retryAfterSeconds: 2,
      degraded: false,
      shadowed: [],
    });
    expect(held).toEqual([q]);
    expect((await responder({ found: { ...q, expiresMs: T0 - 5_000 } }).r.held(request))!.retryAfterSeconds).toBe(1);
    expect(responder().r.held(request)).toBeUndefined();
  });

  it("records an enforcement under the subject of its scope and the client's network, and answers with the record's id", async () => {
    const { r, recorded, observed, seen } = responder();
    const answer = await r.settle(decision("block"), request, policy);
    expect(answer.decisionId).toBe("d-record-1");
    expect(recorded).toEqual([["block", "ip-p", "192.0.2.0/24"]]);
    expect(observed).toEqual(["d-record-1"]);
    expect(seen).toEqual([{ type: "enforcement.block", rule: "deny", scope: "ip", subject: "ip-p", reasons: answer.reasons, policyVersion: "v1", decisionId: "d-record-1", endpoint: "login" }]);
    // Without a scope, the decision's own subject is recorded.
    await r.settle(decision("throttle", { scope: undefined, subject: "own-subject" }), request, policy);
    expect(recorded[1]).toEqual(["throttle", "own-subject", "192.0.2.0/24"]);
    // An allow leaves no record, but is counted.
    expect((await r.settle(decision("allow", { rule: undefined }), request, policy)).decisionId).toBe("d-pipeline");
    expect(recorded).toHaveLength(2);
    expect(observed).toHaveLength(3);
  });

  it("records a block once per rule, scope and client, and a block without a rule not at all", async () => {
    const { r, seen } = responder();
    await r.settle(decision("block"), request, policy);
    await r.settle(decision("block"), request, policy);
    await r.settle(decision("block"), { ...request, ipId: "other" } as NormalisedRequest, policy);
    await r.settle(decision("block", { scope: "username" }), request, policy);
    await r.settle(decision("block", { rule: "deny-2" }), request, policy);
    await r.settle(decision("block", { rule: undefined }), request, policy);
    expect(seen.map((e) => ("subject" in e ? `${e.type} ${e.rule} ${e.scope} ${e.subject}` : e.type))).toEqual([
      "enforcement.block deny ip ip-p",
      "enforcement.block deny ip other",
      "enforcement.block deny username user-p",
      "enforcement.block deny-2 ip ip-p",
    ]);
  });

  it("records a shadow rule that would have quarantined or blocked, under its own scope, once", async () => {
    const { r, seen } = responder();
    const shadowed = [
      { rule: "trial", action: "quarantine" as const },
      { rule: "deny", action: "block" as const },
      { rule: "trial", action: "challenge" as const },
      { rule: "gone", action: "block" as const },
    ];
    await r.settle(decision("allow", { rule: undefined, scope: undefined, shadowed }), request, policy);
    await r.settle(decision("allow", { rule: undefined, scope: undefined, shadowed }), request, policy);
    expect(seen.map((e) => (e.type === "shadow.would_have" ? `${e.rule} ${e.action} ${e.scope} ${e.subject}` : e.type))).toEqual(["trial quarantine username user-p", "deny block ip ip-p", "gone block undefined undefined"]);
  });

  it("imposes a rule's quarantine and says so, with its offence and the time it lasts", async () => {
    const { r, imposed } = responder();
    const answer = await r.settle(decision("quarantine", { rule: "trap" }), request, policy);
    expect(imposed.map((d) => d.decisionId)).toEqual(["d-record-1"]);
    expect(answer.retryAfterSeconds).toBe(91);
    expect(answer.reasons.at(-1)).toEqual({ code: "quarantine.imposed", value: 3, weight: 0, detail: "q-new" });
    // A request held by a quarantine in force imposes none.
    const again = await r.settle(decision("quarantine", { reasons: [{ code: "quarantine.active", value: 1, weight: 100 }] }), request, policy);
    expect(imposed).toHaveLength(1);
    expect(again.reasons).toEqual([{ code: "quarantine.active", value: 1, weight: 100 }]);
  });

  it("denies anyway when no quarantine can be imposed, logging a failure", async () => {
    const none = responder({ impose: async () => undefined });
    const plain = await none.r.settle(decision("quarantine"), request, policy);
    expect(plain.reasons.map((r) => r.code)).toEqual(["list.bad"]);
    expect(none.errors).toEqual([]);
    const failing = responder({ impose: () => Promise.reject(new Error("store away")) });
    const denied = await failing.r.settle(decision("quarantine"), request, policy);
    expect(denied).toMatchObject({ action: "quarantine", decisionId: "d-record-1" });
    expect(denied.reasons.map((r) => r.code)).toEqual(["list.bad"]);
    expect(failing.errors).toHaveLength(1);
  });

  it("waives relieved friction before recording, so a waived challenge leaves no record", async () => {
    const { r, recorded } = responder();
    const answer = await r.settle(decision("challenge", { reasons: [{ code: "relief.mfa", value: 1, weight: 0 }] }), request, policy);
    expect(answer.action).toBe("allow");
    expect(recorded).toEqual([]);
  });

  it("announces a block only for a block, and a shadow match only for a rule that would have quarantined or blocked", async () => {
    const { r, seen } = responder();
    await r.settle(decision("throttle"), request, policy);
    await r.settle(decision("quarantine", { reasons: [{ code: "quarantine.active", value: 1, weight: 100 }] }), request, policy);
    await r.settle(decision("allow", { rule: undefined, scope: undefined, shadowed: [{ rule: "deny", action: "throttle" }, { rule: "trial", action: "challenge" }] }), request, policy);
    expect(seen).toEqual([]);
  });

  it("imposes a rule's quarantine even when the rule fired on no signal", async () => {
    const { r, imposed } = responder();
    const answer = await r.settle(decision("quarantine", { rule: "trap", reasons: [] }), request, policy);
    expect(imposed).toHaveLength(1);
    expect(answer.reasons).toEqual([{ code: "quarantine.imposed", value: 3, weight: 0, detail: "q-new" }]);
  });

  it("works without the optional counters: no statistics, no records, no held count", async () => {
    const events = new ResponseEvents();
    const quarantines = { find: () => sampleQuarantine, impose: async () => undefined } as unknown as Quarantines;
    const bare = new Responder({ quarantines, events, flagged: new FlaggedDecisions(), anomalies: new AnomalyTracker(events), log: { info() {}, warn() {}, error() {} } });
    expect((await bare.held(request))?.action).toBe("quarantine");
    expect(await bare.settle(decision("block"), request, policy)).toMatchObject({ action: "block", decisionId: "d-pipeline" });
  });
});
