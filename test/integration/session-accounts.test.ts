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
/** A list's accounts: no two one typo apart. */
const LIST = ["ann", "bob", "carla", "dmitri", "erin", "farid", "gus", "hana", "ivan", "jo", "kemal", "lena", "mo", "nia", "omar", "pia"];
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

/** The decision's metadata for a login for `username` by the session `sid` from `ip`, decided by `replica`. */
async function decided(replica: number, sid: string, username: string, ip: string, atMs: number) {
  const body = JSON.stringify({ username, password: `correct horse ${sid}` });
  return metadata(await clients[replica]!.check({ method: "POST", path: "/api/v1/login", ip, headers: { ...CHROME, cookie: `sid=${sid}` }, body, timeMs: atMs }));
}

/** The reasons of such a login. */
async function login(replica: number, sid: string, username: string, ip: string, atMs: number): Promise<string[]> {
  return ((await decided(replica, sid, username, ip, atMs)).reasons as string[] | undefined) ?? [];
}

describe("session.distinct_usernames on two replicas sharing Redis", () => {
  it("counts the accounts a session tried on either replica", async () => {
    const fired: boolean[] = [];
    for (let i = 0; i < 16; i++) {
      const reasons = await login(i % 2, "bot-session", `${LIST[i]}@example.com`, `198.18.7.${10 + i}`, start + i * 3_000);
      fired.push(reasons.includes("session.distinct_usernames"));
    }
    // Fires from the session's second account on, whichever replica took the first.
    expect(fired).toEqual([false, ...new Array(15).fill(true)]);
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
      // Beside them, each name's neighbourhood (itself and its 14 shorter names for ann@example.com)
      // twice, two names' worth at most: 126 entries.
      for (const name of ["sa.near", "sa.near.n"]) {
        const sets = (await connection.keys("*")).filter((key) => key.endsWith(`:${name}`));
        const sizes = await Promise.all(sets.map(async (key) => [await connection.zcard(key), Number(await connection.memory("USAGE", key)), await connection.pttl(key)] as const));
        sizes.sort(([a], [b]) => a - b);
        expect(sizes.map(([members]) => members)).toEqual([15, 126]);
        for (const [, , ttl] of sizes) expect(ttl).toBeGreaterThan(0);
        for (const [, , ttl] of sizes) expect(ttl).toBeLessThanOrEqual(WINDOW_MS);
        // docs/long-memory.md: measured 424 and 552 bytes for one name, 2,664 and 3,688 for the list (compact sets).
        expect(sizes.map(([, usage]) => usage <= (name === "sa.near" ? 3_000 : 4_000))).toEqual([true, true]);
        expect(sizes[0]![1]).toBeLessThanOrEqual(600);
      }
    } finally {
      connection.disconnect();
    }
  });

  it("answers a session's second account with a challenge and no risk: a second account is not held against the address", async () => {
    // The example weighs the signal 0 (examples/policy.yaml): the credential-stuffing rule reads
    // it, but it adds nothing to the risk that quarantines an address at 80.
    const first = await decided(0, "household-session", "cleo@example.net", "100.70.9.10", start + 1_000);
    const second = await decided(1, "household-session", "dave@example.net", "100.70.9.10", start + 9_000);
    expect(second.reasons).toContain("session.distinct_usernames");
    expect([second.action, second.rule]).toEqual(["challenge", "credential-stuffing"]);
    expect(second.risk).toBe(first.risk);
  });

  it("lets a person correcting a mistyped address in, on either replica, but not a third account after it", async () => {
    const tries = [["fern@example.ne", 0], ["fern@example.net", 1], ["fern@example.net", 0], ["fern@example.ne", 1]] as const;
    for (const [i, [username, replica]] of tries.entries()) {
      const decision = await decided(replica, "typist-session", username, "100.70.9.11", start + 20_000 + i * 9_000);
      if (i > 0) expect(decision.reasons).toContain("session.username_corrected");
      expect(decision.reasons).not.toContain("session.distinct_usernames");
      expect(decision.action, JSON.stringify(decision)).toBe("allow");
    }
    const third = await decided(0, "typist-session", "fern@example.org", "100.70.9.11", start + 60_000);
    expect([third.action, third.rule]).toEqual(["challenge", "credential-stuffing"]);
  });
});
