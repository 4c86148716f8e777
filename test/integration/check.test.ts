/**
 * The whole service over real gRPC against a real redis-server: a client built from Envoy's own
 * protos sends CheckRequests and reads the decisions, headers and metadata Envoy would see.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import type { App } from "../../src/app/start.js";
import { privateRedisUnsupported, startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, header, httpStatus, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";

let redis: RedisServerHandle;
let app: App;
let client: EnvoyAuthzClient;
let ipCounter = 0;

/** A fresh client address per test, so counters of one test never leak into another. */
function freshIp(): string {
  ipCounter += 1;
  return `192.0.2.${ipCounter % 250}`.replace(/^192\.0\.2/, `100.${64 + Math.floor(ipCounter / 250)}.${ipCounter % 250}`);
}

function login(ip: string, username: string) {
  return client.check({
    method: "POST",
    path: "/api/v1/login",
    ip,
    headers: {
      "content-type": "application/json",
      "user-agent": "Mozilla/5.0",
      accept: "application/json",
      "accept-language": "en",
      "accept-encoding": "gzip",
      // A visitor's session cookie: without it, five addresses sending one browser header set
      // would form a cohort of cookieless browsers (docs/cohorts.md) on top of what a test checks.
      cookie: `sid=${ip}`,
    },
    body: JSON.stringify({ username, password: `correct horse battery staple ${ip}` }),
  });
}

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url });
  client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  client?.close();
  await app?.stop();
  await redis?.stop();
});

describe("Check through Envoy's protos", () => {
  it("allows ordinary traffic with the decision headers, metadata and anti-forgery removals", async () => {
    const response = await client.check({
      path: "/static/app.js",
      ip: freshIp(),
      headers: { "x-palisade-action": "allow", "X-Palisade-Risk": "0" },
    });
    expect(response.status.code).toBe(0);
    expect(header(response, "x-palisade-action")).toBe("allow");
    expect(header(response, "x-palisade-risk")).toBe("0");
    expect(response.ok_response?.headers_to_remove).toEqual(expect.arrayContaining(["x-palisade-reasons"]));
    const meta = metadata(response);
    expect(meta).toMatchObject({ action: "allow", risk: 0, policy_version: "2026-11-24.1" });
    expect(meta.decision_id).toMatch(/[0-9a-f-]{36}/);
    expect(typeof meta.subject).toBe("string");
  });

  it("throttles a fast search client with Retry-After and RateLimit headers", async () => {
    const ip = freshIp();
    const browser = { "user-agent": "Mozilla/5.0", accept: "*/*", "accept-language": "en", "accept-encoding": "gzip" };
    const answers = [];
    // A search every 0.4 s or so, with a person's irregular rhythm, after loading the page: too
    // many for a minute (the limit is 60), nothing else wrong. The sliding-window estimate never
    // exceeds the real count, so the first 60 pass; after 100 in 40 s it is at least 83.
    const start = Date.now() - 60_000;
    await client.check({ path: "/static/app.js", ip, headers: browser, timeMs: start - 1000 });
    for (let i = 0; i < 100; i++) {
      const jitter = ((i * 397) % 300) - 150;
      answers.push(await client.check({ path: `/api/v1/search?q=item${i % 5}`, ip, headers: browser, timeMs: start + i * 400 + jitter }));
    }
    expect(answers.slice(0, 60).every((a) => a.status.code === 0)).toBe(true);
    const throttled = answers[99]!;
    expect(httpStatus(throttled)).toBe(429);
    expect(Number(header(throttled, "retry-after"))).toBeGreaterThan(0);
    expect(header(throttled, "ratelimit-policy")).toBeDefined();
    expect(header(throttled, "x-palisade-action")).toBe("throttle");
    const meta = metadata(throttled);
    expect(meta.rule).toBe("catalogue-throttle");
    expect(meta.reasons).toContain("velocity.ip");
    expect(throttled.denied_response?.body).not.toContain("velocity");
  });

  it("challenges one account attacked from many addresses", async () => {
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await login(freshIp(), "victim@example.com"));
    // The sixth attempt on one account within five minutes is challenged; more would escalate.
    const last = answers[5]!;
    expect(httpStatus(last)).toBe(401);
    expect(header(last, "www-authenticate")).toContain("Palisade");
    expect(metadata(last).rule).toBe("login-account-hammered");
    expect(JSON.parse(last.denied_response!.body)).toMatchObject({ status: 401, decision_id: metadata(last).decision_id });
  });

  it("blocks a deny-listed address before any counting", async () => {
    const response = await client.check({ path: "/api/v1/search", ip: "198.51.100.20" });
    expect(httpStatus(response)).toBe(403);
    expect(metadata(response)).toMatchObject({ action: "block", rule: "list:blocked" });
  });

  it("keeps counters in Redis under one hash tag per entity, each with a TTL", async () => {
    await login(freshIp(), "ttl-check@example.com");
    const inspector = new Redis(redis.url);
    const keys = await inspector.keys("palisade:*");
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatch(/^palisade:\{[^}]+\}:/);
      // -1 is a key without a time to live. A key of an earlier test may run out between KEYS
      // and PTTL (-2, gone), which a busy machine or a shared REDIS_URL server made happen.
      expect(await inspector.pttl(key), key).not.toBe(-1);
    }
    expect(keys.join(" ")).not.toContain("ttl-check");
    inspector.disconnect();
  });
});

describe("bad input gets a decision", () => {
  it("answers an empty CheckRequest", async () => {
    const response = await client.check({ rawRequest: {} });
    expect(response.status.code).toBe(0);
    expect(metadata(response).action).toBe("allow");
  });

  it("answers thousands of headers, a non-UTF-8 body and an IPv6 client", async () => {
    const headers = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`x-junk-${i}`, "v"]));
    const many = await client.check({ path: "/api/v1/search", ip: freshIp(), headers });
    expect(many.status.code).toBe(0);
    const binary = await client.check({
      method: "POST",
      path: "/api/v1/login",
      ip: "2001:db8:42::1",
      headers: { "content-type": "application/json" },
      body: Buffer.from([0xff, 0xfe, 0xfd]),
    });
    expect(binary.status.code).toBe(0);
    const text = await app.metrics.metricsText();
    expect(text).toMatch(/palisade_request_anomalies_total\{code="headers_too_many"\} [1-9]/);
    expect(text).toMatch(/palisade_request_anomalies_total\{code="body_not_utf8"\} [1-9]/);
  });
});

describe("health and metrics", () => {
  it("serves readiness and decision metrics on the admin port", async () => {
    const ready = await fetch(`http://127.0.0.1:${app.adminPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ok", checks: { store: "ok" } });
    // Its own decision, so the figure does not depend on which tests ran before this one.
    const count = async () => {
      const text = await (await fetch(`http://127.0.0.1:${app.adminPort}/metrics`)).text();
      return Number(text.match(/palisade_decisions_total\{action="allow",endpoint="search",rule="none",shadow="false"\} (\d+)/)?.[1] ?? 0);
    };
    const before = await count();
    const answer = await client.check({ path: "/api/v1/search", ip: freshIp(), headers: { "user-agent": "Mozilla/5.0", accept: "*/*", "accept-language": "en" } });
    expect(metadata(answer)).toMatchObject({ action: "allow" });
    expect(await count()).toBe(before + 1);
    const text = await (await fetch(`http://127.0.0.1:${app.adminPort}/metrics`)).text();
    expect(text).toContain('palisade_policy_info{name="storefront",version="2026-11-24.1"} 1');
  });
});

describe.skipIf(privateRedisUnsupported)("Redis outage", () => {
  beforeEach(async () => {
    await redis.start().catch(() => undefined);
  });

  it("fails closed on login and open (degraded) elsewhere, then recovers", async () => {
    await redis.kill();
    const loginAnswer = await login(freshIp(), "outage@example.com");
    expect(httpStatus(loginAnswer)).toBe(429);
    expect(metadata(loginAnswer)).toMatchObject({ rule: "fail-closed", degraded: true });
    const search = await client.check({ path: "/api/v1/search", ip: freshIp() });
    expect(search.status.code).toBe(0);
    expect(metadata(search).degraded).toBe(true);
    const ready = (await (await fetch(`http://127.0.0.1:${app.adminPort}/readyz`)).json()) as { checks: { store: string } };
    expect(ready.checks.store).toBe("unreachable");

    await redis.start();
    await expect
      .poll(async () => metadata(await client.check({ path: "/api/v1/search", ip: freshIp() })).degraded, { timeout: 5000 })
      .toBe(false);
  });
});
