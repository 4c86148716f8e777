/**
 * Degraded mode under CPU saturation with a healthy Redis: login Checks through the pipeline on
 * a RedisStore with the production 50 ms budget, while the same process burns CPU (80 ms busy
 * in every 100 ms). Counts fail-closed decisions and degraded answers, for the store as built
 * (loop-aware deadline, hysteresis) and as it was (client-side 50 ms timer, degraded on the
 * first failure). `npx tsx bench/cpu-saturation.ts`; one JSON line per mode.
 */
import { MemoryStore } from "../src/state/memory-store.js";
import { createRedisClient } from "../src/state/redis/connection.js";
import { createRedisStore, RedisStore } from "../src/state/redis/store.js";
import { parseRedisUrl } from "../src/state/redis/url.js";
import { ResilientStore } from "../src/state/resilient-store.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { testDecisionCore } from "../test/support/decision-core.js";
import { checkRequest } from "../test/support/envoy-client.js";
import { examplePolicyPath } from "../test/support/policies.js";

const REQUESTS = Number(process.env.BENCH_SATURATION_REQUESTS ?? 4000);
const BUDGET_MS = 50;
/** Checks in flight at once, as Envoy's connections to one replica would keep them. */
const CONCURRENCY = Number(process.env.BENCH_SATURATION_CONCURRENCY ?? 8);

async function run(mode: "current" | "before", redisUrl: string) {
  const redis =
    mode === "current"
      ? createRedisStore(redisUrl, { commandTimeoutMs: BUDGET_MS })
      : new RedisStore(createRedisClient(parseRedisUrl(redisUrl), { commandTimeoutMs: BUDGET_MS }), { commandTimeoutMs: BUDGET_MS });
  await redis.waitUntilReady(5000);
  const store = new ResilientStore(redis, new MemoryStore(), mode === "current" ? {} : { failuresToDegrade: 1 });
  let transitions = 0;
  store.onStateChange(() => transitions++);
  const core = await testDecisionCore(examplePolicyPath, { store, settings: { trustEventTime: false } });
  const { pipeline } = core;
  // Warm up: scripts loaded, connection settled, before the measured run.
  for (let i = 0; i < 20; i++) await store.apply("warm-up", [{ op: "window.add", name: "w", windowMs: 1000, amount: 1 }], Date.now());
  const hog = setInterval(() => {
    const until = performance.now() + 80;
    while (performance.now() < until);
  }, 100);
  let next = 0;
  let failClosed = 0;
  let degraded = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const request = checkRequest({
        method: "POST",
        path: "/api/v1/login",
        ip: `198.18.${(i >> 8) & 255}.${i & 255}`,
        headers: { "content-type": "application/json", "user-agent": "Mozilla/5.0", accept: "*/*" },
        body: JSON.stringify({ username: `user${i % 500}@example.com`, password: "hunter2" }),
      });
      const { decision } = await pipeline.evaluate(toHttpAttributes(request as never));
      if (decision.rule === "fail-closed") failClosed++;
      if (decision.degraded) degraded++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearInterval(hog);
  const seconds = (performance.now() - started) / 1000;
  await core.stop();
  await store.close();
  return { mode, requests: REQUESTS, concurrency: CONCURRENCY, seconds: Number(seconds.toFixed(1)), failClosed, degraded, degradedTransitions: transitions };
}

const server = await startRedisServer();
try {
  for (const mode of ["before", "current"] as const) console.log(JSON.stringify(await run(mode, server.url)));
} finally {
  await server.stop();
}
