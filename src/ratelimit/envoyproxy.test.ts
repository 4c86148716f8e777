import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../state/memory-store.js";
import { StoreUnavailableError, type Store } from "../state/store.js";
import type { RateLimitConfig } from "./config.js";
import { parseDomainFile } from "./config-loader.js";
import { RateLimiter, type DescriptorEvent } from "./limiter.js";
import { RateLimitUnavailableError, type RateLimitDescriptor } from "./request.js";

/**
 * `ratelimitCompat: envoyproxy` in process, on the in-memory store: the rules envoyproxy.ts
 * lists (every hit counted, fixed windows on the epoch, 0 remaining once over, quota and shadow
 * modes, the headers and dynamic metadata Envoy gets). The integration suite replays that
 * project's own sequences through gRPC on Redis when its files are at hand; this one runs always.
 */

/** 12:00:05 on a minute's clock: 55 s left of the minute, 3,595 s of the hour. */
const T0 = Date.UTC(2026, 10, 24, 12, 0, 5);
const UINT32_MAX = 4_294_967_295;

const CONFIG = `
domain: shop
descriptors:
  - key: ip
    rate_limit: { unit: minute, requests_per_unit: 3 }
  - key: user
    rate_limit: { name: per_user, unit: hour, requests_per_unit: 2 }
    metadata: { tier: { name: free }, plan: basic }
  - key: plan
    metadata: { tier: { quota: 10 }, plan: ignored }
    rate_limit: { unit: minute, requests_per_unit: 5 }
  - key: trial
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: partner
    rate_limit: { unlimited: true }
  - key: quota_a
    quota_mode: true
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: quota_b
    quota_mode: true
    rate_limit: { unit: minute, requests_per_unit: 2 }
`;

function setUp(options: { yaml?: string; store?: Store; stopIncrementWhenOverLimit?: boolean } = {}) {
  const domain = parseDomainFile(options.yaml ?? CONFIG, "shop.yaml")!;
  const config: RateLimitConfig = { domains: new Map([[domain.domain, domain]]) };
  let now = T0;
  const events: DescriptorEvent[] = [];
  const unknown: string[] = [];
  const limiter = new RateLimiter({
    config: () => config,
    store: options.store ?? new MemoryStore(),
    pseudonymise: (identity) => createHash("sha256").update(identity).digest("base64url").slice(0, 22),
    clock: { now: () => now },
    observer: { descriptor: (event) => events.push(event), unknownDomain: (name) => unknown.push(name), storeUnavailable: () => {} },
    compat: "envoyproxy",
    stopIncrementWhenOverLimit: options.stopIncrementWhenOverLimit ?? false,
  });
  const ask = (descriptors: RateLimitDescriptor[], hits = 0, domainName = "shop") => limiter.shouldRateLimit({ domain: domainName, descriptors, hits });
  return { ask, events, unknown, advance: (ms: number) => void (now += ms) };
}

const d = (key: string, value: string, hits?: number): RateLimitDescriptor => ({ entries: [{ key, value }], ...(hits === undefined ? {} : { hits }) });

describe("envoyproxy/ratelimit compatibility", () => {
  it("counts every hit on a fixed window aligned to the epoch, and reports 0 remaining once over", async () => {
    const { ask, advance } = setUp();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await ask([d("ip", "10.0.0.1")]));
    expect(answers.map((a) => a.overallCode)).toEqual(["OK", "OK", "OK", "OVER_LIMIT"]);
    expect(answers[0]!.statuses).toEqual([
      { code: "OK", currentLimit: { requestsPerUnit: 3, unit: "minute", windowMs: 60_000 }, limitRemaining: 2, durationUntilResetMs: 55_000 },
    ]);
    expect(answers[3]!.statuses[0]).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0, durationUntilResetMs: 55_000 });
    expect(answers[3]!.responseHeaders).toEqual([
      ["x-ratelimit-limit", "3"],
      ["x-ratelimit-remaining", "0"],
      ["x-ratelimit-reset", "55"],
    ]);
    // A denied request was counted too (INCRBY happens first): the fifth is over as well.
    expect((await ask([d("ip", "10.0.0.1")])).overallCode).toBe("OVER_LIMIT");
    // The window ends with the minute, not a minute after the first request.
    advance(55_000);
    expect((await ask([d("ip", "10.0.0.1")])).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 2, durationUntilResetMs: 60_000 });
  });

  it("adds the request's and the descriptor's hits, and a check with 0 hits is over only beyond the limit", async () => {
    const { ask } = setUp();
    expect((await ask([d("ip", "10.0.0.2")], 3)).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
    expect((await ask([d("ip", "10.0.0.2", 0)])).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
    expect((await ask([d("ip", "10.0.0.2", 1)])).statuses[0]).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0 });
    expect((await ask([d("ip", "10.0.0.3", 4)])).overallCode).toBe("OVER_LIMIT");
  });

  it("with stopIncrementWhenOverLimit counts only the descriptors going over once one would", async () => {
    const { ask } = setUp({ stopIncrementWhenOverLimit: true });
    const both = () => ask([d("ip", "10.0.0.4"), d("plan", "p1")]);
    for (let i = 0; i < 3; i++) expect((await both()).overallCode).toBe("OK");
    const over = await both();
    expect(over.statuses.map((s) => [s.code, s.limitRemaining])).toEqual([["OVER_LIMIT", 0], ["OK", 2]]);
    // The plan's counter was not incremented by the denied request: still 2 remaining.
    expect((await ask([d("plan", "p1")], 0)).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 1 });
    // Without the option the denied request counts everywhere.
    const counting = setUp();
    for (let i = 0; i < 4; i++) await counting.ask([d("ip", "10.0.0.4"), d("plan", "p1")]);
    expect((await counting.ask([d("plan", "p1")], 0)).statuses[0]).toMatchObject({ limitRemaining: 0 });
  });

  it("answers shadow-mode descriptors OK and says in the metadata that one was over", async () => {
    const { ask, events } = setUp();
    expect((await ask([d("trial", "t")])).metadata).toEqual({ domain: "shop" });
    const over = await ask([d("trial", "t")]);
    expect(over.overallCode).toBe("OK");
    expect(over.statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
    expect(over.metadata).toEqual({ domain: "shop", shadow_over_limit: true });
    expect(events.at(-1)).toMatchObject({ overLimit: true, shadowMode: true });
  });

  it("denies on quota descriptors only when every one of the request's is over", async () => {
    const { ask } = setUp();
    const quotas = () => ask([d("quota_a", "x"), d("quota_b", "x")]);
    expect((await quotas()).overallCode).toBe("OK");
    const aOver = await quotas();
    expect(aOver.statuses.map((s) => s.code)).toEqual(["OVER_LIMIT", "OK"]);
    expect(aOver.overallCode).toBe("OK");
    const bothOver = await quotas();
    expect(bothOver.statuses.map((s) => s.code)).toEqual(["OVER_LIMIT", "OVER_LIMIT"]);
    expect(bothOver.overallCode).toBe("OVER_LIMIT");
    // The headers come from a plain descriptor over its limit, never from an over quota alone.
    expect(bothOver.responseHeaders).toEqual([
      ["x-ratelimit-limit", "1"],
      ["x-ratelimit-remaining", "0"],
      ["x-ratelimit-reset", "55"],
    ]);
  });

  it("answers unlimited and unmatched descriptors OK without a limit, and headers from the fewest remaining", async () => {
    const { ask } = setUp();
    const answer = await ask([d("partner", "p"), d("nothing", "x"), d("plan", "p2"), d("ip", "10.0.0.5")], 2);
    expect(answer.statuses).toEqual([
      { code: "OK", limitRemaining: UINT32_MAX },
      { code: "OK", limitRemaining: 0 },
      { code: "OK", currentLimit: { requestsPerUnit: 5, unit: "minute", windowMs: 60_000 }, limitRemaining: 3, durationUntilResetMs: 55_000 },
      { code: "OK", currentLimit: { requestsPerUnit: 3, unit: "minute", windowMs: 60_000 }, limitRemaining: 1, durationUntilResetMs: 55_000 },
    ]);
    expect(answer.responseHeaders).toEqual([
      ["x-ratelimit-limit", "3"],
      ["x-ratelimit-remaining", "1"],
      ["x-ratelimit-reset", "55"],
    ]);
    expect((await ask([d("partner", "p"), d("nothing", "x")])).responseHeaders).toEqual([]);
  });

  it("names the rule of a named limit and resets an hourly window with the hour", async () => {
    const { ask } = setUp();
    expect((await ask([d("user", "u1")])).statuses[0]).toEqual({
      code: "OK", currentLimit: { name: "per_user", requestsPerUnit: 2, unit: "hour", windowMs: 3_600_000 }, limitRemaining: 1, durationUntilResetMs: 3_595_000,
    });
  });

  it("sends Envoy the descriptors, the hits and the metadata of every descriptor that passed, first one winning", async () => {
    const { ask } = setUp();
    const answer = await ask([d("user", "u2"), d("plan", "p3", 2)], 1);
    expect(answer.envoyMetadata).toEqual({
      domain: "shop",
      descriptors: [{ entries: ["user=u2"] }, { entries: ["plan=p3"], hitsAddend: 2 }],
      hitsAddend: 1,
      // Two mappings under one key merge; any other key keeps the first descriptor's value.
      metadata: { tier: { name: "free", quota: 10 }, plan: "basic" },
    });
    await ask([d("user", "u3")], 2);
    const overUser = await ask([d("user", "u3"), d("plan", "p4")]);
    expect(overUser.envoyMetadata).toEqual({
      domain: "shop",
      descriptors: [{ entries: ["user=u3"] }, { entries: ["plan=p4"] }],
      metadata: { tier: { quota: 10 }, plan: "ignored" },
    });
  });

  it("answers a domain nobody configured OK with no limits, and tells the observer", async () => {
    const { ask, unknown } = setUp();
    const answer = await ask([d("ip", "10.0.0.6")], 0, "elsewhere");
    expect(answer.overallCode).toBe("OK");
    expect(answer.statuses).toEqual([{ code: "OK", limitRemaining: 0 }]);
    expect(unknown).toEqual(["elsewhere"]);
  });

  it("reports near-limit hits and over-limit descriptors to statistics", async () => {
    const { ask, events } = setUp({ yaml: "domain: shop\ndescriptors:\n  - key: ip\n    rate_limit: { unit: minute, requests_per_unit: 10 }\n" });
    await ask([d("ip", "a")], 7);
    expect(events.at(-1)).toMatchObject({ overLimit: false, nearLimitHits: 0 });
    await ask([d("ip", "a")], 2);
    // 9 of 10 after the request; near the limit from 8 (80%): 1 of its 2 hits.
    expect(events.at(-1)).toMatchObject({ overLimit: false, nearLimitHits: 1 });
    await ask([d("ip", "a")], 2);
    expect(events.at(-1)).toMatchObject({ overLimit: true, nearLimitHits: 0 });
  });

  it("decides as the domain's failure_mode says when the store cannot count", async () => {
    const down: Store = { kind: "down", apply: () => Promise.reject(new StoreUnavailableError("down")), observeBaseline: () => Promise.reject(new StoreUnavailableError("down")), ping: async () => false, close: async () => {} };
    const yaml = (mode: string) => `domain: shop\nfailure_mode: ${mode}\ndescriptors:\n  - key: ip\n    rate_limit: { unit: minute, requests_per_unit: 3 }\n`;
    await expect(setUp({ store: down }).ask([d("ip", "x")])).rejects.toBeInstanceOf(RateLimitUnavailableError);
    await expect(setUp({ store: down, yaml: yaml("error") }).ask([d("ip", "x")])).rejects.toBeInstanceOf(RateLimitUnavailableError);
    // open: as though nothing had been counted before this request; closed: as though the counter were full.
    expect((await setUp({ store: down, yaml: yaml("open") }).ask([d("ip", "x")])).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 2 });
    expect((await setUp({ store: down, yaml: yaml("closed") }).ask([d("ip", "x")])).statuses[0]).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0 });
  });

  it("takes the headers from the last plain descriptor over its limit, not the last one counted", async () => {
    const { ask } = setUp();
    for (let i = 0; i < 3; i++) await ask([d("ip", "10.0.0.7")]);
    // ip over, plan still OK: the headers are ip's although plan comes later.
    expect((await ask([d("ip", "10.0.0.7"), d("plan", "p5")])).responseHeaders).toEqual([
      ["x-ratelimit-limit", "3"],
      ["x-ratelimit-remaining", "0"],
      ["x-ratelimit-reset", "55"],
    ]);
    // Both over: the last one's.
    expect((await ask([d("ip", "10.0.0.7"), d("plan", "p5")], 5)).responseHeaders[0]).toEqual(["x-ratelimit-limit", "5"]);
  });

  it("flags a shadow descriptor over its limit when the request's others are not", async () => {
    const { ask } = setUp();
    await ask([d("trial", "t2")]);
    expect((await ask([d("trial", "t2"), d("ip", "10.0.0.8")])).metadata).toEqual({ domain: "shop", shadow_over_limit: true });
  });

  it("sends no hitsAddend, metadata or rule name that was not there", async () => {
    const { ask } = setUp();
    const answer = await ask([d("ip", "10.0.0.9")]);
    expect(answer.envoyMetadata).toStrictEqual({ domain: "shop", descriptors: [{ entries: ["ip=10.0.0.9"] }] });
    expect(Object.keys(answer.statuses[0]!.currentLimit!)).toEqual(["requestsPerUnit", "unit", "windowMs"]);
  });

  it("passes on a store error that is not an outage, and names the domain of one that is", async () => {
    const bug = new Error("a bug in the store");
    const broken: Store = { kind: "broken", apply: () => Promise.reject(bug), observeBaseline: () => Promise.reject(bug), ping: async () => true, close: async () => {} };
    await expect(setUp({ store: broken }).ask([d("ip", "x")])).rejects.toBe(bug);
    const outage = new StoreUnavailableError("down");
    const down: Store = { kind: "down", apply: () => Promise.reject(outage), observeBaseline: () => Promise.reject(outage), ping: async () => false, close: async () => {} };
    await expect(setUp({ store: down }).ask([d("ip", "x")])).rejects.toMatchObject({ message: 'the store cannot count for domain "shop"', cause: outage });
  });
});
