/**
 * Step 5 of the Kubernetes quickstart (docs/deployment.md), as its curl loop sends it and as
 * examples/envoy.yaml turns each request into calls: Check first, then, when Check allows,
 * ShouldRateLimit with the login route's descriptors (domain storefront, the risk from Check's
 * metadata). The statuses the doc quotes are the ones asserted here. On a real redis-server, as
 * the quickstart installs one (its trial Redis) and counts the login limits there.
 */
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, httpStatus, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { descriptor, envoyRateLimitClient, type EnvoyRateLimiter } from "../support/envoy-ratelimit-client.js";
import { repoRoot } from "../support/policies.js";

let redis: RedisServerHandle;
let app: App;
let authz: EnvoyAuthzClient;
let rateLimits: EnvoyRateLimiter;

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, ratelimitConfig: `${repoRoot}examples/ratelimit.yaml` });
  authz = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  rateLimits = envoyRateLimitClient(`127.0.0.1:${app.grpcPort}`);
}, 120_000); // a bound for a hang: at load ~30 starting the app overran the default 30 s

afterAll(async () => {
  authz?.close();
  rateLimits?.close();
  await app?.stop();
  await redis?.stop();
});

/** What the gateway answers one login: Palisade's denial, 429 from the rate limit, or "app" (passed on). */
async function login(ip: string): Promise<number | "app"> {
  const checked = await authz.check({
    method: "POST",
    path: "/api/v1/login",
    ip,
    headers: { "content-type": "application/json", "user-agent": "curl/8.5.0", accept: "*/*" },
    body: '{"username":"alice","password":"wrong"}',
  });
  const denied = httpStatus(checked);
  if (denied !== undefined) return denied;
  const risk = String(metadata(checked).risk_text ?? "0");
  const answer = await rateLimits.shouldRateLimit({
    domain: "storefront",
    descriptors: [
      descriptor(["remote_address", ip], ["palisade_risk", risk]),
      descriptor(["endpoint", "login"], ["remote_address", ip], ["palisade_risk", risk]),
    ],
  });
  return answer.overall_code === "OVER_LIMIT" ? 429 : "app";
}

it("25 logins from one address: the first 20 reach the application, then 429 (docs/deployment.md step 5)", async () => {
  const answers: (number | "app")[] = [];
  for (let i = 0; i < 25; i++) answers.push(await login("203.0.113.7"));
  expect(answers).toEqual([...Array<"app">(20).fill("app"), ...Array<number>(5).fill(429)]);
  // Counted in Redis, where every replica of the quickstart's install reads them.
  const inspector = new Redis(redis.url);
  try {
    expect((await inspector.keys("palisade:{rl.*")).length, "rate-limit counters in Redis").toBeGreaterThan(0);
  } finally {
    inspector.disconnect();
  }
  const doc = readFileSync(`${repoRoot}docs/deployment.md`, "utf8");
  expect(doc).toContain("for i in $(seq 25); do");
  expect(doc).toContain("the first 20 get your login's own answer, the last 5 get 429");
});
