/**
 * A receiver that never answers and one that is not there at all must not slow decisions:
 * quarantines are created and enforced while their webhooks wait in the queue, and stopping
 * the service does not wait for a delivery attempt. Receivers are local sockets on 127.0.0.1.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
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
/** The events the hanging receiver was sent, by their x-palisade-event header. */
const hangingGot: string[] = [];
/** The hanging receiver's requests still open: it never answers, so each ends only when the client closes it. */
const held = new Set<ServerResponse>();
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
  silent = createServer((request, response) => {
    hangingGot.push(String(request.headers["x-palisade-event"]));
    held.add(response);
    response.on("close", () => held.delete(response));
  });
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

it("creates and enforces quarantines while webhook receivers hang or refuse, and stop abandons the attempt in flight", async () => {
  // The hanging receiver holds the policy event sent at start: its first attempt waits 5 s for
  // an answer and it is tried eight times, so every later event waits behind it for longer than
  // this test runs.
  await expect.poll(() => hangingGot, { timeout: 15_000 }).toContain("policy.changed");
  for (let i = 1; i <= 20; i++) {
    const ip = `100.68.0.${i}`;
    expect(metadata(await envoy.check({ path: "/trap", ip })).action).toBe("quarantine");
    expect(metadata(await envoy.check({ path: "/search", ip })).action).toBe("quarantine");
  }
  // 40 Checks answered, 20 quarantines made, and the hanging receiver was sent none of them: no
  // Check waited for its webhook, and none jumped the receiver's queue. (This was "40 Checks
  // within 5 s", a wall-clock bound a loaded machine could miss.)
  expect(hangingGot.filter((event) => event !== "policy.changed")).toEqual([]);
  const metrics = await (await fetch(`http://127.0.0.1:${app.adminPort}/metrics`)).text();
  expect(Number(/palisade_webhook_queue_depth (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
  // The dead receiver's first event (the policy loaded at start) is being retried; the rest wait in order behind it.
  expect(metrics).toMatch(/palisade_webhook_deliveries_total\{result="retried",type="policy.changed"\} [1-9]/);

  // Stop abandons the attempt in flight instead of waiting for it: the attempt is still open at
  // the receiver when stop resolves. A stop that waited would resolve only after the sender gave
  // up (its 5 s timeout closes the request). A fresh attempt (the first retry) is taken, so
  // that timeout is a whole 5 s away when stop begins. (This was "stop within 3 s", a wall-clock bound.)
  const sent = hangingGot.length;
  await expect.poll(() => hangingGot.length, { timeout: 15_000 }).toBeGreaterThan(sent);
  const attempt = [...held].at(-1)!;
  await app.stop();
  expect(held.has(attempt), "the attempt in flight was closed before stop resolved").toBe(true);
});
