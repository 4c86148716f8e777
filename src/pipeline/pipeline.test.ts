import { describe, expect, it } from "vitest";
import { examplePolicy, minimalPolicy } from "../../test/support/policies.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { MemoryStore } from "../state/memory-store.js";
import { StoreUnavailableError, type EntityOp, type Store } from "../state/store.js";
import { createPipeline, DecisionUnavailableError } from "./pipeline.js";
import type { HttpAttributes } from "../domain/request.js";

const T0 = Date.UTC(2026, 10, 24, 9);

function pipelineFor(policy: CompiledPolicy, store: Store = new MemoryStore(), ruleErrors: string[] = []) {
  return createPipeline({
    store,
    pseudonymiser: new HmacPseudonymiser({ current: Buffer.alloc(32, 1) }),
    policy: () => policy,
    clock: { now: () => T0 },
    eventTime: { maxSkewMs: 60_000, trust: true },
    onRuleError: (rule) => ruleErrors.push(rule),
  });
}

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

/** A store that is always down, as Redis is during an outage without a local fallback. */
const downStore: Store = {
  kind: "down",
  apply: async (_entity: string, _ops: readonly EntityOp[]) => {
    throw new StoreUnavailableError("down");
  },
  observeBaseline: async () => {
    throw new StoreUnavailableError("down");
  },
  ping: async () => false,
  close: async () => {},
};

describe("pipeline", () => {
  it("counts per IP on event time and throttles above the threshold with a retry hint", async () => {
    const pipeline = pipelineFor(burstRules());
    const actions = [];
    for (let i = 0; i < 5; i++) actions.push((await pipeline.evaluate(loginAttempt("203.0.113.5", `u${i}`))).decision);
    expect(actions.map((d) => d.action)).toEqual(["allow", "allow", "allow", "throttle", "throttle"]);
    const throttled = actions[3]!;
    expect(throttled).toMatchObject({ rule: "burst", risk: 40, retryAfterSeconds: 60, policyVersion: "t1" });
    expect(throttled.reasons).toContainEqual(expect.objectContaining({ code: "velocity.ip", value: 4, threshold: 3 }));
    expect(throttled.rateLimit).toEqual({ limit: 3, remaining: 0, resetSeconds: 60, windowSeconds: 60 });
  });

  it("forgets attempts once their window has passed in event time", async () => {
    const pipeline = pipelineFor(burstRules());
    for (let i = 0; i < 4; i++) await pipeline.evaluate(loginAttempt("203.0.113.6", "x"));
    const later = await pipeline.evaluate(loginAttempt("203.0.113.6", "x", T0 + 3 * 60_000));
    expect(later.decision.action).toBe("allow");
  });

  it("lets the heaviest matching action win whatever the rule order", async () => {
    const policy = burstRules([{ id: "any-login", endpoints: ["login"], when: "true", action: "step_up" }]);
    const pipeline = pipelineFor(policy);
    let last;
    for (let i = 0; i < 4; i++) last = (await pipeline.evaluate(loginAttempt("203.0.113.7", "y"))).decision;
    expect(last).toMatchObject({ action: "throttle", rule: "burst" });
  });

  it("records shadow rules as would-have and lets the request pass", async () => {
    const policy = minimalPolicy({
      rules: [{ id: "trial", endpoints: ["login"], when: "true", action: "block", shadow: true }],
    });
    const { decision } = await pipelineFor(policy).evaluate(loginAttempt("203.0.113.8", "z"));
    expect(decision.action).toBe("allow");
    expect(decision.shadowed).toEqual([{ rule: "trial", action: "block" }]);
  });

  it("treats a whole policy in shadow mode the same way", async () => {
    const policy = minimalPolicy({ mode: "shadow", rules: [{ id: "all", when: "true", action: "block" }] });
    const { decision } = await pipelineFor(policy).evaluate(loginAttempt("203.0.113.9", "z"));
    expect(decision).toMatchObject({ action: "allow", shadowed: [{ rule: "all", action: "block" }] });
  });

  it("counts a rule whose condition errors and does not let it match", async () => {
    const errors: string[] = [];
    const policy = minimalPolicy({ rules: [{ id: "broken", when: 'signal["absent"] > 1.0', action: "block" }] });
    const { decision } = await pipelineFor(policy, new MemoryStore(), errors).evaluate(loginAttempt("203.0.113.10", "z"));
    expect(decision.action).toBe("allow");
    expect(errors).toEqual(["broken"]);
  });

  it("applies the endpoint's fail mode when the store is down", async () => {
    const open = await pipelineFor(burstRules(), downStore).evaluate(loginAttempt("203.0.113.11", "a"));
    expect(open.decision).toMatchObject({ action: "allow", degraded: true });
    const closed = await pipelineFor(minimalPolicy({ failMode: "closed" }), downStore).evaluate(loginAttempt("203.0.113.11", "a"));
    expect(closed.decision).toMatchObject({ action: "throttle", rule: "fail-closed", degraded: true, retryAfterSeconds: 1 });
    await expect(pipelineFor(minimalPolicy({ failMode: "error" }), downStore).evaluate(loginAttempt("203.0.113.11", "a"))).rejects.toBeInstanceOf(
      DecisionUnavailableError,
    );
  });

  it("decides deny- and allow-listed clients without touching the store", async () => {
    const policy = examplePolicy();
    const blocked = await pipelineFor(policy, downStore).evaluate({ method: "GET", path: "/api/v1/search", headers: new Map([["x-forwarded-for", "198.51.100.1"]]) });
    expect(blocked.decision).toMatchObject({ action: "block", rule: "list:blocked", degraded: false, risk: 100 });
    const partner = await pipelineFor(policy, downStore).evaluate({ method: "GET", path: "/api/v1/search", headers: new Map([["x-forwarded-for", "203.0.113.3"]]) });
    expect(partner.decision).toMatchObject({ action: "allow", rule: "list:partners", degraded: false });
  });

  it("names a pseudonymous subject, never the raw username or IP", async () => {
    const { decision } = await pipelineFor(burstRules()).evaluate(loginAttempt("203.0.113.12", "carol@example.com"));
    expect(decision.subject).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(decision)).not.toMatch(/carol|203\.0\.113\.12/);
  });
});
