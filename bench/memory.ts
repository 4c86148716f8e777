import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { createPipeline } from "../src/pipeline/pipeline.js";
import { parsePolicyText } from "../src/policy/loader.js";
import { HmacPseudonymiser } from "../src/privacy/pseudonymiser.js";
import { MemoryStore } from "../src/state/memory-store.js";
import { createRedisStore } from "../src/state/redis/store.js";
import { ResilientStore } from "../src/state/resilient-store.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { checkRequest } from "../test/support/envoy-client.js";
import { examplePolicyPath } from "../test/support/policies.js";

/**
 * Memory under attack: distinct IPs and distinct usernames each try one login, as a stuffing
 * campaign over residential proxies would. The example policy runs with every window shrunk to
 * 5 s so that the keys' TTLs pass within the benchmark and the fall-back can be watched.
 */
export async function measureAttackMemory(redisUrl: string, options: { requests: number }) {
  const policyText = readFileSync(examplePolicyPath, "utf8")
    .replace(/window: \w+/g, "window: 5s")
    .replace(/retention: \w+/g, "retention: 10s");
  const policy = parsePolicyText(policyText, "bench-short-windows");
  const redis = createRedisStore(redisUrl, { commandTimeoutMs: 2000 });
  await redis.waitUntilReady(2000);
  const store = new ResilientStore(redis, new MemoryStore());
  const pipeline = createPipeline({
    store,
    pseudonymiser: new HmacPseudonymiser({ current: Buffer.alloc(32, 3) }),
    policy: () => policy,
    clock: { now: () => Date.now() },
    eventTime: { maxSkewMs: 60_000, trust: false },
  });
  const inspector = new Redis(redisUrl.replace("redis://", "redis://"));
  await inspector.flushall();
  const samples: { requests: number; rssMiB: number; heapMiB: number; redisMiB: number; redisKeys: number }[] = [];
  const sample = async (requests: number) =>
    samples.push({
      requests,
      rssMiB: mib(process.memoryUsage().rss),
      heapMiB: mib(process.memoryUsage().heapUsed),
      redisMiB: mib(Number(/used_memory:(\d+)/.exec(await inspector.info("memory"))?.[1] ?? 0)),
      redisKeys: await inspector.dbsize(),
    });
  await sample(0);
  const started = Date.now();
  const step = Math.max(1, Math.floor(options.requests / 10));
  let next = 0;
  const worker = async () => {
    while (next < options.requests) {
      const i = next++;
      const request = checkRequest({
        method: "POST",
        path: "/api/v1/login",
        ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`.replace(/^10\./, `${100 + (i >> 24)}.`),
        headers: { "content-type": "application/json", "user-agent": "Mozilla/5.0", accept: "*/*" },
        body: JSON.stringify({ username: `victim${i}@example.com`, password: "123456" }),
        timeMs: Date.now(),
      });
      await pipeline.evaluate(toHttpAttributes(request as never));
      if ((i + 1) % step === 0) await sample(i + 1);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  const seconds = (Date.now() - started) / 1000;
  // Keys live two windows (10 s); give Redis's active expiry time to sweep them.
  for (let waited = 0; waited < 40 && (await inspector.dbsize()) > 1000; waited += 5) await sleep(5000);
  global.gc?.();
  await sample(options.requests);
  await store.close();
  inspector.disconnect();
  const peak = samples.reduce((max, s) => (s.redisMiB > max.redisMiB ? s : max));
  const peakRss = Math.max(...samples.map((s) => s.rssMiB));
  return {
    requests: options.requests,
    checksPerSecond: Math.round(options.requests / seconds),
    peakRssMiB: peakRss,
    peakRedisMiB: peak.redisMiB,
    peakRedisKeys: Math.max(...samples.map((s) => s.redisKeys)),
    afterTtlRedisMiB: samples.at(-1)!.redisMiB,
    afterTtlRedisKeys: samples.at(-1)!.redisKeys,
    samples,
  };
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
