import { describe, expect, it } from "vitest";
import type { Signal } from "../detection/signal.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint, CompiledPolicy, CompiledRule } from "../policy/compile.js";
import { MemoryStore } from "../state/memory-store.js";
import { entityOf } from "./quarantine-record.js";
import { planRelief } from "./relief.js";
import { planResponse } from "./store-reads.js";
import { effectiveLimit, judgeLimit, planAdaptiveLimits } from "./throttle.js";

describe("effectiveLimit", () => {
  const limit = { requests: 100, windowMs: 60_000, floor: 10 };
  it.each([
    [0, 100],
    [1, 99],
    [33, 70],
    [50, 55],
    [99, 10],
    [100, 10],
    [-5, 100],
    [250, 10],
  ])("at risk %i allows %i", (risk, expected) => expect(effectiveLimit(limit, risk)).toBe(expected));

  it("never goes below the floor or above the full limit", () => {
    for (let risk = 0; risk <= 100; risk++) {
      const allowed = effectiveLimit(limit, risk);
      expect(allowed).toBeGreaterThanOrEqual(10);
      expect(allowed).toBeLessThanOrEqual(100);
      if (risk > 0) expect(allowed).toBeLessThanOrEqual(effectiveLimit(limit, risk - 1));
    }
  });
});

const T0 = Date.UTC(2026, 11, 6, 12);
const request = (ids: Partial<NormalisedRequest>) => ids as NormalisedRequest;
const endpoint = (name: string) => ({ name }) as CompiledEndpoint;
const rule = (id: string, fields: Partial<CompiledRule>) => ({ id, action: "deny", scope: "ip", shadow: false, cost: 1, ...fields }) as CompiledRule;
const policyOf = (...rules: CompiledRule[]) => ({ rules }) as unknown as CompiledPolicy;

const perIp = rule("login-ip", { scope: "ip", endpoints: new Set(["login"]), limit: { requests: 5, windowMs: 60_000, floor: 1 } });
const perUser = rule("any-user", { scope: "username", limit: { requests: 3, windowMs: 1_500, floor: 1 }, retryAfterMs: 2_500 });
const unlimited = rule("plain", { scope: "ip" });

/** The Check's batch: each planned op applied to the store at `nowMs`, then the plan evaluated. */
async function countAt(store: MemoryStore, ids: Partial<NormalisedRequest>, on: string, nowMs: number, policy = policyOf(perIp, perUser, unlimited)) {
  const plan = planAdaptiveLimits(request(ids), endpoint(on), policy);
  const results = await Promise.all(plan.ops.map(({ entity, op }) => store.apply(entity, [op], nowMs).then(([r]) => r ?? 0)));
  return plan.evaluate(results);
}

describe("planAdaptiveLimits", () => {
  it("counts one request per limited rule that applies, on the entity of the rule's scope", () => {
    const plan = planAdaptiveLimits(request({ ipId: "i-1", usernameId: "u-1" }), endpoint("login"), policyOf(perIp, perUser, unlimited));
    expect(plan.ops).toEqual([
      { entity: entityOf("ip", "i-1"), op: { op: "window.add", name: "lim:login-ip", windowMs: 60_000, amount: 1 } },
      { entity: entityOf("username", "u-1"), op: { op: "window.add", name: "lim:any-user", windowMs: 1_500, amount: 1 } },
    ]);
  });

  it("skips a rule of other endpoints and a rule whose scope the request has no value for", () => {
    const elsewhere = planAdaptiveLimits(request({ ipId: "i-1", usernameId: "u-1" }), endpoint("search"), policyOf(perIp, perUser));
    expect(elsewhere.ops.map((o) => o.op)).toEqual([expect.objectContaining({ name: "lim:any-user" })]);
    const anonymous = planAdaptiveLimits(request({ ipId: "i-1" }), endpoint("login"), policyOf(perIp, perUser));
    expect(anonymous.ops.map((o) => o.op)).toEqual([expect.objectContaining({ name: "lim:login-ip" })]);
    const none = planAdaptiveLimits(request({}), endpoint("login"), policyOf(perIp, perUser, unlimited));
    expect(none.ops).toEqual([]);
    expect(none.evaluate([])).toEqual([]);
  });

  it("reads each count as a signal that is not a finding by itself, in the order of the ops", () => {
    const plan = planAdaptiveLimits(request({ ipId: "i-1", usernameId: "u-1" }), endpoint("login"), policyOf(perIp, perUser));
    expect(plan.evaluate([4, 2.345])).toEqual([
      { code: "limit.login-ip", value: 4, weight: 0, fired: false, windowMs: 60_000 },
      { code: "limit.any-user", value: 2.35, weight: 0, fired: false, windowMs: 1_500 },
    ]);
    // A missing result (a store that answered nothing) reads as no requests yet.
    expect(plan.evaluate([]).map((s) => s.value)).toEqual([0, 0]);
  });

  it("counts every request of the window per subject, and forgets them as the window slides", async () => {
    const store = new MemoryStore();
    const values = async (ids: Partial<NormalisedRequest>, nowMs: number) => (await countAt(store, ids, "login", nowMs)).map((s) => `${s.code}=${s.value}`);
    expect(await values({ ipId: "i-1", usernameId: "u-1" }, T0)).toEqual(["limit.login-ip=1", "limit.any-user=1"]);
    expect(await values({ ipId: "i-1", usernameId: "u-2" }, T0 + 100)).toEqual(["limit.login-ip=2", "limit.any-user=1"]);
    expect(await values({ ipId: "i-2", usernameId: "u-1" }, T0 + 200)).toEqual(["limit.login-ip=1", "limit.any-user=2"]);
    // The username's 1.5 s window has let go of its first requests; the IP's minute has not.
    expect(await values({ ipId: "i-1", usernameId: "u-1" }, T0 + 5_000)).toEqual(["limit.login-ip=3", "limit.any-user=1"]);
  });

  it("is the first of the response engine's store reads, before friction relief", () => {
    const plans = planResponse(request({ ipId: "i-1", usernameId: "u-1" }), endpoint("login"), policyOf(perIp));
    expect(plans).toHaveLength(2);
    expect(plans[0]!.ops.map((o) => o.op)).toEqual([expect.objectContaining({ op: "window.add", name: "lim:login-ip" })]);
    expect(plans[1]!.ops).toEqual(planRelief(request({ ipId: "i-1", usernameId: "u-1" })).ops);
  });
});

describe("judgeLimit", () => {
  const count = (code: string, value: number): Signal => ({ code, value, weight: 0, fired: false });

  it("lets a rule act only when the count is beyond the limit for the client's risk", () => {
    // At risk 0 the full 5 requests are allowed: the fifth is not over, the sixth is.
    expect(judgeLimit(perIp, [count("limit.login-ip", 5)], 0)?.over).toBe(false);
    expect(judgeLimit(perIp, [count("limit.login-ip", 6)], 0)?.over).toBe(true);
    // At risk 100 only the floor of 1 is: the second request is over.
    expect(judgeLimit(perIp, [count("limit.login-ip", 1)], 100)?.over).toBe(false);
    expect(judgeLimit(perIp, [count("limit.login-ip", 2)], 100)?.over).toBe(true);
  });

  it("gives the reason with the count, the limit it was held to and the scope's window", () => {
    const verdict = judgeLimit(perIp, [count("limit.other", 50), count("limit.login-ip", 4)], 50);
    expect(verdict).toEqual({
      over: true,
      reason: { code: "limit.login-ip", value: 4, threshold: 3, weight: 0, detail: "ip per 60s at risk 50" },
      rateLimit: { limit: 3, remaining: 0, resetSeconds: 60, windowSeconds: 60 },
    });
  });

  it("says what remains of the allowance, and when to come back: the rule's retry time or else the whole window", () => {
    expect(judgeLimit(perIp, [count("limit.login-ip", 2)], 0)?.rateLimit).toEqual({ limit: 5, remaining: 3, resetSeconds: 60, windowSeconds: 60 });
    expect(judgeLimit(perIp, [count("limit.login-ip", 2.5)], 0)?.rateLimit.remaining).toBe(2);
    // Windows and retry times round up to whole seconds: 1.5 s is 2, 2.5 s is 3.
    expect(judgeLimit(perUser, [count("limit.any-user", 1)], 0)?.rateLimit).toEqual({ limit: 3, remaining: 2, resetSeconds: 3, windowSeconds: 2 });
    expect(judgeLimit(perUser, [count("limit.any-user", 1)], 0)?.reason.detail).toBe("username per 2s at risk 0");
  });

  it("has nothing to say of a rule without a limit, or one the request was not counted for", () => {
    expect(judgeLimit(unlimited, [count("limit.plain", 100)], 100)).toBeUndefined();
    expect(judgeLimit(perIp, [count("limit.any-user", 100)], 100)).toBeUndefined();
    expect(judgeLimit(perIp, [], 0)).toBeUndefined();
  });
});
