import { describe, expect, it } from "vitest";
import type { HttpAttributes } from "../../src/domain/request.js";
import { DecisionUnavailableError } from "../../src/pipeline/pipeline.js";
import { MemoryStore } from "../../src/state/memory-store.js";
import type { Store } from "../../src/state/store.js";
import { downStore } from "../support/down-store.js";
import { createMetrics } from "../../src/telemetry/metrics.js";
import { testDecisionCore } from "../support/decision-core.js";
import { examplePolicyPath, minimalPolicyDocument, policyFile } from "../support/policies.js";

const T0 = Date.UTC(2026, 10, 24, 9);

/** The server's pipeline over the policy file at `policy`, on a clock stopped at T0. */
async function pipelineFor(policy: string, store: Store = new MemoryStore(), metrics = createMetrics()) {
  return (await testDecisionCore(policy, { store, clock: { now: () => T0 }, metrics })).pipeline;
}

const minimalPolicy = (spec: Record<string, unknown> = {}) => policyFile(minimalPolicyDocument(spec));

function loginAttempt(ip: string, username: string, timeMs = T0): HttpAttributes {
  return {
    method: "POST",
    path: "/login",
    headers: new Map([["x-forwarded-for", ip]]),
    body: new TextEncoder().encode(JSON.stringify({ username })),
    timeMs,
  };
}

const burstRules = (extra: Record<string, unknown>[] = []) =>
  minimalPolicy({
    rules: [{ id: "burst", endpoints: ["login"], when: '"velocity.ip" in reasons', action: "throttle" }, ...extra],
  });

describe("pipeline", () => {
  it("counts per IP on event time and throttles above the threshold with a retry hint", async () => {
    const pipeline = (await pipelineFor(burstRules()));
    const actions = [];
    for (let i = 0; i < 5; i++) actions.push((await pipeline.evaluate(loginAttempt("203.0.113.5", `u${i}`))).decision);
    expect(actions.map((d) => d.action)).toEqual(["allow", "allow", "allow", "throttle", "throttle"]);
    const throttled = actions[3]!;
    expect(throttled).toMatchObject({ rule: "burst", risk: 40, retryAfterSeconds: 60, policyVersion: "t1" });
    expect(throttled.reasons).toContainEqual(expect.objectContaining({ code: "velocity.ip", value: 4, threshold: 3 }));
    expect(throttled.rateLimit).toEqual({ limit: 3, remaining: 0, resetSeconds: 60, windowSeconds: 60 });
  });

  it("forgets attempts once their window has passed in event time", async () => {
    const pipeline = (await pipelineFor(burstRules()));
    for (let i = 0; i < 4; i++) await pipeline.evaluate(loginAttempt("203.0.113.6", "x"));
    const later = await pipeline.evaluate(loginAttempt("203.0.113.6", "x", T0 + 3 * 60_000));
    expect(later.decision.action).toBe("allow");
  });

  it("lets the heaviest matching action win whatever the rule order", async () => {
    const policy = burstRules([{ id: "any-login", endpoints: ["login"], when: "true", action: "step_up" }]);
    const pipeline = await pipelineFor(policy);
    let last;
    for (let i = 0; i < 4; i++) last = (await pipeline.evaluate(loginAttempt("203.0.113.7", "y"))).decision;
    expect(last).toMatchObject({ action: "throttle", rule: "burst" });
  });

  it("records shadow rules as would-have and lets the request pass", async () => {
    const policy = minimalPolicy({
      rules: [{ id: "trial", endpoints: ["login"], when: "true", action: "block", shadow: true }],
    });
    const { decision } = await (await pipelineFor(policy)).evaluate(loginAttempt("203.0.113.8", "z"));
    expect(decision.action).toBe("allow");
    expect(decision.shadowed).toEqual([{ rule: "trial", action: "block" }]);
  });

  it("treats a whole policy in shadow mode the same way", async () => {
    const policy = minimalPolicy({ mode: "shadow", rules: [{ id: "all", when: "true", action: "block" }] });
    const { decision } = await (await pipelineFor(policy)).evaluate(loginAttempt("203.0.113.9", "z"));
    expect(decision).toMatchObject({ action: "allow", shadowed: [{ rule: "all", action: "block" }] });
  });

  it("counts a rule whose condition errors and does not let it match", async () => {
    const metrics = createMetrics();
    const policy = minimalPolicy({ rules: [{ id: "broken", when: 'signal["absent"] > 1.0', action: "block" }] });
    const { decision } = await (await pipelineFor(policy, new MemoryStore(), metrics)).evaluate(loginAttempt("203.0.113.10", "z"));
    expect(decision.action).toBe("allow");
    expect((await metrics.ruleErrors.get()).values).toEqual([expect.objectContaining({ labels: { rule: "broken" }, value: 1 })]);
  });

  it("applies the endpoint's fail mode when the store is down", async () => {
    const open = await (await pipelineFor(burstRules(), downStore)).evaluate(loginAttempt("203.0.113.11", "a"));
    expect(open.decision).toMatchObject({ action: "allow", degraded: true });
    const closed = await (await pipelineFor(minimalPolicy({ failMode: "closed" }), downStore)).evaluate(loginAttempt("203.0.113.11", "a"));
    expect(closed.decision).toMatchObject({ action: "throttle", rule: "fail-closed", degraded: true, retryAfterSeconds: 1 });
    await expect((await pipelineFor(minimalPolicy({ failMode: "error" }), downStore)).evaluate(loginAttempt("203.0.113.11", "a"))).rejects.toBeInstanceOf(
      DecisionUnavailableError,
    );
  });

  it("decides deny- and allow-listed clients without touching the store", async () => {
    const policy = examplePolicyPath;
    const blocked = await (await pipelineFor(policy, downStore)).evaluate({ method: "GET", path: "/api/v1/search", headers: new Map([["x-forwarded-for", "198.51.100.1"]]) });
    expect(blocked.decision).toMatchObject({ action: "block", rule: "list:blocked", degraded: false, risk: 100 });
    const partner = await (await pipelineFor(policy, downStore)).evaluate({ method: "GET", path: "/api/v1/search", headers: new Map([["x-forwarded-for", "203.0.113.3"]]) });
    expect(partner.decision).toMatchObject({ action: "allow", rule: "list:partners", degraded: false });
  });

  it("names a pseudonymous subject, never the raw username or IP", async () => {
    const { decision } = await (await pipelineFor(burstRules())).evaluate(loginAttempt("203.0.113.12", "carol@example.com"));
    expect(decision.subject).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(decision)).not.toMatch(/carol|203\.0\.113\.12/);
  });
});
