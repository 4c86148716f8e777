/**
 * The slow campaign call (`campaign.slow`) through gRPC on a real redis-server: three instances
 * of the service with the example policy, asked by clients built from Envoy's protos. A list
 * tried at 3 logins a minute, each from its own address with a session cookie, spread by Envoy
 * over the replicas, on a shop where one person signs in every two minutes: far below the
 * 20 logins a minute the merged call needs. Once 20 accounts failed (7 minutes in), every replica
 * calls it and challenges the list's next first sign-ins.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAccessLogClient, envoyAuthzClient, metadata, type EnvoyAccessLogClient, type EnvoyAuthzClient } from "../support/envoy-client.js";

const MINUTE = 60_000;
/** A browser that loaded the site and keeps its session cookie. */
const headers = (session: string) => ({
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
  "content-type": "application/json",
  cookie: `sid=${session}`,
});

let redis: RedisServerHandle;
let replicas: App[] = [];
let authz: EnvoyAuthzClient[] = [];
let logs: EnvoyAccessLogClient[] = [];
const startMs = Date.now() - 3 * 3_600_000;
let address = 0;

beforeAll(async () => {
  redis = await startRedisServer();
  replicas = await Promise.all([0, 1, 2].map(() => startTestApp({ redisUrl: redis.url, trustEventTime: true })));
  authz = replicas.map((app) => envoyAuthzClient(`127.0.0.1:${app.grpcPort}`));
  logs = replicas.map((app) => envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`));
}, 60_000);

afterAll(async () => {
  for (const client of [...authz, ...logs]) client.close();
  await Promise.all(replicas.map((app) => app.stop()));
  await redis?.stop();
});

/**
 * A login through `replica` from an address of its own at `atMs` into the hour, its outcome
 * (401 or 200) streamed back to the same replica when allowed. Returns Palisade's action and reasons.
 */
async function login(replica: number, atMs: number, username: string, succeeds: boolean): Promise<{ action: string; reasons: string[] }> {
  const requestId = randomUUID();
  const ip = `100.78.${Math.floor(++address / 250)}.${(address % 250) + 1}`;
  const check = await authz[replica]!.check({
    method: "POST",
    path: "/api/v1/login",
    ip,
    headers: headers(randomUUID()),
    timeMs: startMs + atMs,
    requestId,
    body: JSON.stringify({ username, password: `guess-${randomUUID()}` }),
  });
  const { action, reasons } = metadata(check) as { action: string; reasons?: string[] };
  if (action === "allow" || action === "step_up") {
    await logs[replica]!.send([
      { requestId, method: "POST", path: "/api/v1/login", ip, timeMs: startMs + atMs, status: succeeds ? 200 : 401, authzMetadata: check.dynamic_metadata },
    ]);
  }
  return { action, reasons: reasons ?? [] };
}

describe("the slow campaign call on a small shop", () => {
  it("is called on every replica once 20 accounts of a list failed, 3 a minute, against one sign-in every two minutes", async () => {
    let entry = 0;
    const before: string[][] = [];
    for (let minute = 0; minute < 7; minute++) {
      for (let i = 0; i < 3; i++) before.push((await login(i, minute * MINUTE + i * 20_000, `list-${entry++}`, false)).reasons);
      if (minute % 2 === 0) await login(minute % 3, minute * MINUTE + 50_000, `shopper-${minute}`, true);
    }
    expect(before.filter((reasons) => reasons.includes("site.campaign"))).toEqual([]);
    // The 21st account failed at 6:40; a login on each replica a couple of merges later.
    const after = [];
    for (const replica of [0, 1, 2]) await login(replica, 7 * MINUTE + 1_000 + replica * 10, `list-${entry++}`, false);
    for (const replica of [0, 1, 2]) after.push(await login(replica, 7 * MINUTE + 3_000 + replica * 10, `list-${entry++}`, false));
    for (const { action, reasons } of after) {
      expect(reasons).toContain("site.campaign");
      expect(action).toBe("challenge");
    }
  }, 60_000);
});
