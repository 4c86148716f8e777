import { describe, expect, it } from "vitest";
import { entitiesOf } from "../detection/entities.js";
import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledChallenge } from "../policy/challenge-schema.js";
import { MemoryStore } from "../state/memory-store.js";
import { decodeQuarantine, entityOf, quarantineDurationMs, quarantineKey, subjectOf, type Quarantine } from "./quarantine-record.js";
import { planRelief, recordRelief, waiveFriction } from "./relief.js";

const T0 = Date.UTC(2026, 10, 24, 9);
const request = (ids: Partial<NormalisedRequest>) => ids as NormalisedRequest;

/** What the Check's batch would read: each op of the plan applied to the store, then evaluated. */
async function reliefSignals(store: MemoryStore, ids: Partial<NormalisedRequest>, nowMs: number) {
  const plan = planRelief(request(ids));
  const results = await Promise.all(plan.ops.map(({ entity, op }) => store.apply(entity, [op], nowMs).then(([r]) => r ?? 0)));
  return plan.evaluate(results).map((s) => `${s.code} ${s.detail}`);
}

describe("friction relief", () => {
  it("remembers a pass on the username and the session for reliefMs, not on other subjects", async () => {
    const clock = { now: 1_000_000 };
    const store = new MemoryStore({ expiryClock: { now: () => clock.now } });
    const ids = { usernameId: "u-1", sessionId: "s-1", ipId: "i-1" };
    expect(await reliefSignals(store, ids, T0)).toEqual([]);
    await recordRelief(store, "mfa", { username: "u-1" }, T0, 60_000);
    await recordRelief(store, "challenge", { session: "s-1" }, T0, 60_000);
    clock.now += 59_000;
    expect(await reliefSignals(store, ids, T0 + 59_000)).toEqual(["relief.mfa mfa passed (username)", "relief.challenge challenge passed (session)"]);
    expect(await reliefSignals(store, { usernameId: "u-2", sessionId: "s-2" }, T0 + 1)).toEqual([]);
    clock.now += 2_000;
    expect(await reliefSignals(store, ids, T0 + 61_000)).toEqual([]);
  });

  it("reads nothing for a request with neither username nor session", () => {
    const plan = planRelief(request({ ipId: "i-1", subnet: "192.0.2.0/24" }));
    expect(plan.ops).toEqual([]);
    expect(plan.evaluate([])).toEqual([]);
    expect(planRelief(request({ usernameId: "u-1" })).ops.map((o) => [o.entity, o.op])).toEqual([
      [entityOf("username", "u-1"), { op: "member.check", name: "relief.challenge", member: "passed" }],
      [entityOf("username", "u-1"), { op: "member.check", name: "relief.mfa", member: "passed" }],
    ]);
  });

  const decision = (action: Decision["action"], codes: string[], extra: Partial<Decision> = {}): Decision => ({
    decisionId: "d",
    action,
    risk: 50,
    rule: "r",
    scope: "username",
    reasons: codes.map((code) => ({ code, value: 1, weight: 0 })),
    policyVersion: "v1",
    degraded: false,
    shadowed: [],
    eventTimeMs: T0,
    ...extra,
  });
  const noPow: CompiledChallenge = { wwwAuthenticate: "Palisade" };

  it("waives a challenge after a passed challenge or MFA, a step-up only after MFA, and nothing heavier", () => {
    const waived = waiveFriction(decision("challenge", ["relief.challenge"]), noPow);
    expect(waived).toMatchObject({ action: "allow", rule: undefined, scope: undefined });
    expect(waived.reasons.at(-1)).toEqual({ code: "friction.waived", value: 1, weight: 0, detail: "challenge by r" });
    expect(waiveFriction(decision("challenge", ["relief.mfa"]), noPow).action).toBe("allow");
    expect(waiveFriction(decision("step_up", ["relief.mfa"], { rule: undefined }), noPow).reasons.at(-1)!.detail).toBe("step_up by policy");
    const unchanged = [decision("step_up", ["relief.challenge"]), decision("block", ["relief.mfa"]), decision("quarantine", ["relief.mfa", "relief.challenge"]), decision("challenge", ["velocity.ip"])];
    for (const d of unchanged) expect(waiveFriction(d, noPow)).toBe(d);
  });

  it("waives a challenge for a proof-of-work pass only up to the level it was earned at", () => {
    const levels = [
      { level: 1, risk: 0, attempts: 1, rounds: 1 },
      { level: 2, risk: 60, attempts: 1, rounds: 1 },
    ];
    const pow = { wwwAuthenticate: "Palisade", proofOfWork: { path: "/c", expiresMs: 1, passMs: 1, levels, bindHeaders: [], replayWeight: 0 } } as unknown as CompiledChallenge;
    const passed = (level: number, risk: number) => decision("challenge", [], { risk, reasons: [{ code: "challenge.passed", value: level, weight: 0 }] });
    expect(waiveFriction(passed(1, 59), pow).action).toBe("allow");
    expect(waiveFriction(passed(1, 60), pow).action).toBe("challenge");
    expect(waiveFriction(passed(2, 60), pow).action).toBe("allow");
    // Without proof of work configured, a pass proves nothing here.
    expect(waiveFriction(passed(2, 10), noPow).action).toBe("challenge");
  });
});

describe("quarantine records", () => {
  const q: Quarantine = { id: "q-1", scope: "ip", subject: "p", rule: "trap", policyVersion: "v1", reasons: [{ code: "a.b", value: 1, weight: 2, threshold: 1, detail: "x" }], startMs: 1, expiresMs: 2, offence: 1, actor: "system" };

  it("reads back what it stored, and nothing it cannot read", () => {
    expect(decodeQuarantine(JSON.stringify(q))).toEqual(q);
    expect(decodeQuarantine(JSON.stringify({ ...q, reason: "by hand", decisionId: "d", endpoint: "e" }))).toMatchObject({ reason: "by hand", decisionId: "d", endpoint: "e" });
    for (const bad of [{ id: "" }, { subject: "" }, { scope: "planet" }, { offence: 0 }, { offence: 1.5 }, { reasons: [{ code: "a" }] }, { startMs: "1" }]) {
      expect(decodeQuarantine(JSON.stringify({ ...q, ...bad })), JSON.stringify(bad)).toBeUndefined();
    }
    expect(decodeQuarantine("{not json")).toBeUndefined();
  });

  it("keys, subjects and entities by scope", () => {
    expect(quarantineKey("username", "u-1")).toBe("username:u-1");
    const ids = { ipId: "i", subnet: "192.0.2.0/24", usernameId: "u", fingerprintId: "f", sessionId: "s" };
    expect((["ip", "subnet", "username", "fingerprint", "session"] as const).map((scope) => subjectOf(ids, scope))).toEqual(["i", "192.0.2.0/24", "u", "f", "s"]);
    expect(entityOf("fingerprint", "f")).toBe(entitiesOf({ fingerprintId: "f" }).fingerprint);
    expect(entityOf("session", "s")).toBe(entitiesOf({ sessionId: "s" }).session);
    expect(entityOf("subnet", "192.0.2.0/24")).toBe(entitiesOf({ subnet: "192.0.2.0/24" }).subnet);
  });

  it("lasts at least 1 ms, in whole ms, the base for a first (or unknown) offence", () => {
    const escalation = { factor: 3, maxMs: 1_000, memoryMs: 1 };
    expect(quarantineDurationMs(0, 1, escalation)).toBe(1);
    expect(quarantineDurationMs(10.4, 1, escalation)).toBe(10);
    expect(quarantineDurationMs(10.6, 1, escalation)).toBe(11);
    expect(quarantineDurationMs(10, 0, escalation)).toBe(10);
    expect(quarantineDurationMs(10, 3, escalation)).toBe(90);
  });
});
