/**
 * Token binding across replicas: two instances of the service on one real redis-server, asked
 * by clients built from Envoy's protos, as Envoy would spread Checks over replicas without
 * affinity. A binding made through one replica holds on the other.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type CheckInput, type EnvoyAuthzClient } from "../support/envoy-client.js";

/** The example app's refresh, with its device cookie (the companion the example policy names). */
const APP = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
  "content-type": "application/x-www-form-urlencoded",
  cookie: "did=5e1d0c",
};

let redis: RedisServerHandle;
let replicas: App[] = [];
let clients: EnvoyAuthzClient[] = [];
/** Event time advances by itself so every test runs on its own stretch of recorded time. */
let clockMs = Date.now() - 2 * 3_600_000;

beforeAll(async () => {
  redis = await startRedisServer();
  replicas = await Promise.all([0, 1].map(() => startTestApp({ redisUrl: redis.url, trustEventTime: true })));
  clients = replicas.map((app) => envoyAuthzClient(`127.0.0.1:${app.grpcPort}`));
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(replicas.map((app) => app.stop()));
  await redis?.stop();
});

function refresh(token: string, ip: string, timeMs: number, extra: Partial<CheckInput> = {}): CheckInput {
  return { method: "POST", path: "/oauth/token", ip, headers: APP, timeMs, body: `grant_type=refresh_token&refresh_token=${token}`, ...extra };
}

async function decide(replica: number, input: CheckInput): Promise<{ action: string; reasons: string[] }> {
  const fields = metadata(await clients[replica]!.check(input));
  return { action: String(fields.action), reasons: (fields.reasons as string[] | undefined) ?? [] };
}

describe("token binding shared by replicas", () => {
  it("judges a token bound through replica A a replay when another network uses it through replica B a second later", async () => {
    const token = `rt-${randomUUID()}`;
    clockMs += 60_000;
    expect((await decide(0, refresh(token, "100.71.1.7", clockMs))).action).toBe("allow");
    const replay = await decide(1, refresh(token, "100.72.9.7", clockMs + 1_000));
    expect(replay.action).toBe("quarantine");
    expect(replay.reasons).toContain("session.handoff");
    const redisKeys = new Redis(redis.url);
    try {
      const keys = await redisKeys.keys("*:t");
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.some((key) => key.includes(token))).toBe(false); // the key names the token's pseudonym, never the token
      for (const key of keys) expect(await redisKeys.pttl(key)).toBeGreaterThan(29 * 24 * 3_600_000); // the policy's 30-day retention
    } finally {
      redisKeys.disconnect();
    }
  });

  it("lets one of two first uses in the same millisecond, through two replicas, bind the token, and flags the other", async () => {
    for (let round = 0; round < 5; round++) {
      const token = `rt-${randomUUID()}`;
      clockMs += 60_000;
      const both = await Promise.all([decide(0, refresh(token, "100.73.1.7", clockMs)), decide(1, refresh(token, "100.74.1.7", clockMs))]);
      const actions = both.map((d) => d.action).sort();
      expect(actions).toEqual(["allow", "quarantine"]);
      expect(both.find((d) => d.action === "quarantine")!.reasons).toContain("session.handoff");
    }
  });

  it("still flags the thief's copy through replica A once the quarantine of a handoff through replica B has ended", async () => {
    const token = `rt-${randomUUID()}`;
    clockMs += 60_000;
    const start = clockMs;
    expect((await decide(0, refresh(token, "100.77.1.7", start))).action).toBe("allow");
    expect((await decide(1, refresh(token, "100.78.1.7", start + 60_000))).reasons).toContain("session.handoff");
    // 35 minutes on (the example's quarantine lasts 30), from the thief's network: the handoff
    // is read from the shared binding, and the example policy remembers two holders for 30 days.
    const later = await decide(0, refresh(token, "100.78.1.7", start + 35 * 60_000));
    expect(later.action).toBe("quarantine");
    expect(later.reasons).toContain("session.concurrent_networks");
    clockMs = start + 40 * 60_000;
  });

  it("costs a refresh Check no round trip of its own: the binding script travels with the Check's other store calls", async () => {
    const admin = new Redis(redis.url);
    try {
      const stats = async () => {
        const [stats, commands] = [await admin.info("stats"), await admin.info("commandstats")];
        return { reads: Number(/total_reads_processed:(\d+)/.exec(stats)![1]), scripts: Number(/cmdstat_evalsha:calls=(\d+)/.exec(commands)?.[1] ?? 0) };
      };
      const before = await stats();
      const checks = 200;
      for (let i = 0; i < checks; i++) await decide(0, refresh(`rt-${randomUUID()}`, `100.76.${i % 250}.7`, (clockMs += 1_000)));
      const after = await stats();
      // Two or more script calls per Check (its batch, the binding, the response's records) reach
      // Redis in about one read of its socket (ioredis' auto-pipelining); the rest are the replicas'
      // background reads. Sent in turn, the binding alone would add a read per Check.
      expect(after.scripts - before.scripts).toBeGreaterThanOrEqual(2 * checks);
      expect(after.reads - before.reads).toBeLessThan(1.5 * checks);
    } finally {
      admin.disconnect();
    }
  });

  it("answers a huge or garbage token with a decision, on either replica", async () => {
    clockMs += 60_000;
    const inputs: CheckInput[] = [
      refresh("x".repeat(7_000), "100.75.1.7", clockMs),
      refresh("%00%ff\u0000\u{1F600}{}{{", "100.75.1.8", clockMs + 1),
      { ...refresh(`rt-${randomUUID()}`, "100.75.1.9", clockMs + 2), body: Buffer.from([0x67, 0x72, 0x61, 0x6e, 0x74, 0xff, 0xfe, 0x00, 0x3d, 0x80]) },
      refresh(`rt-${randomUUID()}`, "100.75.1.10", clockMs + 3, { headers: { ...APP, cookie: `did=${"d".repeat(6_000)}` } }),
      refresh(`rt-${randomUUID()}`, "100.75.1.11", clockMs + 4, { headers: { ...APP, cookie: "did=\u0000\u00ff;;;did=;=" } }),
    ];
    for (const [i, input] of inputs.entries()) {
      const decision = await decide(i % 2, input);
      expect(["allow", "step_up", "challenge", "throttle", "quarantine", "block"], JSON.stringify(input.body).slice(0, 40)).toContain(decision.action);
    }
    // Both replicas still answer ordinary refreshes.
    expect((await decide(0, refresh(`rt-${randomUUID()}`, "100.75.2.1", clockMs + 10))).action).toBe("allow");
    expect((await decide(1, refresh(`rt-${randomUUID()}`, "100.75.2.2", clockMs + 11))).action).toBe("allow");
  });
});
