/**
 * Decision statistics are shared: two replicas on one Redis, traffic to one, and the other's
 * /v1/stats and posture report count it once the first has flushed (every 5 s).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { analystClient, secretsDir, TOKENS } from "../support/analyst.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, type EnvoyAuthzClient } from "../support/envoy-client.js";

let redis: RedisServerHandle;
let a: App;
let b: App;
let envoy: EnvoyAuthzClient;

beforeAll(async () => {
  redis = await startRedisServer();
  const tokens = secretsDir().tokens;
  [a, b] = await Promise.all([startTestApp({ redisUrl: redis.url, adminTokensFile: tokens }), startTestApp({ redisUrl: redis.url, adminTokensFile: tokens })]);
  envoy = envoyAuthzClient(`127.0.0.1:${a.grpcPort}`);
});

afterAll(async () => {
  envoy?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

const total = async (app: App) => {
  const answer = await analystClient(app, TOKENS.viewer).get("/v1/stats?since=10m");
  return answer.body.buckets.reduce((t: number, bucket: { counts: { n?: number } }) => t + (bucket.counts.n ?? 0), 0);
};

describe("decision statistics across replicas", () => {
  it("counts one replica's decisions in the other's statistics and report", async () => {
    for (let i = 0; i < 5; i++) await envoy.check({ path: "/products", ip: "100.64.9.9" });
    expect(await total(a)).toBe(5); // its own, before any flush
    await expect.poll(() => total(b), { timeout: 15_000, interval: 500 }).toBe(5);
    expect(await total(a)).toBe(5); // flushed counts are not counted twice
    expect((await analystClient(b, TOKENS.viewer).get("/v1/report?since=1h")).body.headline.requests).toBe(5);
  });
});
