/**
 * A receiver that never answers and one that is not there at all must not slow decisions:
 * quarantines are created and enforced while their webhooks wait in the queue, and the
 * service still stops promptly. Receivers are local sockets on 127.0.0.1.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { policyFile, secretsDir } from "../support/analyst.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { responsePolicy } from "../support/response.js";

let silent: Server;
let app: App;
let redis: RedisServerHandle;
let envoy: EnvoyAuthzClient;
const freePort = async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
};

beforeAll(async () => {
  redis = await startRedisServer();
  // Accepts connections and requests, and never answers.
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const hanging = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hooks`;
  const dead = `http://127.0.0.1:${await freePort()}/hooks`;
  const secrets = secretsDir();
  app = await startTestApp({ redisUrl: redis.url, policy: policyFile(responsePolicy("w1")), webhookUrls: `${hanging},${dead}`, webhookSecretFile: secrets.webhookSecret });
  envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  envoy?.close();
  silent?.closeAllConnections();
  silent?.close();
  await redis?.stop();
});

it("creates and enforces quarantines while webhook receivers hang or refuse, and still stops promptly", async () => {
  const started = performance.now();
  for (let i = 1; i <= 20; i++) {
    const ip = `100.68.0.${i}`;
    expect(metadata(await envoy.check({ path: "/trap", ip })).action).toBe("quarantine");
    expect(metadata(await envoy.check({ path: "/search", ip })).action).toBe("quarantine");
  }
  // 40 Checks, none of which waited for a receiver (each would wait 5 s for the hanging one).
  expect(performance.now() - started).toBeLessThan(5_000);
  const metrics = await (await fetch(`http://127.0.0.1:${app.adminPort}/metrics`)).text();
  expect(Number(/palisade_webhook_queue_depth (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
  // The dead receiver's first event (the policy loaded at start) is being retried; the rest wait in order behind it.
  expect(metrics).toMatch(/palisade_webhook_deliveries_total\{result="retried",type="policy.changed"\} [1-9]/);

  const stopping = performance.now();
  await app.stop();
  expect(performance.now() - stopping).toBeLessThan(3_000);
});
