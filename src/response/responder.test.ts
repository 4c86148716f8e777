import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, responsePolicy, type EngineHarness } from "../../test/support/response.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import type { Decision } from "../domain/decision.js";
import { AnomalyTracker } from "./anomalies.js";
import { ResponseEvents, type ResponseEvent } from "./events.js";
import { FlaggedDecisions } from "./flagged.js";

let h: EngineHarness;
afterEach(async () => h?.stop());

/** The harness pseudonymises with this key. */
const pseudonym = (kind: "username", value: string) => new HmacPseudonymiser({ current: Buffer.alloc(32, 7) }).pseudonymise(kind, value);

describe("shadow and block records", () => {
  it("lets a shadow quarantine rule pass, counted as would-have once per client and minute", async () => {
    h = await engineHarness();
    for (let i = 0; i < 5; i++) {
      const { decision } = await h.check("/shadow", "192.0.2.20");
      expect(decision.action).toBe("allow");
      expect(decision.shadowed).toEqual([{ rule: "would-quarantine", action: "quarantine" }]);
    }
    expect(h.engine.quarantines.list()).toEqual([]);
    const wouldHave = h.events.filter((e) => e.type === "shadow.would_have");
    expect(wouldHave).toEqual([expect.objectContaining({ rule: "would-quarantine", action: "quarantine", scope: "ip" })]);
    expect(h.engine.flagged.list()).toHaveLength(5);
  });

  it("treats a whole policy in shadow mode the same way", async () => {
    h = await engineHarness(responsePolicy("s1", "", "  mode: shadow"));
    expect((await h.check("/trap", "192.0.2.21")).decision).toMatchObject({ action: "allow", shadowed: [{ rule: "trap", action: "quarantine" }] });
    expect((await h.check("/search", "192.0.2.21")).decision.action).toBe("allow");
    expect(h.engine.quarantines.list()).toEqual([]);
  });

  it("records a block once per rule, client and minute", async () => {
    h = await engineHarness();
    for (let i = 0; i < 3; i++) expect((await h.check("/deny", "192.0.2.22")).decision.action).toBe("block");
    await h.check("/deny", "192.0.2.23");
    expect(h.events.filter((e) => e.type === "enforcement.block")).toHaveLength(2);
  });
});

describe("friction relief", () => {
  it("waives a challenge after a passed challenge, and a step-up only after passed MFA", async () => {
    h = await engineHarness();
    const user = { "x-user": "Bob@example.com" };
    expect((await h.check("/challenge", "192.0.2.30", user)).decision.action).toBe("challenge");
    expect((await h.check("/step", "192.0.2.30", user)).decision.action).toBe("step_up");

    await h.engine.recordRelief("challenge", { username: pseudonym("username", "bob@example.com") }, h.clock.now);
    const waived = (await h.check("/challenge", "192.0.2.30", user)).decision;
    expect(waived).toMatchObject({ action: "allow", rule: undefined });
    expect(waived.reasons).toContainEqual(expect.objectContaining({ code: "friction.waived", detail: "challenge by challenge-user" }));
    expect((await h.check("/step", "192.0.2.30", user)).decision.action).toBe("step_up");
    expect((await h.check("/challenge", "192.0.2.31", { "x-user": "carol@example.com" })).decision.action).toBe("challenge");

    await h.engine.recordRelief("mfa", { username: pseudonym("username", "bob@example.com") }, h.clock.now);
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
});
