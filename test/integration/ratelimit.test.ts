/**
 * ShouldRateLimit through the whole service: a client built from Envoy's own protos, the gRPC
 * server on its real port, counters in a private redis-server. The configuration directory holds
 * the bundled storefront example and a file written in envoyproxy/ratelimit's format only.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import {
  descriptor,
  envoyRateLimitClient,
  rateLimitMetadata,
  responseHeader,
  type EnvoyRateLimiter,
  type EnvoyRateLimitRequest,
} from "../support/envoy-ratelimit-client.js";
import { envoyAuthzClient, metadata } from "../support/envoy-client.js";
import { repoRoot } from "../support/policies.js";

/** Noon UTC: every window used here (second to day) is far from its edge. */
const NOON = Date.UTC(2026, 10, 24, 12, 0, 0);
const UINT32_MAX = 4_294_967_295;

let redis: RedisServerHandle;
let inspector: Redis;
let app: App;
let client: EnvoyRateLimiter;
let configDir: string;
let now = NOON;
let counter = 0;

/** A value no other test uses, so counters never leak between tests. */
const fresh = (prefix: string) => `${prefix}-${++counter}`;
const ask = (request: EnvoyRateLimitRequest) => client.shouldRateLimit(request);
const messaging = (...descriptors: ReturnType<typeof descriptor>[]) => ask({ domain: "messaging", descriptors });
const storefront = (...descriptors: ReturnType<typeof descriptor>[]) => ask({ domain: "storefront", descriptors });

beforeAll(async () => {
  configDir = mkdtempSync(join(tmpdir(), "palisade-ratelimit-"));
  copyFileSync(join(repoRoot, "examples", "ratelimit.yaml"), join(configDir, "storefront.yaml"));
  copyFileSync(join(repoRoot, "test", "fixtures", "ratelimit", "valid", "envoyproxy-style.yaml"), join(configDir, "messaging.yaml"));
  redis = await startRedisServer();
  inspector = new Redis(redis.url);
  // A generous store timeout: on a loaded CI machine one slow reply would otherwise make the
  // store "unavailable" for a second, and every domain here fails with UNAVAILABLE then.
  app = await startTestApp({ redisUrl: redis.url, ratelimitConfig: configDir, storeTimeout: 1_000 }, { clock: { now: () => now } });
  client = envoyRateLimitClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  client?.close();
  inspector?.disconnect();
  await app?.stop();
  await redis?.stop();
  rmSync(configDir, { recursive: true, force: true });
});

beforeEach(() => void (now = NOON));

describe("a configuration written as envoyproxy/ratelimit documents it", () => {
  it("limits nested descriptors with a default key, one status per descriptor in order", async () => {
    const number = fresh("206");
    const marketing = descriptor(["message_type", "marketing"], ["to_number", number]);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await messaging(marketing, descriptor(["to_number", number])));
    expect(answers.map((a) => a.overall_code)).toEqual(["OK", "OK", "OK", "OVER_LIMIT"]);
    expect(answers[2]!.statuses).toMatchObject([
      { code: "OK", current_limit: { name: "", requests_per_unit: 3, unit: "DAY" }, limit_remaining: 0, duration_until_reset: { seconds: 12 * 3600, nanos: 0 } },
      { code: "OK", current_limit: { name: "", requests_per_unit: 50, unit: "DAY" }, limit_remaining: 47, duration_until_reset: { seconds: 12 * 3600, nanos: 0 } },
    ]);
    expect(answers[3]!.statuses.map((s) => s.code)).toEqual(["OVER_LIMIT", "OK"]);
  });

  it("prefers the most specific descriptor: a listed value over the key's default", async () => {
    const blocked = await messaging(descriptor(["to_number", "5550100"]));
    expect(blocked).toMatchObject({ overall_code: "OVER_LIMIT", statuses: [{ current_limit: { requests_per_unit: 0 }, limit_remaining: 0 }] });
    expect((await messaging(descriptor(["to_number", fresh("555")]))).statuses[0]?.current_limit?.requests_per_unit).toBe(50);
  });

  it("answers unlimited descriptors OK with the most remaining, and unmatched ones OK without a limit", async () => {
    const answer = await messaging(descriptor(["sender", "billing"]), descriptor(["nothing", "matches"]), descriptor(["to_number", "1"], ["extra", "2"]));
    expect(answer.overall_code).toBe("OK");
    expect(answer.statuses).toMatchObject([
      { code: "OK", current_limit: null, limit_remaining: UINT32_MAX, duration_until_reset: null },
      { code: "OK", current_limit: null, limit_remaining: 0, duration_until_reset: null },
      { code: "OK", current_limit: null, limit_remaining: 0, duration_until_reset: null },
    ]);
  });

  it("lets shadow-mode limits through while counting the breach", async () => {
    const trial = descriptor(["sender", fresh("shop")], ["account", "trial"]);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await messaging(trial));
    expect(answers.map((a) => a.overall_code)).toEqual(["OK", "OK", "OK", "OK"]);
    expect(rateLimitMetadata(answers[3]!)).toMatchObject({ shadow_over_limit: true });
    expect(await app.metrics.metricsText()).toMatch(/ratelimit_service_rate_limit_shadow_mode\{domain="messaging",key="sender.account_trial"\} [1-9]/);
  });

  it("drops a replaced limit where the replacing one applies, and leaves it counting elsewhere", async () => {
    const user = fresh("user");
    const both = () => messaging(descriptor(["tier", "standard"], ["user", user]), descriptor(["tier", "boosted"], ["user", user]));
    const answers = [];
    for (let i = 0; i < 9; i++) answers.push(await both());
    expect(answers[0]!.statuses[0]).toMatchObject({ current_limit: null });
    expect(answers.map((a) => a.overall_code).lastIndexOf("OK")).toBe(7); // 8 a minute
    const standardAlone = await messaging(descriptor(["tier", "standard"], ["user", user]));
    expect(standardAlone.statuses[0]).toMatchObject({ code: "OK", limit_remaining: 3 });
  });

  it("matches value prefixes and keeps statistics per value where detailed_metric asks", async () => {
    const answer = await messaging(descriptor(["region", "eu-west-1"]));
    expect(answer.statuses[0]?.current_limit?.requests_per_unit).toBe(5);
    expect(await app.metrics.metricsText()).toContain('ratelimit_service_rate_limit_total_hits{domain="messaging",key="region_eu-west-1"} 1');
  });
});

describe("the storefront example, with Palisade's extensions", () => {
  it("adds Envoy's x-ratelimit headers from the tightest limit, burst and sustained on one key", async () => {
    const ip = fresh("198.51.100");
    const answer = await storefront(descriptor(["remote_address", ip]), descriptor(["endpoint", "search"], ["remote_address", ip]));
    expect(answer.statuses.map((s) => [s.current_limit?.requests_per_unit, s.current_limit?.unit, s.limit_remaining])).toEqual([
      [30, "SECOND", 29],
      [60, "MINUTE", 59],
    ]);
    expect(answer.response_headers_to_add.map((header) => [header.key, header.value])).toEqual([
      ["x-ratelimit-limit", '30, 30;w=1;name="per_address", 60;w=60'],
      ["x-ratelimit-remaining", "29"],
      ["x-ratelimit-reset", "1"],
    ]);
  });

  it("windows of any length: a login limit per 5 minutes", async () => {
    const ip = fresh("login");
    const answer = await storefront(descriptor(["endpoint", "login"], ["remote_address", ip]));
    expect(answer.statuses[0]).toMatchObject({ current_limit: { requests_per_unit: 20, unit: "MINUTE" }, duration_until_reset: { seconds: 300 } });
    expect(responseHeader(answer, "x-ratelimit-limit")).toBe("20, 20;w=300");
  });

  it("scales limits by the risk in the palisade_risk entry, keeps one counter, and reports the risk", async () => {
    const ip = fresh("risky");
    const search = (risk: string) => storefront(descriptor(["endpoint", "search"], ["remote_address", ip], ["palisade_risk", risk]));
    const risky = await search("100");
    expect(risky.statuses[0]).toMatchObject({ current_limit: { requests_per_unit: 30 }, limit_remaining: 29 });
    expect(rateLimitMetadata(risky)).toEqual({ domain: "storefront", risk: 100 });
    expect((await search("0")).statuses[0]).toMatchObject({ current_limit: { requests_per_unit: 60 }, limit_remaining: 58 });
  });

  it("takes the risk from the ext_authz decision, as Envoy's metadata action copies risk_text", async () => {
    const authz = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
    // Logins from a whole /24: velocity.subnet (weight 20) asks for MFA, and the request goes on.
    const login = (host: number) =>
      authz.check({ method: "POST", path: "/api/v1/login", ip: `100.64.9.${host}`, headers: { "content-type": "application/json" }, body: `{"username":"u${host}@example.com"}` });
    let decision = await login(1);
    for (let host = 2; host <= 61; host++) decision = await login(host);
    authz.close();
    const { action, risk, risk_text: riskText } = metadata(decision) as { action: string; risk: number; risk_text: string };
    expect(action).toBe("step_up"); // allowed: the request goes on to the rate-limit filter
    expect(risk).toBeGreaterThan(0);
    expect(riskText).toBe(String(risk));
    const answer = await storefront(descriptor(["endpoint", "search"], ["remote_address", "100.64.9.61"], ["palisade_risk", riskText]));
    expect(answer.statuses[0]?.current_limit?.requests_per_unit).toBe(Math.floor(60 * (1 - 0.5 * (risk / 100)) + 1e-9)); // risk_floor 0.5
    expect(rateLimitMetadata(answer).risk).toBe(risk);
  });

  it("honours hits_addend, and a request that would exceed the limit counts nothing", async () => {
    const ip = fresh("bulk");
    const search = descriptor(["endpoint", "search"], ["remote_address", ip]);
    expect((await ask({ domain: "storefront", descriptors: [search], hits_addend: 50 })).statuses[0]?.limit_remaining).toBe(10);
    expect((await ask({ domain: "storefront", descriptors: [search], hits_addend: 11 })).overall_code).toBe("OVER_LIMIT");
    expect((await ask({ domain: "storefront", descriptors: [search], hits_addend: 10 })).statuses[0]).toMatchObject({ code: "OK", limit_remaining: 0 });
  });

  it("honours a descriptor's own hits_addend, where 0 only checks (newer Envoys send it)", async () => {
    const ours = envoyRateLimitClient(`127.0.0.1:${app.grpcPort}`, { ours: true });
    try {
      const search = descriptor(["endpoint", "search"], ["remote_address", fresh("own")]);
      const check = await ours.shouldRateLimit({ domain: "storefront", descriptors: [{ ...search, hits_addend: { value: 0 } }], hits_addend: 9 });
      expect(check.statuses[0]?.limit_remaining).toBe(60);
      const heavy = await ours.shouldRateLimit({ domain: "storefront", descriptors: [{ ...search, hits_addend: { value: 7 } }], hits_addend: 9 });
      expect(heavy.statuses[0]?.limit_remaining).toBe(53);
    } finally {
      ours.close();
    }
  });

  it("applies the limit Envoy sends with a descriptor instead of the configured one", async () => {
    const override = { ...descriptor(["endpoint", "search"], ["remote_address", fresh("override")]), limit: { requests_per_unit: 2, unit: "HOUR" } };
    const answers = [await storefront(override), await storefront(override), await storefront(override)];
    expect(answers.map((a) => a.overall_code)).toEqual(["OK", "OK", "OVER_LIMIT"]);
    expect(answers[0]!.statuses[0]?.current_limit).toMatchObject({ requests_per_unit: 2, unit: "HOUR" });
  });
});

describe("Redis", () => {
  // The app writes the decision statistics of its warm-up Checks some 5 s after it starts (one
  // script call, `{stats}` keys). Wait for that write, so that it is not counted below as a
  // rate-limit key when the tests before ran faster than 5 s.
  beforeAll(async () => {
    for (let waited = 0; waited < 8_000 && (await inspector.keys("*{stats}*")).length === 0; waited += 100) await sleep(100);
  }, 10_000);

  it("holds counters under hashed, hash-tagged keys with a TTL, whatever the values", async () => {
    await inspector.flushdb();
    const huge = "x".repeat(1_000_000);
    expect((await messaging(descriptor(["to_number", huge]))).statuses[0]?.limit_remaining).toBe(49);
    // Rate-limit keys only: the app's statistics write ({stats} keys, every 5 s) may land after the flush on a loaded machine.
    const keys = await inspector.keys("palisade:{rl.*");
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^palisade:\{rl\.[A-Za-z0-9_-]{22}\}:f:limit:86400000:\d+$/);
    expect(await inspector.pttl(keys[0]!)).toBeGreaterThan(0);
  });

  it("takes one script call for all counters of a request, and none for a client the local cache knows is over", async () => {
    const ip = fresh("attacker");
    const twoCounters = () => storefront(descriptor(["remote_address", ip]), descriptor(["endpoint", "search"], ["remote_address", ip]));
    await twoCounters(); // loads the script on the connection
    expect((await rateLimitScriptCalls(twoCounters)).calls).toBe(1);

    for (let i = 0; i < 31; i++) await storefront(descriptor(["remote_address", ip])); // past the burst of 30 a second
    const { result: denied, calls } = await rateLimitScriptCalls(async () => {
      const answers = [];
      for (let i = 0; i < 100; i++) answers.push(await twoCounters());
      return answers;
    });
    expect(denied.every((a) => a.overall_code === "OVER_LIMIT")).toBe(true);
    // Only the other counter is read, so that its descriptor reports its own limit; the exhausted one stays local.
    expect(calls).toBe(100);
    expect(denied[0]!.statuses[1]).toMatchObject({ code: "OK", current_limit: { requests_per_unit: expect.any(Number) } });
    expect(await app.metrics.metricsText()).toMatch(/ratelimit_service_rate_limit_over_limit_with_local_cache\{domain="storefront",key="remote_address"\} [1-9]/);

    now += 1_000; // the burst window is over: the store is asked again
    expect((await twoCounters()).overall_code).toBe("OK");
  });
});

describe("bad input gets a documented answer", () => {
  it("answers an unknown domain OK, one status per descriptor", async () => {
    const answer = await ask({ domain: "nobody", descriptors: [descriptor(["a", "b"]), descriptor(["c", "d"])] });
    expect(answer).toMatchObject({ overall_code: "OK", statuses: [{ code: "OK" }, { code: "OK" }] });
  });

  it("refuses an empty domain, no descriptors, or too many with INVALID_ARGUMENT", async () => {
    const many = Array.from({ length: 65 }, (_, i) => descriptor(["to_number", String(i)]));
    for (const request of [{ domain: "messaging", descriptors: [] }, { domain: "", descriptors: [descriptor(["a", "b"])] }, { domain: "messaging", descriptors: many }]) {
      await expect(ask(request)).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    }
  });

  it("answers descriptors with hundreds of entries, and a cost beyond any limit, without counting", async () => {
    const deep = { entries: Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: "v".repeat(100) })) };
    expect((await messaging(deep)).statuses).toMatchObject([{ code: "OK", current_limit: null, limit_remaining: 0, duration_until_reset: null }]);
    const number = fresh("555");
    const flood = await ask({ domain: "messaging", descriptors: [descriptor(["to_number", number])], hits_addend: UINT32_MAX });
    expect(flood.overall_code).toBe("OVER_LIMIT");
    expect((await messaging(descriptor(["to_number", number]))).statuses[0]?.limit_remaining).toBe(49);
  });
});

/**
 * The script calls on rate-limit counters (keys of `{rl.…}` entities) in this test's database
 * while `run` runs, as MONITOR sees them. The server's EVAL/EVALSHA totals (INFO commandstats)
 * also counted the app's periodic statistics write, which a loaded machine let fall inside the
 * loop (101 for 100), and any other client of a shared server (REDIS_URL).
 */
async function rateLimitScriptCalls<T>(run: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const database = inspector.options.db ?? 0;
  const marker = `end-of-run-${Math.random()}`;
  const monitor = await inspector.monitor();
  let calls = 0;
  let markerSeen = () => {};
  const seen = new Promise<void>((resolve) => (markerSeen = resolve));
  monitor.on("monitor", (_time: string, args: string[], _source: string, db: string) => {
    const [command = "", , keyCount = "0", ...rest] = args.map(String);
    if (command.toLowerCase() === "echo" && args[1] === marker) markerSeen();
    if (Number(db) !== database || !/^eval(sha)?$/i.test(command)) return;
    if (rest.slice(0, Number(keyCount)).some((key) => key.includes("{rl."))) calls++;
  });
  try {
    const result = await run();
    // MONITOR reports commands in the order the server ran them: once the marker is in, so is every call before it.
    await inspector.echo(marker);
    await seen;
    return { result, calls };
  } finally {
    monitor.disconnect();
  }
}
