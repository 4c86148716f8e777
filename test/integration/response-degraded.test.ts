/**
 * Redis unavailable: a replica starts without it, still quarantines (on its own), refuses
 * lifts rather than half-doing them, and once Redis is back it catches up with the shared
 * state — quarantines another replica made meanwhile — and shares what it made alone.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { privateRedisUnsupported, startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { analystClient, policyFile, secretsDir, TOKENS } from "../support/analyst.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { responsePolicy } from "../support/response.js";

let redis: RedisServerHandle;
const apps: App[] = [];
const clients: EnvoyAuthzClient[] = [];

async function replica(logged: string[] = []): Promise<{ app: App; envoy: EnvoyAuthzClient }> {
  const logger = createLogger({ level: "warn", destination: { write: (line: string) => void logged.push(JSON.parse(line).msg) } });
  const app = await startTestApp({ redisUrl: redis.url, policy: policyFile(responsePolicy("d1")), adminTokensFile: secretsDir().tokens }, { logger });
  const envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  apps.push(app);
  clients.push(envoy);
  return { app, envoy };
}

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(apps.map((app) => app.stop()));
  await redis?.stop();
});

it.skipIf(privateRedisUnsupported)("quarantines without Redis on its own, and shares and catches up once Redis is back", async () => {
  await redis.stop();
  const logged: string[] = [];
  const lonely = await replica(logged);
  // One wait for Redis at start-up, not a second one for the shared maps.
  expect(logged.filter((msg) => msg.startsWith("redis not reachable yet"))).toEqual(["redis not reachable yet: deciding from local state until it is"]);

  expect(metadata(await lonely.envoy.check({ path: "/trap", ip: "100.69.0.1" })).action).toBe("quarantine");
  expect(metadata(await lonely.envoy.check({ path: "/search", ip: "100.69.0.1" })).action).toBe("quarantine");
  const alice = analystClient(lonely.app, TOKENS.analyst);
  const [local] = (await alice.get("/v1/quarantines")).body.quarantines;
  expect((await alice.post(`/v1/quarantines/${local.id}/lift`, {})).status).toBe(503);

  await redis.start();
  const other = await replica();
  expect(metadata(await other.envoy.check({ path: "/trap", ip: "100.69.0.2" })).action).toBe("quarantine");
  // The lonely replica's subscriber reconnects and reloads: it enforces the other's quarantine,
  // and shares the one it made alone, which the other replica then enforces too.
  await expect.poll(async () => metadata(await lonely.envoy.check({ path: "/search", ip: "100.69.0.2" })).action, { timeout: 5_000, interval: 50 }).toBe("quarantine");
  await expect.poll(async () => metadata(await other.envoy.check({ path: "/search", ip: "100.69.0.1" })).action, { timeout: 5_000, interval: 50 }).toBe("quarantine");
  expect(metadata(await lonely.envoy.check({ path: "/search", ip: "100.69.0.1" })).action).toBe("quarantine");
  const created = (await alice.get("/v1/audit?action=quarantine.created&ip=100.69.0.1")).body.records;
  expect(created).toEqual([expect.objectContaining({ actor: "system", detail: expect.objectContaining({ quarantineId: local.id, shared: true }) })]);

  expect((await alice.post(`/v1/quarantines/${local.id}/lift`, { reason: "back online" })).status).toBe(200);
  await expect.poll(async () => metadata(await other.envoy.check({ path: "/search", ip: "100.69.0.1" })).action, { timeout: 1_000, interval: 20 }).toBe("allow");
});
