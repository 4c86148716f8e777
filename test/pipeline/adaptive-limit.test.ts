import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import type { HttpAttributes } from "../../src/domain/request.js";
import type { Pipeline } from "../../src/pipeline/pipeline.js";
import { testDecisionCore } from "../support/decision-core.js";
import { minimalPolicyDocument, policyFile, repoRoot } from "../support/policies.js";

const T0 = Date.UTC(2026, 10, 24, 9);

describe("adaptive throttling through the pipeline", () => {
  const policy = policyFile(minimalPolicyDocument({
    endpoints: [{ name: "search", match: { path: "/search" } }],
    rules: [
      { id: "adaptive", when: "true", action: "throttle", scope: "ip", limit: { requests: 10, window: "1m", floor: 2 } },
    ],
    reputation: { lists: [{ name: "suspect", effect: "label", weight: 80, cidrs: ["198.18.0.0/24"] }] },
  }));
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = (await testDecisionCore(policy, { clock: { now: () => T0 } })).pipeline;
  });
  const search = (ip: string, i: number): HttpAttributes => ({ method: "GET", path: "/search", headers: new Map([["x-forwarded-for", ip]]), timeMs: T0 + i });

  async function firstThrottled(ip: string) {
    for (let i = 1; i <= 20; i++) {
      const { decision } = await pipeline.evaluate(search(ip, i));
      if (decision.action === "throttle") return { at: i, decision };
    }
    return undefined;
  }

  it("gives a clean client its full limit and a risky one the shrunken limit, with RateLimit figures", async () => {
    const clean = await firstThrottled("192.0.2.10");
    expect(clean?.at).toBe(11);
    expect(clean?.decision.rateLimit).toEqual({ limit: 10, remaining: 0, resetSeconds: 60, windowSeconds: 60 });
    expect(clean?.decision.reasons).toContainEqual(expect.objectContaining({ code: "limit.adaptive", value: 11, threshold: 10 }));

    const risky = await firstThrottled("198.18.0.7"); // risk 80: 2 + 8 × 0.2 = 3 requests
    expect(risky?.at).toBe(4);
    expect(risky?.decision).toMatchObject({ risk: 80, rule: "adaptive", retryAfterSeconds: 60, rateLimit: { limit: 3 } });
  });
});

describe("the example in docs/responses.md", () => {
  // The rule as the doc shows it, and a client at risk 80: 10 + 110 × 0.2 = 32 requests a minute.
  const policy = policyFile(minimalPolicyDocument({
    endpoints: [{ name: "search", match: { path: "/search" } }],
    rules: [{ id: "search-fair-use", endpoints: ["search"], when: "true", action: "throttle", scope: "ip", limit: { requests: 120, window: "1m", floor: 10 } }],
    reputation: { lists: [{ name: "suspect", effect: "label", weight: 80, cidrs: ["198.18.0.0/24"] }] },
  }));

  it("throttles the 33rd request in a minute with the figures the doc quotes", async () => {
    const { pipeline } = await testDecisionCore(policy, { clock: { now: () => T0 } });
    let at: number | undefined;
    for (let i = 1; i <= 40 && at === undefined; i++) {
      const { decision } = await pipeline.evaluate({ method: "GET", path: "/search", headers: new Map([["x-forwarded-for", "198.18.0.9"]]), timeMs: T0 + i });
      if (decision.action === "throttle") {
        at = i;
        expect(decision).toMatchObject({ risk: 80, retryAfterSeconds: 60, rateLimit: { limit: 32, remaining: 0, resetSeconds: 60, windowSeconds: 60 } });
      }
    }
    expect(at).toBe(33);
    const doc = readFileSync(`${repoRoot}docs/responses.md`, "utf8");
    expect(doc).toContain("# at risk 80 the 33rd request in a minute gets: 429, retry-after: 60,");
    expect(doc).toContain('ratelimit-policy: "default";q=32;w=60, ratelimit: "default";r=0;t=60');
  });
});
