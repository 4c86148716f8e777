import { describe, expect, it } from "vitest";
import { minimalPolicy } from "../../test/support/policies.js";
import { createPipeline } from "./pipeline.js";
import type { HttpAttributes } from "../domain/request.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { MemoryStore } from "../state/memory-store.js";
import { effectiveLimit } from "../response/throttle.js";

const T0 = Date.UTC(2026, 10, 24, 9);

describe("effectiveLimit", () => {
  const limit = { requests: 100, windowMs: 60_000, floor: 10 };
  it.each([
    [0, 100],
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

describe("adaptive throttling through the pipeline", () => {
  const policy = minimalPolicy({
    endpoints: [{ name: "search", match: { path: "/search" } }],
    rules: [
      { id: "adaptive", when: "true", action: "throttle", scope: "ip", limit: { requests: 10, window: "1m", floor: 2 } },
    ],
    reputation: { lists: [{ name: "suspect", effect: "label", weight: 80, cidrs: ["198.18.0.0/24"] }] },
  });
  const pipeline = createPipeline({
    store: new MemoryStore(),
    pseudonymiser: new HmacPseudonymiser({ current: Buffer.alloc(32, 3) }),
    policy: () => policy,
    clock: { now: () => T0 },
    eventTime: { maxSkewMs: 60_000, trust: true },
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
