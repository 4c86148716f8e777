import { describe, expect, it } from "vitest";
import { minimalPolicy, minimalPolicyDocument } from "../../test/support/policies.js";
import type { Signal } from "../detection/signal.js";
import { decide } from "./decide.js";
import type { NormalisedRequest } from "../domain/request.js";

/** The login endpoint of the minimal policy, to declare again with more fields. */
const LOGIN = ((minimalPolicyDocument().spec as { endpoints: Record<string, unknown>[] }).endpoints[0])!;

const request: NormalisedRequest = { method: "GET", path: "/", query: "", host: "", headers: new Map(), headerShape: "", timeMs: 0, anomalies: [] };

describe("the per-Check rule evaluation budget", () => {
  const policy = minimalPolicy({
    rules: [
      { id: "first", when: "risk >= 0", action: "challenge" },
      { id: "second", when: "risk >= 0", action: "block" },
      { id: "third", when: "risk >= 0", action: "block" },
    ],
  });

  it("stops evaluating past the budget: the rest count as not matching, and the decision says so", () => {
    let now = 0;
    let exceeded = 0;
    // Each reading of the clock advances it 15 ms: the first rule runs, the second finds the budget spent.
    const verdict = decide({
      policy,
      request,
      endpoint: undefined,
      signals: [],
      standing: undefined,
      degraded: false,
      ruleBudget: { now: () => (now += 15), ms: 20, onBudgetExceeded: () => exceeded++ },
    });
    expect(verdict.decision.action).toBe("challenge");
    expect(verdict.decision.reasons).toContainEqual({ code: "policy.evaluation_budget", value: 2, weight: 0 });
    expect(exceeded).toBe(1);
  });

  it("evaluates every rule within the budget", () => {
    const verdict = decide({ policy, request, endpoint: undefined, signals: [], standing: undefined, degraded: false, ruleBudget: { now: () => 0, ms: 20 } });
    expect(verdict.decision.action).toBe("block");
    expect(verdict.decision.reasons).toEqual([]);
  });
});

describe("what a rule may read of the request", () => {
  /** One rule, the given condition, blocking when it holds: which requests does it block? */
  const matches = (when: string, input: { request?: Partial<NormalisedRequest>; onLogin?: boolean; signals?: readonly Signal[] }) => {
    const policy = minimalPolicy({ endpoints: [{ ...LOGIN, sensitivity: "critical", authentication: true }], rules: [{ id: "r", when, action: "block" }] });
    const endpoint = input.onLogin ? policy.endpoints[0] : undefined;
    const verdict = decide({ policy, request: { ...request, ...input.request }, endpoint, signals: [...(input.signals ?? [])], standing: undefined, degraded: false });
    return verdict.decision.action === "block";
  };

  it.each([
    ['request.endpoint == "login"', { onLogin: true }, {}],
    ['request.endpoint == ""', {}, { onLogin: true }],
    ['request.sensitivity == "critical"', { onLogin: true }, {}],
    ['request.sensitivity == ""', {}, { onLogin: true }],
    ["request.authentication", { onLogin: true }, {}],
    ["!request.authentication", {}, { onLogin: true }],
    ['request.subnet == "203.0.113.0/24"', { request: { subnet: "203.0.113.0/24" } }, {}],
    ['request.subnet == ""', {}, { request: { subnet: "203.0.113.0/24" } }],
    ["request.has_username", { request: { usernameId: "u" } }, {}],
    ["!request.has_username", {}, { request: { usernameId: "u" } }],
    ["request.has_session", { request: { sessionId: "s" } }, {}],
    ["!request.has_session", {}, { request: { sessionId: "s" } }],
    ['request.user_agent == "curl/8.5"', { request: { headers: new Map([["user-agent", "curl/8.5"]]) } }, {}],
    ['request.user_agent == ""', {}, { request: { headers: new Map([["user-agent", "curl/8.5"]]) } }],
    ['signal["velocity.ip"] > 3', { signals: [{ code: "velocity.ip", value: 4, weight: 0, fired: false }] }, {}],
    ['request.country == "NZ"', { request: { country: "NZ" } }, {}],
    ['request.country == ""', {}, { request: { country: "NZ" } }],
    ["request.asn == 64500", { request: { asn: 64500 } }, {}],
    ["request.asn == 0", {}, { request: { asn: 64500 } }],
    ["request.hosting", { request: { hosting: true } }, {}],
    ["!request.hosting", {}, { request: { hosting: true } }],
    ['request.method == "POST"', { request: { method: "POST" } }, {}],
    ['request.query == "q=1"', { request: { query: "q=1" } }, {}],
    ['request.host == "shop.example"', { request: { host: "shop.example" } }, {}],
    ['request.path == "/cart"', { request: { path: "/cart" } }, {}],
    ['request.headers["x-app"] == "1"', { request: { headers: new Map([["x-app", "1"]]) } }, {}],
  ] as const)("%s holds for one request and not for the other", (when, holds, fails) => {
    expect(matches(when, holds)).toBe(true);
    expect(matches(when, fails)).toBe(false);
  });
});

describe("a throttle's retry time", () => {
  const policy = minimalPolicy({ rules: [{ id: "slow", when: "risk >= 10", action: "throttle" }] });
  const counter = (code: string, windowMs: number, fired = true): Signal => ({ code, value: 5, threshold: 3, weight: 10, fired, windowMs });

  it("comes from the fired counter with the longest window, and a counter that did not fire is no limit", () => {
    const signals = [counter("velocity.ip", 60_000), counter("velocity.subnet", 600_000), counter("velocity.user", 3_600_000, false)];
    const verdict = decide({ policy, request, endpoint: undefined, signals, standing: undefined, degraded: false });
    expect(verdict.decision.action).toBe("throttle");
    expect(verdict.decision.retryAfterSeconds).toBe(600);
  });
});

describe("choosing among matching rules", () => {
  const decideWith = (rules: Record<string, unknown>[], signals: Signal[] = []) =>
    decide({ policy: minimalPolicy({ rules }), request, endpoint: undefined, signals, standing: undefined, degraded: false }).decision;

  it("takes the heaviest action, and the first declared of equal ones", () => {
    expect(decideWith([{ id: "a", when: "true", action: "block" }, { id: "b", when: "true", action: "block" }]).rule).toBe("a");
    expect(decideWith([{ id: "a", when: "true", action: "challenge" }, { id: "b", when: "true", action: "block" }]).rule).toBe("b");
    expect(decideWith([{ id: "a", when: "true", action: "block" }, { id: "b", when: "true", action: "challenge" }]).rule).toBe("a");
  });

  it("gives a throttle no retry time and no rate limit when no fired counter has a window, and the rule's own retry time when it has one", () => {
    const windowless: Signal = { code: "client.odd", value: 1, weight: 10, fired: true };
    const bare = decideWith([{ id: "slow", when: "true", action: "throttle" }], [windowless]);
    expect(bare).toMatchObject({ action: "throttle", rule: "slow" });
    expect(bare.retryAfterSeconds).toBeUndefined();
    expect(bare.rateLimit).toBeUndefined();
    const own = decideWith([{ id: "slow", when: "true", action: "throttle", retryAfter: "90s" }], [windowless]);
    expect(own.retryAfterSeconds).toBe(90);
  });

  it("describes the rate limit a throttle applies from the counter that set it", () => {
    const counter: Signal = { code: "velocity.ip", value: 5, threshold: 3, weight: 10, fired: true, windowMs: 90_500 };
    const throttled = decideWith([{ id: "slow", when: "true", action: "throttle" }], [counter]);
    expect(throttled.rateLimit).toEqual({ limit: 3, remaining: 0, resetSeconds: 91, windowSeconds: 91 });
    const blocked = decideWith([{ id: "stop", when: "true", action: "block" }], [counter]);
    expect(blocked.rateLimit).toBeUndefined();
    expect(blocked.retryAfterSeconds).toBeUndefined();
  });
});

describe("when the store is unavailable", () => {
  const policy = minimalPolicy({ failMode: "closed" });

  it("fails closed with the policy's mode unless the endpoint says otherwise, and names the cause", () => {
    const closed = decide({ policy, request, endpoint: undefined, signals: [], standing: undefined, degraded: true });
    expect(closed.decision).toMatchObject({ action: "throttle", rule: "fail-closed" });
    expect(closed.decision.reasons).toContainEqual({ code: "store.unavailable", value: 1, weight: 0 });
    const open = decide({ policy, request, endpoint: { ...policy.endpoints[0]!, failMode: "open" }, signals: [], standing: undefined, degraded: true });
    expect(open.decision.action).toBe("allow");
    expect(open.unavailable).toBe(false);
    const error = decide({ policy, request, endpoint: { ...policy.endpoints[0]!, failMode: "error" }, signals: [], standing: undefined, degraded: true });
    expect(error).toMatchObject({ unavailable: true, decision: { action: "allow" } });
  });
});
