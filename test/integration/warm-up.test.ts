/**
 * Warm before ready: `startApp` runs warm-up decisions before any port opens. They must not
 * leave a trace the service decides on: in Redis only entities under `warm-up/`, from the
 * documentation address ranges, and the real client's first Check is judged as if none ran.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import type { App } from "../../src/app/start.js";
import { resolveSettings } from "../../src/settings/settings.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath } from "../support/policies.js";

describe("warm-up before ready", () => {
  let redis: RedisServerHandle;
  let app: App;
  let inspector: Redis;

  beforeAll(async () => {
    redis = await startRedisServer();
    inspector = new Redis(redis.url);
    await inspector.flushall();
    app = await startTestApp({ redisUrl: redis.url, warmUpDecisions: 60 });
  });

  afterAll(async () => {
    await app?.stop();
    inspector?.disconnect();
    await redis?.stop();
  });

  it("writes only under the warm-up namespace of the real store", async () => {
    const keys = await inspector.keys("*");
    // The response engine's shared maps and audit log exist from start-up; everything else is a counter.
    const counters = keys.filter((key) => !/^palisade:\{(audit|map:[^}]*)\}/.test(key));
    expect(counters.length).toBeGreaterThan(0);
    expect(counters.filter((key) => !key.includes("warm-up/"))).toEqual([]);
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
