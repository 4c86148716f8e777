/**
 * A stolen refresh token replayed from rotating proxies while its owner's phone keeps using it
 * from a carrier's CGNAT address, through gRPC as Envoy asks, on a real redis-server with the
 * example policy. The replays are stopped and the token is quarantined; the CGNAT address, and
 * the other phones behind it, are not.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type CheckInput, type EnvoyAuthzClient } from "../support/envoy-client.js";

const CGNAT = "100.64.17.12";
const PHONE = { "user-agent": "Storefront/5.4.2 (Android 13; moto g54) okhttp/4.12.0", accept: "application/json", "accept-encoding": "gzip" };
const CURL = { "user-agent": "curl/8.5.0", accept: "*/*" };

let redis: RedisServerHandle;
let app: App;
let client: EnvoyAuthzClient;

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, trustEventTime: true });
  client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
}, 60_000);

afterAll(async () => {
  client?.close();
  await app?.stop();
  await redis?.stop();
});

async function check(input: CheckInput): Promise<{ action: string; reasons: string[] }> {
  const fields = metadata(await client.check(input));
  return { action: String(fields.action), reasons: (fields.reasons as string[] | undefined) ?? [] };
}

const refresh = (token: string, ip: string, timeMs: number, headers: Record<string, string>): CheckInput => ({
  method: "POST",
  path: "/oauth/token",
  ip,
  timeMs,
  headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
  body: `grant_type=refresh_token&refresh_token=${token}`,
});

describe("a refresh token replayed from rotating proxies, its owner behind a carrier's CGNAT", () => {
  it("stops every replay and holds the token, while the CGNAT address keeps serving its other phones", async () => {
    const start = Date.now() - 3_600_000;
    const stolen = `rt-${randomUUID()}`;
    const victim = { ...PHONE, cookie: "did=victim-phone" };
    const others = Array.from({ length: 6 }, (_, i) => ({ token: `rt-${randomUUID()}`, headers: { ...PHONE, cookie: `did=phone-${i}` } }));
    // The owner and six other phones refresh and read the catalogue from the same CGNAT address.
    expect((await check(refresh(stolen, CGNAT, start, victim))).action).toBe("allow");
    for (const [i, other] of others.entries()) {
      expect((await check(refresh(other.token, CGNAT, start + 1_000 + i, other.headers))).action).toBe("allow");
      expect((await check({ method: "GET", path: `/api/v1/products/${10_000 + i}`, ip: CGNAT, timeMs: start + 2_000 + i, headers: other.headers })).action).toBe("allow");
    }
    // The thief replays the token with curl, no device cookie, from a new proxy each time.
    for (let i = 0; i < 5; i++) {
      const replay = await check(refresh(stolen, `198.18.${i}.7`, start + 60_000 + i * 6_000, CURL));
      expect(replay.action).not.toBe("allow");
    }
    // The owner's next refresh shows two holders: the token is held, with the reasons saying the
    // quarantine was aimed at it rather than at the address.
    const owner = await check(refresh(stolen, CGNAT, start + 120_000, victim));
    expect(owner.action).toBe("quarantine");
    expect(owner.reasons).toContain("scope.narrowed");
    expect((await check(refresh(stolen, "198.18.9.7", start + 130_000, CURL))).action).not.toBe("allow");
    expect((await check(refresh(stolen, CGNAT, start + 140_000, victim))).reasons).toContain("quarantine.active");
    // Everyone else behind the address goes on: catalogue reads, and refreshes of their own tokens.
    for (const [i, other] of others.entries()) {
      const read = await check({ method: "GET", path: `/api/v1/products/${11_000 + i}`, ip: CGNAT, timeMs: start + 150_000 + i, headers: other.headers });
      expect(read.action).toBe("allow");
      expect((await check(refresh(other.token, CGNAT, start + 301_000 + i, other.headers))).action).toBe("allow");
    }
  });
});
