/**
 * Event time (docs/design.md): windows follow the time Envoy stamped on the request. In replay
 * mode an old recording replays at full speed with the decisions it had live.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";

const LAST_WEEK = Date.now() - 7 * 86_400_000;

async function loginAt(client: EnvoyAuthzClient, ip: string, timeMs: number) {
  const response = await client.check({
    method: "POST",
    path: "/api/v1/login",
    ip,
    timeMs,
    // Twelve people, each with their own browser session: only the address's login window is shared.
    headers: { "content-type": "application/json", cookie: `sid=session-${timeMs}` },
    body: JSON.stringify({ username: `someone-${timeMs}` }),
  });
  return metadata(response).action;
}

describe.each([
  { mode: "replay (--trust-event-time)", trustEventTime: true },
  { mode: "serving", trustEventTime: false },
])("$mode", ({ trustEventTime }) => {
  let app: App;
  let redis: RedisServerHandle;
  let client: EnvoyAuthzClient;
  beforeAll(async () => {
    redis = await startRedisServer();
    app = await startTestApp({ redisUrl: redis.url, trustEventTime });
    client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
    await redis?.stop();
  });

  it("counts logins one minute apart in recorded time as separate windows only when trusted", async () => {
    const actions = [];
    // Twelve attempts spread over twelve recorded minutes: never more than 10 in a minute.
    for (let i = 0; i < 12; i++) actions.push(await loginAt(client, "192.0.2.77", LAST_WEEK + i * 61_000));
    if (trustEventTime) expect(actions.every((a) => a === "allow")).toBe(true);
    // Serving mode replaces week-old times by the local clock: all twelve land in one window.
    else expect(actions.at(-1)).not.toBe("allow");
  });
});
