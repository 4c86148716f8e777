/**
 * `session.distinct_usernames` on two servers sharing a real Redis, as two replicas behind Envoy:
 * a bot keeping its cookie on every proxy has its logins spread over both, and each counts the
 * accounts the session tried on either. The accounts are one small sorted set per session in
 * Redis, forgotten with the cohort window.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";

const CHROME = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, deflate, br, zstd",
  "content-type": "application/json",
};
/** The example policy's cohort window (`cohorts.window`). */
const WINDOW_MS = 10 * 60_000;

let redis: RedisServerHandle;
const apps: App[] = [];
const clients: EnvoyAuthzClient[] = [];
const start = Date.now() - 3_600_000;

beforeAll(async () => {
  redis = await startRedisServer();
  for (let i = 0; i < 2; i++) {
    const app = await startTestApp({ redisUrl: redis.url, trustEventTime: true });
    apps.push(app);
    clients.push(envoyAuthzClient(`127.0.0.1:${app.grpcPort}`));
  }
});

afterAll(async () => {
  for (const client of clients) client.close();
  for (const app of apps) await app.stop();
  await redis?.stop();
});

/** The reasons of a login for `username` by the session `sid` from `ip`, decided by `replica`. */
async function login(replica: number, sid: string, username: string, ip: string, atMs: number): Promise<string[]> {
  const body = JSON.stringify({ username, password: "correct horse" });
  const answer = await clients[replica]!.check({ method: "POST", path: "/api/v1/login", ip, headers: { ...CHROME, cookie: `sid=${sid}` }, body, timeMs: atMs });
  return (metadata(answer).reasons as string[] | undefined) ?? [];
}

describe("session.distinct_usernames on two replicas sharing Redis", () => {
  it("counts the accounts a session tried on either replica", async () => {
    const fired: boolean[] = [];
    for (let i = 0; i < 16; i++) {
      const reasons = await login(i % 2, "bot-session", `user${i}@example.com`, `198.18.7.${10 + i}`, start + i * 3_000);
      fired.push(reasons.includes("session.distinct_usernames"));
    }
    // Fires from the session's third account on, whichever replica took the first two.
    expect(fired).toEqual([false, false, ...new Array(14).fill(true)]);
    const person: boolean[] = [];
    for (let i = 0; i < 4; i++) person.push((await login(i % 2, "shopper-session", "ann@example.com", "100.70.9.9", start + i * 5_000)).includes("session.distinct_usernames"));
    expect(person).toEqual([false, false, false, false]);
  });

  it("keeps a session's accounts as one sorted set that expires with the cohort window", async () => {
    const connection = new Redis(redis.url);
    try {
      const keys = (await connection.keys("*")).filter((key) => key.endsWith(":sa.users"));
      expect(keys).toHaveLength(2);
      const sizes = await Promise.all(keys.map((key) => connection.zcard(key)));
      expect(sizes.sort((a, b) => a - b)).toEqual([1, 16]);
      for (const key of keys) {
        const ttl = await connection.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(WINDOW_MS);
      }
      const bytes = await Promise.all(keys.map(async (key) => [await connection.zcard(key), Number(await connection.memory("USAGE", key))] as const));
      // docs/long-memory.md: measured 152 bytes with one account and 744 with 16 (MEMORY USAGE, Redis 7, a listpack).
      for (const [accounts, usage] of bytes) expect(usage, JSON.stringify(bytes)).toBeLessThanOrEqual(accounts === 1 ? 200 : 1_000);
    } finally {
      connection.disconnect();
    }
  });

  it("leaves a mistyped address and a household's two accounts alone, and flags a session's third account", async () => {
    const typo = [];
    for (const [i, username] of ["ann@example.co", "ann@example.com"].entries()) typo.push((await login(i % 2, "typo-session", username, "100.70.9.10", start + i * 8_000)).includes("session.distinct_usernames"));
    expect(typo).toEqual([false, false]);
    const household = [];
    for (const [i, username] of ["bob@example.com", "carol@example.com", "dan@example.com"].entries()) {
      household.push((await login(i % 2, "family-session", username, "100.70.9.11", start + i * 60_000)).includes("session.distinct_usernames"));
    }
    expect(household).toEqual([false, false, true]);
  });
});
