/**
 * Warm before ready: `startApp` runs warm-up decisions before any port opens. They must not
 * leave a trace the service decides on: in Redis only entities under `warm-up/`, from the
 * documentation address ranges, and the real client's first Check is judged as if none ran.
 */
import { PerformanceObserver, constants } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import type { App } from "../../src/app/start.js";
import { GRPC_CHALLENGE_EVERY } from "../../src/app/warm-up.js";
import { resolveSettings } from "../../src/settings/settings.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath, repoRoot } from "../support/policies.js";

describe("warm-up before ready", () => {
  let redis: RedisServerHandle;
  let app: App;
  let inspector: Redis;
  /** Collections of this process while the app started, by kind, and whether something asked for them. */
  const collections: { kind: number; forced: boolean }[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    inspector = new Redis(redis.url);
    await inspector.flushall();
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const detail = (entry as unknown as { detail: { kind: number; flags: number } }).detail;
        collections.push({ kind: detail.kind, forced: (detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0 });
      }
    });
    observer.observe({ entryTypes: ["gc"] });
    try {
      app = await startTestApp({ redisUrl: redis.url, warmUpDecisions: 60 });
      // Entries are delivered on a later turn of the loop.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      observer.disconnect();
    }
  }, 300_000); // the first start transforms the app's imports: minutes on a starved machine; a bound for a hang

  afterAll(async () => {
    await app?.stop();
    inspector?.disconnect();
    await redis?.stop();
  });

  it("writes only under the warm-up namespace of the real store", async () => {
    const keys = await inspector.keys("*");
    // The response engine's shared maps and audit log exist from start-up, the site-wide
    // baselines from the start's first merge (next test) and the replica's publications from its
    // first exchange turns (the keeper's, with or without warm-up); everything else is a counter.
    const counters = keys.filter((key) => !key.startsWith("palisade:{response}:") && !key.startsWith("palisade:{site:") && !/^palisade:\{[a-z]+\}:x:/.test(key));
    expect(counters.length).toBeGreaterThan(0);
    expect(counters.filter((key) => !key.includes("warm-up/"))).toEqual([]);
  });

  it("merges the site-wide figures before ready, so that the first Check does not wait for it", async () => {
    // The first merge of a replica learns this minute into each endpoint's baseline (a start
    // without warm-up does the same: the next describe compares the two).
    const baselines = await inspector.keys("palisade:{site:login}:b:*");
    expect(baselines.length).toBeGreaterThan(0);
  });

  it("collects its garbage before ready, so that the collection falls on no Check", () => {
    expect(collections).toContainEqual({ kind: constants.NODE_PERFORMANCE_GC_MAJOR, forced: true });
  });

  it("answers a real client's first Check from a clean slate", async () => {
    const client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
    try {
      const response = await client.check({ path: "/api/v1/products/1", ip: "100.64.9.9", headers: { "user-agent": "Mozilla/5.0", accept: "text/html" } });
      expect(response.status.code).toBe(0);
    } finally {
      client.close();
    }
    const keys = await inspector.keys("*");
    expect(keys.some((key) => !/^palisade:\{(audit|map:[^}]*)\}/.test(key) && !key.includes("warm-up/"))).toBe(true);
  });
});

/**
 * What a user of the service can see of it: the keys outside the warm-up namespace with their
 * type and size (the response engine's shared maps, audit trail, decision statistics and
 * records: read after the app stopped, which flushes the counts it holds), and the palisade_*
 * series in /metrics. Given the real responder instead of its own, warm-up shows here in
 * decision statistics keys and response-event counts.
 */
async function visibleKeys(inspector: Redis): Promise<string[]> {
  const keys: string[] = [];
  for (const key of (await inspector.keys("*")).filter((key) => !key.includes("warm-up/")).sort()) {
    const type = await inspector.type(key);
    const size =
      type === "stream" ? await inspector.xlen(key)
      : type === "hash" ? await inspector.hlen(key)
      : type === "zset" ? await inspector.zcard(key)
      : type === "list" ? await inspector.llen(key)
      : type === "set" ? await inspector.scard(key)
      : "-";
    keys.push(`${key} ${type} ${size}`);
  }
  return keys;
}

/**
 * Left out: the event-loop delay, and start-up's own audit write of the policy, which on a
 * loaded machine sometimes outlasts the store budget in either start (palisade_audit_failures_total).
 */
async function visibleMetrics(app: App): Promise<string[]> {
  return (await app.metrics.metricsText())
    .split("\n")
    .filter((line) => line.startsWith("palisade_") && !line.startsWith("palisade_event_loop_delay") && !line.startsWith('palisade_audit_failures_total{action="policy.loaded"}'));
}

describe("warm-up leaves no trace a user sees", () => {
  let redis: RedisServerHandle;
  let inspector: Redis;

  beforeAll(async () => {
    redis = await startRedisServer();
    inspector = new Redis(redis.url);
  });

  afterAll(async () => {
    inspector?.disconnect();
    await redis?.stop();
  });

  it("shows the same Redis state outside warm-up/ and the same /metrics as a start without warm-up", async () => {
    // With rate limits too: warm-up then answers ShouldRateLimit on the descriptors they declare.
    const ratelimitConfig = `${repoRoot}examples/ratelimit.yaml`;
    const startedWith = async (warmUpDecisions: number) => {
      await inspector.flushall();
      const lines: string[] = [];
      const app = await startTestApp({ redisUrl: redis.url, warmUpDecisions, ratelimitConfig }, { logger: createLogger({ level: "info", destination: { write: (line: string) => void lines.push(line) } }) });
      let metrics: string[];
      try {
        metrics = await visibleMetrics(app);
      } finally {
        await app.stop();
      }
      const ready = lines
        .map((line) => JSON.parse(line) as { msg: string; warmUp?: { grpcChecks: number; grpcChallenges: number; grpcRateLimitCalls: number } })
        .find((entry) => entry.msg === "palisade ready");
      return { state: { metrics, keys: await visibleKeys(inspector) }, ...ready?.warmUp };
    };
    const cold = await startedWith(0);
    const warm = await startedWith(60);
    // The warm-up did go through the loopback gRPC server and the real store...
    expect(warm.grpcChecks).toBeGreaterThan(0);
    // ...every fifth of them at least answered with a challenge, issued and its page written,
    // whatever the policy decided (here it challenged 4 of 50 of its own)...
    expect(warm.grpcChallenges).toBeGreaterThanOrEqual(warm.grpcChecks! / GRPC_CHALLENGE_EVERY);
    expect((await inspector.keys("*warm-up/*")).length).toBeGreaterThan(0);
    // ...as did ShouldRateLimit calls, answered (their counters are under warm-up/ too)...
    expect(warm.grpcRateLimitCalls).toBeGreaterThan(0);
    // ...and no decision of it is counted, recorded or audited where a user looks.
    expect(warm.state.metrics.some((line) => line.startsWith("palisade_policy_info"))).toBe(true);
    expect(warm.state).toEqual(cold.state);
  }, 120_000);
});

/** Script calls Redis has run so far (INFO commandstats). */
async function scriptCalls(inspector: Redis): Promise<number> {
  const info = await inspector.info("commandstats");
  return [...info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((sum, [, calls]) => sum + Number(calls), 0);
}

describe("the replica's site-wide merge and exchange turns", () => {
  it("are done before ready and kept up while no Check comes, so that the first Check waits for none of them", async () => {
    const redis = await startRedisServer();
    const inspector = new Redis(redis.url);
    // The clock stands still but where the test moves it: the keeper's timer then finds work
    // due only right after a move, and never while a Check is being counted.
    let nowMs = Date.now();
    const app = await startTestApp({ redisUrl: redis.url }, { clock: { now: () => nowMs } });
    const client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
    try {
      // The replica published before ready: the others' fold knows it from then on.
      expect(await inspector.exists("palisade:{rhythm}:x:rhythm")).toBe(1);
      // Ready a second and a half, no Check yet: the merge (every second) and the turns (every
      // quarter second) have come due again, and a first Check used to take them all.
      nowMs += 1_500;
      // Time for the keeper's timer (a look every 50 ms) to see the move: the replica's
      // publication then carries the new time. Without it the first Check below takes all three.
      const moved = async () => (await inspector.hvals("palisade:{rhythm}:x:rhythm")).some((value) => value.startsWith(`${nowMs}:`));
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      for (let waited = 0; waited < 5_000 && !(await moved()); waited += 50) await sleep(50);
      // ...and for the rest of its round (the merge's calls) to be over before counting.
      for (let last = -1, now = await scriptCalls(inspector); now !== last; await sleep(100)) [last, now] = [now, await scriptCalls(inspector)];
      const calls = async () => {
        const before = await scriptCalls(inspector);
        await client.check({ path: "/static/app.js", ip: "100.64.9.9", headers: { "user-agent": "Mozilla/5.0", accept: "*/*" }, timeMs: nowMs });
        return (await scriptCalls(inspector)) - before;
      };
      const first = await calls();
      // The same Check again, at the same time: one that takes no turn and no merge.
      expect(first).toBe(await calls());
    } finally {
      client.close();
      await app.stop();
      inspector.disconnect();
      await redis.stop();
    }
  }, 120_000);
});

describe("the start's first site-wide merge", () => {
  it("is left to the first Check when requests bring their own time, which may lie before the clock", async () => {
    const redis = await startRedisServer();
    const inspector = new Redis(redis.url);
    try {
      const app = await startTestApp({ redisUrl: redis.url, warmUpDecisions: 0, trustEventTime: true });
      await app.stop();
      expect(await inspector.keys("palisade:{site:*")).toEqual([]);
    } finally {
      inspector.disconnect();
      await redis.stop();
    }
  }, 120_000);
});

describe("warm-up settings", () => {
  it("refuses a negative or absurd count with a clear error", () => {
    for (const value of ["-1", "1.5", "many", "1000000"]) {
      expect(() => resolveSettings({}, { PALISADE_WARM_UP_DECISIONS: value }, { policy: examplePolicyPath })).toThrow(/warmUpDecisions/);
    }
  });

  it("starts on the in-memory store too, and with none at all", async () => {
    for (const warmUpDecisions of [0, 30]) {
      const app = await startTestApp({ warmUpDecisions });
      await app.stop();
    }
  });
});
