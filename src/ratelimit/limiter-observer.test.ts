import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../state/memory-store.js";
import { StoreUnavailableError, type Store } from "../state/store.js";
import type { RateLimitConfig } from "./config.js";
import { parseDomainFile } from "./config-loader.js";
import { MAX_DESCRIPTORS, RateLimiter, type DescriptorEvent } from "./limiter.js";
import { RateLimitRequestError, type RateLimitDescriptor } from "./request.js";

/**
 * What the rate limiter tells statistics and Envoy besides the statuses: one event per
 * descriptor a limit applied to, the store's absence, the highest risk among the descriptors,
 * a shadow breach; and which requests it refuses outright.
 */

const T0 = 1_700_000_040_000;

const CONFIG = `
domain: shop
descriptors:
  - key: ip
    rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: search
    rate_limit: { unit: minute, requests_per_unit: 10, risk_floor: 0.5 }
  - key: trial
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: partner
    rate_limit: { unlimited: true }
`;

function setUp(options: { store?: Store; failureMode?: string } = {}) {
  const yaml = options.failureMode ? CONFIG.replace("domain: shop\n", `domain: shop\nfailure_mode: ${options.failureMode}\n`) : CONFIG;
  const domain = parseDomainFile(yaml, "shop.yaml")!;
  const config: RateLimitConfig = { domains: new Map([[domain.domain, domain]]) };
  const events: DescriptorEvent[] = [];
  const unavailable: string[] = [];
  const unknown: string[] = [];
  const limiter = new RateLimiter({
    config: () => config,
    store: options.store ?? new MemoryStore(),
    pseudonymise: (identity) => createHash("sha256").update(identity).digest("base64url").slice(0, 22),
    clock: { now: () => T0 },
    observer: {
      descriptor: (event) => events.push(event),
      unknownDomain: (name) => unknown.push(name),
      storeUnavailable: (name, mode) => unavailable.push(`${name} ${mode}`),
    },
  });
  const ask = (descriptors: RateLimitDescriptor[], hits = 0, domainName = "shop") => limiter.shouldRateLimit({ domain: domainName, descriptors, hits });
  return { ask, events, unavailable, unknown };
}

const d = (...pairs: [string, string][]): RateLimitDescriptor => ({ entries: pairs.map(([key, value]) => ({ key, value })) });
const down: Store = {
  kind: "down",
  apply: () => Promise.reject(new StoreUnavailableError("down")),
  observeBaseline: () => Promise.reject(new StoreUnavailableError("down")),
  ping: async () => false,
  close: async () => {},
};

describe("rate limiter: what statistics and Envoy learn", () => {
  it("reports one event per descriptor a limit applied to, over or not, and none for descriptors no rule matched", async () => {
    const { ask, events } = setUp();
    await ask([d(["ip", "a"]), d(["nothing", "x"]), d(["partner", "p"])], 2);
    expect(events).toEqual([
      { domain: "shop", statsKey: expect.any(String), rollupStatsKey: expect.any(String), hits: 2, overLimit: false, nearLimitHits: expect.any(Number), shadowMode: false, fromCache: false },
      { domain: "shop", statsKey: expect.any(String), rollupStatsKey: expect.any(String), hits: 2, overLimit: false, nearLimitHits: 0, shadowMode: false, fromCache: false },
    ]);
    await ask([d(["ip", "a"])]);
    expect(events.at(-1)).toMatchObject({ hits: 1, overLimit: true, fromCache: false });
    // Over once, the next answer comes from the replica's cache without the store.
    await ask([d(["ip", "a"])]);
    expect(events.at(-1)).toMatchObject({ overLimit: true, fromCache: true });
  });

  it("marks a shadow descriptor's breach in its event and in the metadata, and answers OK", async () => {
    const { ask, events } = setUp();
    expect((await ask([d(["trial", "t"])])).metadata).toEqual({ domain: "shop" });
    const over = await ask([d(["trial", "t"])]);
    expect(over.overallCode).toBe("OK");
    expect(over.metadata).toEqual({ domain: "shop", shadow_over_limit: true });
    expect(events.at(-1)).toMatchObject({ overLimit: true, shadowMode: true });
    // A plain descriptor over its limit is no shadow breach.
    await ask([d(["ip", "b"])], 2);
    expect((await ask([d(["ip", "b"])])).metadata).toEqual({ domain: "shop" });
  });

  it("reports the highest risk among the request's descriptors, and none without one", async () => {
    const { ask } = setUp();
    const risky = await ask([d(["search", "s1"], ["palisade_risk", "40"]), d(["search", "s2"], ["palisade_risk", "90"]), d(["ip", "c"])]);
    expect(risky.metadata).toEqual({ domain: "shop", risk: 90 });
    expect((await ask([d(["search", "s3"])])).metadata).toEqual({ domain: "shop" });
  });

  it("tells the observer when the store cannot count, with the failure mode that decided", async () => {
    const open = setUp({ store: down, failureMode: "open" });
    const answer = await open.ask([d(["ip", "x"])]);
    expect(answer.statuses).toEqual([{ code: "OK", limitRemaining: 0 }]);
    expect(answer.metadata).toEqual({ domain: "shop", degraded: true });
    expect(open.unavailable).toEqual(["shop open"]);
    // Failing open, the descriptor was never evaluated: no statistics event pretends it was.
    expect(open.events).toEqual([]);
    const healthy = setUp();
    await healthy.ask([d(["ip", "x"])]);
    expect(healthy.unavailable).toEqual([]);
  });

  it("answers a domain nobody configured OK per descriptor and tells the observer", async () => {
    const { ask, unknown, events } = setUp();
    const answer = await ask([d(["ip", "x"]), d(["ip", "y"])], 0, "elsewhere");
    expect(answer).toMatchObject({ overallCode: "OK", statuses: [{ code: "OK", limitRemaining: 0 }, { code: "OK", limitRemaining: 0 }], metadata: { domain: "elsewhere" } });
    expect(unknown).toEqual(["elsewhere"]);
    expect(events).toEqual([]);
  });

  it(`refuses an empty domain, no descriptors and more than ${MAX_DESCRIPTORS}, and takes exactly ${MAX_DESCRIPTORS}`, async () => {
    const { ask } = setUp();
    const many = (n: number) => Array.from({ length: n }, (_, i) => d(["nothing", String(i)]));
    await expect(ask([d(["ip", "x"])], 0, "")).rejects.toThrow(new RateLimitRequestError("rate limit domain must not be empty"));
    await expect(ask([])).rejects.toThrow(new RateLimitRequestError("rate limit descriptor list must not be empty"));
    await expect(ask(many(MAX_DESCRIPTORS + 1))).rejects.toThrow(new RateLimitRequestError(`at most ${MAX_DESCRIPTORS} descriptors per request, got ${MAX_DESCRIPTORS + 1}`));
    expect((await ask(many(MAX_DESCRIPTORS))).statuses).toHaveLength(MAX_DESCRIPTORS);
  });
});

describe("rate limiter: how a descriptor's status is chosen", () => {
  const limiterWith = (yaml: string, store: Store = new MemoryStore(), now = T0 + 10_000) => {
    const domain = parseDomainFile(yaml, "shop.yaml")!;
    const events: DescriptorEvent[] = [];
    const limiter = new RateLimiter({
      config: () => ({ domains: new Map([[domain.domain, domain]]) }),
      store,
      pseudonymise: (identity) => createHash("sha256").update(identity).digest("base64url").slice(0, 22),
      clock: { now: () => now },
      observer: { descriptor: (event) => events.push(event), unknownDomain: () => {}, storeUnavailable: () => {} },
    });
    const ask = (descriptor: RateLimitDescriptor, hits = 0) => limiter.shouldRateLimit({ domain: "shop", descriptors: [descriptor], hits });
    return { ask, events };
  };

  it("counts the hits near the limit (above 80% of it) once, and none once over", async () => {
    const { ask, events } = limiterWith("domain: shop\ndescriptors:\n  - key: ip\n    rate_limit: { unit: minute, requests_per_unit: 10 }\n");
    await ask(d(["ip", "a"]), 7);
    expect(events.at(-1)!.nearLimitHits).toBe(0);
    await ask(d(["ip", "a"]), 2); // 9 of 10: the hit past 8 is near the limit
    expect(events.at(-1)!.nearLimitHits).toBe(1);
    await ask(d(["ip", "a"]), 1); // 10 of 10: its one hit
    expect(events.at(-1)!.nearLimitHits).toBe(1);
    await ask(d(["ip", "a"]), 1);
    expect(events.at(-1)).toMatchObject({ overLimit: true, nearLimitHits: 0 });
  });

  it("binds the window with the fewest remaining, and of equal ones the one that resets last", async () => {
    const { ask } = limiterWith(
      "domain: shop\ndescriptors:\n  - key: api\n    rate_limit:\n      name: api_key\n      unit: minute\n      requests_per_unit: 3\n      burst: { unit: second, requests_per_unit: 3 }\n",
    );
    // 2 remaining in both: the minute resets last, so that is when the client may retry.
    expect((await ask(d(["api", "k"]))).statuses[0]).toEqual({
      code: "OK", currentLimit: { name: "api_key", requestsPerUnit: 3, unit: "minute", windowMs: 60_000 }, limitRemaining: 2, durationUntilResetMs: 50_000,
    });
    const { ask: fewer } = limiterWith("domain: shop\ndescriptors:\n  - key: api\n    rate_limit:\n      unit: minute\n      requests_per_unit: 5\n      burst: { unit: second, requests_per_unit: 2 }\n");
    expect((await fewer(d(["api", "k"]))).statuses[0]).toEqual({
      code: "OK", currentLimit: { requestsPerUnit: 2, unit: "second", windowMs: 1_000 }, limitRemaining: 1, durationUntilResetMs: 1_000,
    });
  });

  it("fails closed with the first window's limit and nothing remaining, naming the rule", async () => {
    const { ask } = limiterWith("domain: shop\nfailure_mode: closed\ndescriptors:\n  - key: ip\n    rate_limit: { name: per_ip, unit: minute, requests_per_unit: 3 }\n", down);
    expect((await ask(d(["ip", "a"]))).statuses[0]).toEqual({
      code: "OVER_LIMIT", currentLimit: { name: "per_ip", requestsPerUnit: 3, unit: "minute", windowMs: 60_000 }, limitRemaining: 0, durationUntilResetMs: 50_000,
    });
  });

  it("takes the highest of several risk entries, ignores one that is not a number, and counts odd hits as one", async () => {
    const { ask } = limiterWith("domain: shop\ndescriptors:\n  - key: search\n    rate_limit: { unit: minute, requests_per_unit: 10, risk_floor: 0.2 }\n");
    const risky = await ask(d(["search", "s"], ["palisade_risk", "20"], ["palisade_risk", "100"], ["palisade_risk", "oops"]));
    expect(risky.statuses[0]?.currentLimit?.requestsPerUnit).toBe(2);
    expect(risky.metadata.risk).toBe(100);
    // Only unreadable risk entries: no risk at all, the full limit, and the same counter as before.
    const unknown = await ask(d(["search", "s"], ["palisade_risk", "oops"]));
    expect(unknown.statuses[0]).toMatchObject({ currentLimit: { requestsPerUnit: 10 }, limitRemaining: 8 });
    expect(unknown.metadata.risk).toBeUndefined();
    const remaining = [];
    for (const hits of [Number.NaN, -3, Number.POSITIVE_INFINITY]) remaining.push((await ask({ ...d(["search", "t"]), hits })).statuses[0]?.limitRemaining);
    expect(remaining).toEqual([9, 8, 7]);
  });
});
