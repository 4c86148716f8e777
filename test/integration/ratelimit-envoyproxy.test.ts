import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyRateLimitClient, type EnvoyDescriptorStatus, type EnvoyRateLimiter, type EnvoyRateLimitResponse } from "../support/envoy-ratelimit-client.js";
import { EXAMPLES_CONFIG, INTEGRATION_RUNTIME, UPSTREAM_DATA, upstreamDir } from "../support/envoy-ratelimit-upstream.js";
import { SEQUENCES, type Expected, type ExpectedStatus, type Sequence, type Unit } from "../support/envoy-ratelimit-sequences.js";
import { sharedDataMissing } from "../support/shared-data.js";

/**
 * envoyproxy/ratelimit's own integration-test and example-script sequences, replayed against
 * Palisade in `ratelimitCompat: envoyproxy` on that project's own configuration directories (read
 * in place): every answer must be the one that project gives, field by field. A fake clock puts
 * every sequence at the start of a minute, so expected resets are exact.
 */
const UNIT_SECONDS: Record<Unit, number> = { SECOND: 1, MINUTE: 60, HOUR: 3_600, DAY: 86_400 };
const START = Date.UTC(2026, 10, 24, 12, 0, 5, 250);
const UINT32_MAX = 4_294_967_295;

let redis: RedisServerHandle;
let flusher: Redis;
let now = START;
const apps: App[] = [];
const clients = new Map<string, EnvoyRateLimiter>();
const answered = { identical: 0, total: 0 };

function expectedStatus(status: ExpectedStatus, nowMs: number): EnvoyDescriptorStatus {
  if (status === "no limit") return { code: "OK", current_limit: null, limit_remaining: 0, duration_until_reset: null };
  if (status === "unlimited") return { code: "OK", current_limit: null, limit_remaining: UINT32_MAX, duration_until_reset: null };
  const [code, limit, unit, remaining, name] = status;
  const window = UNIT_SECONDS[unit];
  return {
    code,
    current_limit: { name: name ?? "", requests_per_unit: limit, unit },
    limit_remaining: remaining,
    duration_until_reset: { seconds: window - (Math.floor(nowMs / 1000) % window), nanos: 0 },
  };
}

function check(response: EnvoyRateLimitResponse, expected: Expected, nowMs: number): void {
  const want = { overall_code: expected.overall, statuses: expected.statuses.map((status) => expectedStatus(status, nowMs)) };
  const statuses = response.statuses.map(({ code, current_limit, limit_remaining, duration_until_reset }) => ({ code, current_limit, limit_remaining, duration_until_reset }));
  expect({ overall_code: response.overall_code, statuses }).toEqual(want);
  const headers = Object.fromEntries(response.response_headers_to_add.map(({ key, value }) => [key, value]));
  for (const [name, value] of expected.headers ?? []) expect(headers[name], name).toBe(value);
  if (response.statuses.some((status) => status.current_limit)) {
    // The reset header is the reset of the status the headers were taken from.
    const resets = response.statuses.map((status) => String(status.duration_until_reset?.seconds));
    expect(resets).toContain(headers["x-ratelimit-reset"]);
  }
}

async function clientFor(sequence: Sequence): Promise<EnvoyRateLimiter> {
  const key = `${sequence.config}/${sequence.stopIncrementWhenOverLimit ?? false}`;
  const known = clients.get(key);
  if (known) return known;
  const app = await startTestApp(
    {
      redisUrl: redis.url,
      ratelimitConfig: `${upstreamDir!}/${sequence.config === "examples" ? EXAMPLES_CONFIG : INTEGRATION_RUNTIME}`,
      ratelimitCompat: "envoyproxy",
      ratelimitStopIncrementWhenOverLimit: sequence.stopIncrementWhenOverLimit ?? false,
    },
    { clock: { now: () => now } },
  );
  apps.push(app);
  const client = envoyRateLimitClient(`127.0.0.1:${app.grpcPort}`, { ours: true });
  clients.set(key, client);
  return client;
}

describe.skipIf(sharedDataMissing(UPSTREAM_DATA))("envoyproxy/ratelimit's sequences against Palisade in compatibility mode", () => {
  beforeAll(async () => {
    redis = await startRedisServer();
    flusher = new Redis(redis.url);
  });

  afterAll(async () => {
    console.info(`[envoyproxy/ratelimit sequences] ${answered.identical} of ${answered.total} answers identical`);
    for (const client of clients.values()) client.close();
    await Promise.all(apps.map((app) => app.stop()));
    flusher?.disconnect();
    await redis?.stop();
  });

  it.each(SEQUENCES.map((sequence) => [sequence.name, sequence] as const))("%s", async (_, sequence) => {
    const client = await clientFor(sequence);
    await flusher.flushall();
    now = START;
    await sequence.run({
      ask: async (request, expected) => {
        const response = await client.shouldRateLimit(request);
        if (expected) {
          answered.total++;
          check(response, expected, now);
          answered.identical++;
        }
        return response;
      },
      advance: async (ms) => {
        now += ms;
        return true;
      },
    });
  });
});
