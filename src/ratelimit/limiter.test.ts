import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { failureKindOf } from "../domain/errors.js";
import { MemoryStore } from "../state/memory-store.js";
import { ResilientStore } from "../state/resilient-store.js";
import { StoreUnavailableError, type EntityOp, type Store } from "../state/store.js";
import type { RateLimitConfig } from "./config.js";
import { parseDomainFile } from "./config-loader.js";
import { RateLimiter, type DescriptorEvent } from "./limiter.js";
import { RateLimitRequestError, RateLimitUnavailableError, type RateLimitDescriptor } from "./request.js";

/** On a minute boundary, so every window used here starts at T0. */
const T0 = 1_700_000_040_000;

const CONFIG = `
domain: shop
descriptors:
  - key: ip
    rate_limit: { unit: minute, requests_per_unit: 3 }
  - key: search
    rate_limit: { unit: minute, requests_per_unit: 5, algorithm: sliding_window, risk_floor: 0.2 }
  - key: api
    rate_limit:
      unit: minute
      requests_per_unit: 5
      burst: { unit: second, requests_per_unit: 2 }
  - key: trial
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: partner
    rate_limit: { unlimited: true }
  - key: region
    rate_limit: { name: per_region, unit: minute, requests_per_unit: 9 }
  - key: tier
    value: standard
    descriptors:
      - key: user
        rate_limit: { name: per_user, unit: minute, requests_per_unit: 2 }
  - key: tier
    value: premium
    descriptors:
      - key: user
        rate_limit: { replaces: [{ name: per_user }], unit: minute, requests_per_unit: 4 }
`;

/** A store that counts the calls that reach it, and can be switched off. */
class WatchedStore implements Store {
  readonly kind = "watched";
  readonly inner = new MemoryStore();
  calls = 0;
  up = true;
  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    this.calls++;
    if (!this.up) throw new StoreUnavailableError("down");
    return this.inner.apply(entity, ops, nowMs);
  }
  observeBaseline: Store["observeBaseline"] = (...args) => this.inner.observeBaseline(...args);
  ping = async () => this.up;
  close = async () => {};
}

function setUp(options: { yaml?: string; store?: Store } = {}) {
  const domain = parseDomainFile(options.yaml ?? CONFIG, "test.yaml")!;
  const config: RateLimitConfig = { domains: new Map([[domain.domain, domain]]) };
  const store = options.store ?? new WatchedStore();
  let now = T0;
  const events: DescriptorEvent[] = [];
  const limiter = new RateLimiter({
    config: () => config,
    store,
    pseudonymise: (identity) => createHash("sha256").update(identity).digest("base64url").slice(0, 22),
    clock: { now: () => now },
    observer: { descriptor: (event) => events.push(event), unknownDomain: () => {}, storeUnavailable: () => {} },
  });
  const ask = (descriptors: RateLimitDescriptor[], hits = 0, domainName = "shop") =>
    limiter.shouldRateLimit({ domain: domainName, descriptors, hits });
  return { limiter, store, events, ask, advance: (ms: number) => void (now += ms) };
}

const d = (...pairs: [string, string][]): RateLimitDescriptor => ({ entries: pairs.map(([key, value]) => ({ key, value })) });
const codes = (decision: { statuses: { code: string }[] }) => decision.statuses.map((status) => status.code);

describe("RateLimiter", () => {
  it("counts a fixed window and answers one status per descriptor, in order", async () => {
    const { ask, advance } = setUp();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await ask([d(["ip", "10.0.0.1"]), d(["unknown", "x"])]));
    expect(answers.map((a) => a.overallCode)).toEqual(["OK", "OK", "OK", "OVER_LIMIT"]);
    expect(answers[1]!.statuses).toEqual([
      { code: "OK", currentLimit: { requestsPerUnit: 3, unit: "minute", windowMs: 60_000 }, limitRemaining: 1, durationUntilResetMs: 60_000 },
      { code: "OK", limitRemaining: 0 },
    ]);
    expect(answers[3]!.statuses[0]).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0 });
    expect(answers[3]!.responseHeaders).toEqual([
      ["x-ratelimit-limit", "3, 3;w=60"],
      ["x-ratelimit-remaining", "0"],
      ["x-ratelimit-reset", "60"],
    ]);
    advance(60_000);
    expect((await ask([d(["ip", "10.0.0.1"])])).overallCode).toBe("OK");
  });

  it("does not let a denied request eat the quota", async () => {
    const { ask } = setUp();
    expect((await ask([d(["ip", "10.0.0.2"])], 5)).overallCode).toBe("OVER_LIMIT");
    const after = await ask([d(["ip", "10.0.0.2"])], 3);
    expect(after.overallCode).toBe("OK");
    expect(after.statuses[0]?.limitRemaining).toBe(0);
  });

  it("enforces a burst and a sustained limit on one key, counting a request in both or neither", async () => {
    const { ask, advance } = setUp();
    const api = () => ask([d(["api", "key-1"])]);
    expect(codes(await api())).toEqual(["OK"]);
    expect((await api()).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0, currentLimit: { requestsPerUnit: 2, unit: "second" } });
    expect((await api()).statuses[0]).toMatchObject({ code: "OVER_LIMIT", currentLimit: { requestsPerUnit: 2 } });
    advance(1_000);
    expect(codes(await api())).toEqual(["OK"]);
    expect((await api()).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
    advance(1_000);
    // The sustained limit (5 a minute) was not eaten by the burst-denied request: 4 counted so far.
    expect((await api()).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0, currentLimit: { requestsPerUnit: 5, unit: "minute" } });
    expect((await api()).statuses[0]).toMatchObject({ code: "OVER_LIMIT", currentLimit: { requestsPerUnit: 5 } });
  });

  it("slides a sliding window across the window edge", async () => {
    const { ask, advance } = setUp();
    for (let i = 0; i < 5; i++) await ask([d(["search", "c1"])]);
    advance(60_000 + 30_000); // half of the previous window still counts: 2.5 of 5
    expect((await ask([d(["search", "c1"])], 2)).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
    expect((await ask([d(["search", "c1"])])).overallCode).toBe("OVER_LIMIT");
  });

  it("scales a limit by the client's risk, keeps one counter across risks, and reports the risk", async () => {
    const { ask } = setUp();
    const search = (risk: string) => ask([d(["search", "c2"], ["palisade_risk", risk])]);
    const risky = await search("100");
    expect(risky.statuses[0]?.currentLimit?.requestsPerUnit).toBe(1); // 5 × 0.2
    expect(risky.metadata).toEqual({ domain: "shop", risk: 100 });
    expect((await search("100")).overallCode).toBe("OVER_LIMIT");
    expect((await search("50")).statuses[0]).toMatchObject({ code: "OK", currentLimit: { requestsPerUnit: 3 }, limitRemaining: 1 });
    expect((await search("not a number")).statuses[0]?.currentLimit?.requestsPerUnit).toBe(5);
  });

  it("lets a replacing limit decide alone where both apply", async () => {
    const { ask } = setUp();
    const both = () => ask([d(["tier", "standard"], ["user", "u1"]), d(["tier", "premium"], ["user", "u1"])]);
    for (let i = 0; i < 4; i++) expect((await both()).statuses[0]).toEqual({ code: "OK", limitRemaining: 0 });
    expect(codes(await both())).toEqual(["OK", "OVER_LIMIT"]);
    // The replaced limit counted nothing meanwhile.
    expect((await ask([d(["tier", "standard"], ["user", "u1"])])).statuses[0]?.limitRemaining).toBe(1);
  });

  it("answers OK in shadow mode, but reports and counts the breach", async () => {
    const { ask, events } = setUp();
    await ask([d(["trial", "t1"])]);
    const breach = await ask([d(["trial", "t1"])]);
    expect(breach.overallCode).toBe("OK");
    expect(breach.statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
    expect(breach.metadata.shadow_over_limit).toBe(true);
    expect(events.at(-1)).toMatchObject({ statsKey: "trial", overLimit: true, shadowMode: true });
  });

  it("answers unlimited descriptors without the store, with statistics", async () => {
    const { ask, store, events } = setUp();
    const answer = await ask([d(["partner", "feed"])], 7);
    expect(answer.statuses).toEqual([{ code: "OK", limitRemaining: 0xffff_ffff }]);
    expect((store as WatchedStore).calls).toBe(0);
    expect(events).toEqual([expect.objectContaining({ statsKey: "partner", hits: 7, overLimit: false })]);
  });

  it("applies a limit Envoy sends with the descriptor instead of the configured one", async () => {
    const { ask } = setUp();
    const override = { ...d(["ip", "10.0.0.3"]), limit: { requestsPerUnit: 1, unit: "hour" as const } };
    expect((await ask([override])).statuses[0]).toMatchObject({ code: "OK", currentLimit: { requestsPerUnit: 1, unit: "hour" } });
    expect((await ask([override])).overallCode).toBe("OVER_LIMIT");
    const unconfigured = { ...d(["nothing", "here"]), limit: { requestsPerUnit: 1, unit: "second" as const } };
    expect((await ask([unconfigured])).statuses[0]?.currentLimit).toMatchObject({ requestsPerUnit: 1 });
  });

  it("counts the same descriptor sent twice all or nothing, each status from its own count", async () => {
    const { ask } = setUp();
    // 1 hit fits the limit of 3, then 5 more would not: neither is counted.
    const both = await ask([{ ...d(["ip", "10.0.0.7"]), hits: 1 }, { ...d(["ip", "10.0.0.7"]), hits: 5 }]);
    expect(both.overallCode).toBe("OVER_LIMIT");
    expect(codes(both)).toEqual(["OK", "OVER_LIMIT"]);
    expect(both.statuses[0]!.limitRemaining).toBe(3); // its hit was not counted either
    expect((await ask([d(["ip", "10.0.0.7"])], 1)).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 2 });
    // Both fit: both counted, the second seeing the first's hit.
    const fitting = await ask([{ ...d(["ip", "10.0.0.8"]), hits: 1 }, { ...d(["ip", "10.0.0.8"]), hits: 1 }]);
    expect(fitting.statuses.map(({ code, limitRemaining }) => [code, limitRemaining])).toEqual([
      ["OK", 2],
      ["OK", 1],
    ]);
  });

  it("rejects a store's bug instead of answering it as the store being unavailable", async () => {
    const broken: Store = { ...new WatchedStore(), kind: "broken", apply: () => Promise.reject(new TypeError("a bug in the store")) };
    await expect(setUp({ store: broken }).ask([d(["ip", "1"])])).rejects.toThrow(TypeError);
    await expect(setUp({ yaml: CONFIG.replace("domain: shop", "domain: shop\nfailure_mode: open"), store: broken }).ask([d(["ip", "1"])])).rejects.toThrow(
      "a bug in the store",
    );
  });

  it("honours hits: 0 means 1 for the request, a descriptor's own 0 only checks", async () => {
    const { ask } = setUp();
    await ask([d(["ip", "10.0.0.4"])], 0);
    const check = await ask([{ ...d(["ip", "10.0.0.4"]), hits: 0 }]);
    expect(check.statuses[0]).toMatchObject({ code: "OK", limitRemaining: 2 });
    await ask([{ ...d(["ip", "10.0.0.4"]), hits: 2 }], 1);
    expect((await ask([{ ...d(["ip", "10.0.0.4"]), hits: 0 }])).overallCode).toBe("OVER_LIMIT");
  });

  it("counts a huge cost as over the limit, and nothing", async () => {
    const { ask } = setUp();
    expect((await ask([{ ...d(["ip", "10.0.0.5"]), hits: Number.MAX_SAFE_INTEGER * 4 }])).overallCode).toBe("OVER_LIMIT");
    expect((await ask([d(["ip", "10.0.0.5"])])).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 2 });
  });

  it("answers a client already over its limit from the local cache, counting nothing anywhere", async () => {
    const { ask, store, events } = setUp();
    for (let i = 0; i < 4; i++) await ask([d(["ip", "10.0.0.6"])]);
    const callsBefore = (store as WatchedStore).calls;
    for (let i = 0; i < 50; i++) await ask([d(["ip", "10.0.0.6"])]);
    expect((store as WatchedStore).calls).toBe(callsBefore);
    const answers = [];
    for (let i = 0; i < 50; i++) answers.push(await ask([d(["ip", "10.0.0.6"]), d(["api", "key-2"])]));
    expect(answers.every((a) => a.overallCode === "OVER_LIMIT")).toBe(true);
    // The descriptor beside it is read, not counted, and reports its own limit.
    expect(answers[0]!.statuses[1]).toMatchObject({ code: "OK", currentLimit: { requestsPerUnit: expect.any(Number) }, durationUntilResetMs: expect.any(Number) });
    expect(events.at(-2)).toMatchObject({ overLimit: true, fromCache: true });
    expect(codes(await ask([d(["api", "key-2"])]))).toEqual(["OK"]); // its quota is untouched
  });

  it("denies on quota_mode limits only once all of the request's are spent, and returns the passed ones' metadata", async () => {
    const yaml = `
domain: shop
descriptors:
  - key: service
    value: one
    quota_mode: true
    metadata: { route: { name: one } }
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: service
    value: two
    quota_mode: true
    metadata: { route: { name: two } }
    rate_limit: { unit: minute, requests_per_unit: 2 }
`;
    const { ask } = setUp({ yaml });
    const both = () => ask([d(["service", "one"]), d(["service", "two"])]);
    expect(await both()).toMatchObject({ overallCode: "OK", metadata: { metadata: { route: { name: "one" } } } });
    expect(await both()).toMatchObject({ overallCode: "OK", statuses: [{ code: "OVER_LIMIT" }, { code: "OK" }], metadata: { metadata: { route: { name: "two" } } } });
    const spent = await both();
    expect(spent).toMatchObject({ overallCode: "OVER_LIMIT", statuses: [{ code: "OVER_LIMIT" }, { code: "OVER_LIMIT" }] });
    expect(spent.metadata.metadata).toBeUndefined();
  });

  it("answers unknown domains OK with no limits, and refuses malformed requests", async () => {
    const { ask, limiter } = setUp();
    expect(await ask([d(["ip", "1"])], 0, "elsewhere")).toMatchObject({ overallCode: "OK", statuses: [{ code: "OK", limitRemaining: 0 }] });
    await expect(ask([], 0)).rejects.toThrow(RateLimitRequestError);
    // The transport answers by the error's catalogued code: INVALID_ARGUMENT, not INTERNAL.
    const refusal: unknown = await ask([], 0).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ name: "RateLimitRequestError" });
    expect(failureKindOf(refusal)).toBe("invalid");
    await expect(ask([d(["ip", "1"])], 0, "")).rejects.toThrow(/domain must not be empty/);
    const many = Array.from({ length: 65 }, (_, i) => d(["ip", String(i)]));
    await expect(limiter.shouldRateLimit({ domain: "shop", descriptors: many, hits: 1 })).rejects.toThrow(/at most 64/);
  });

  it("keeps counters bounded whatever the values: one hashed entity per descriptor", async () => {
    const store = new MemoryStore();
    const { ask } = setUp({ store });
    await ask([d(["ip", "x".repeat(100_000)])]);
    expect(store.size).toBe(1);
  });
});

describe("RateLimiter when the store cannot answer", () => {
  const withMode = (mode: string) => CONFIG.replace("domain: shop", `domain: shop\nfailure_mode: ${mode}`);
  const down = () => {
    const store = new WatchedStore();
    store.up = false;
    return store;
  };

  it("fails with RateLimitUnavailableError by default, never an accidental OK", async () => {
    const { ask } = setUp({ store: down() });
    await expect(ask([d(["ip", "1"])])).rejects.toThrow(RateLimitUnavailableError);
    // Answered gRPC UNAVAILABLE (a retry may cure it), with the store's failure as its cause.
    const failure: unknown = await ask([d(["ip", "1"])]).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: "RateLimitUnavailableError", cause: expect.any(StoreUnavailableError) });
    expect(failureKindOf(failure)).toBe("unavailable");
    expect((await ask([d(["partner", "p"])])).overallCode).toBe("OK"); // nothing to count: no store needed
  });

  it("answers OK when the domain fails open, OVER_LIMIT when it fails closed", async () => {
    const open = await setUp({ yaml: withMode("open"), store: down() }).ask([d(["ip", "1"])]);
    expect(open).toMatchObject({ overallCode: "OK", statuses: [{ code: "OK", limitRemaining: 0 }], metadata: { degraded: true } });
    const closed = await setUp({ yaml: withMode("closed"), store: down() }).ask([d(["ip", "1"]), d(["trial", "t"])]);
    expect(codes(closed)).toEqual(["OVER_LIMIT", "OK"]); // shadow mode still never denies
    expect(closed.metadata.degraded).toBe(true);
  });

  it("counts on this replica's local state when the domain says local", async () => {
    const { ask } = setUp({ yaml: withMode("local"), store: new ResilientStore(down(), new MemoryStore()) });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await ask([d(["ip", "1"])]));
    expect(answers.map((a) => a.overallCode)).toEqual(["OK", "OK", "OK", "OVER_LIMIT"]);
    expect(answers[0]!.metadata.degraded).toBe(true);
    // Without local state to fall back on, local cannot decide either.
    await expect(setUp({ yaml: withMode("local"), store: down() }).ask([d(["ip", "1"])])).rejects.toThrow(RateLimitUnavailableError);
  });

  it("does not take local answers for shared ones when the domain says error", async () => {
    const { ask } = setUp({ store: new ResilientStore(down(), new MemoryStore()) });
    await expect(ask([d(["ip", "1"])])).rejects.toThrow(RateLimitUnavailableError);
  });
});

describe("RateLimiter: what a descriptor is planned against", () => {
  it("drops a limit another limit of the same request names in its replaces, and counts nothing for it", async () => {
    const { ask } = setUp();
    const standard = d(["tier", "standard"], ["user", "u1"]);
    const premium = d(["tier", "premium"], ["user", "u1"]);
    const both = await ask([standard, premium]);
    // per_user is replaced: OK with no limit, as an unmatched descriptor; the premium limit applies.
    expect(both.statuses).toEqual([
      { code: "OK", limitRemaining: 0 },
      { code: "OK", currentLimit: { requestsPerUnit: 4, unit: "minute", windowMs: 60_000 }, limitRemaining: 3, durationUntilResetMs: 60_000 },
    ]);
    // Alone, per_user applies, and the replaced request above did not count against it.
    expect((await ask([standard])).statuses[0]).toMatchObject({ code: "OK", currentLimit: { name: "per_user", requestsPerUnit: 2 }, limitRemaining: 1 });
    // A named limit that no replaces names still applies beside the replacement.
    expect((await ask([premium, d(["region", "eu"])])).statuses[1]).toMatchObject({ code: "OK", currentLimit: { name: "per_region", requestsPerUnit: 9 } });
    // Nothing replaces anything in a request without the replacing limit: both plain limits apply.
    expect(codes(await ask([standard, d(["ip", "10.0.0.9"])]))).toEqual(["OK", "OK"]);
    expect((await ask([standard])).overallCode).toBe("OVER_LIMIT");
  });

  it("reads the risk only from risk entries, and scales only limits that have a risk floor", async () => {
    const { ask } = setUp();
    // A request value that reads as a number is not a risk: the search limit stays 5 at risk 0.
    const search = await ask([d(["search", "100"], ["palisade_risk", "0"])]);
    expect(search.statuses[0]?.currentLimit?.requestsPerUnit).toBe(5);
    // The ip limit has no risk_floor: a risk entry leaves it at 3.
    expect((await ask([d(["ip", "10.0.0.10"], ["palisade_risk", "100"])])).statuses[0]?.currentLimit?.requestsPerUnit).toBe(3);
  });

  it("keeps limits Envoy sends out of quota mode: one over denies the request", async () => {
    const { ask } = setUp();
    const tight = { ...d(["ip", "10.0.0.11"]), limit: { requestsPerUnit: 1, unit: "hour" as const } };
    const loose = { ...d(["ip", "10.0.0.12"]), limit: { requestsPerUnit: 100, unit: "hour" as const } };
    expect((await ask([tight, loose])).overallCode).toBe("OK");
    const second = await ask([tight, loose]);
    expect(codes(second)).toEqual(["OVER_LIMIT", "OK"]);
    expect(second.overallCode).toBe("OVER_LIMIT");
  });
});
