import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { createDecisionCore } from "../src/app/decision-core.js";
import { settingsSchema } from "../src/settings/settings.js";
import { createLogger } from "../src/telemetry/logger.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { checkRequest } from "../test/support/envoy-client.js";
import { examplePolicyPath } from "../test/support/policies.js";

/**
 * Memory under attack: distinct IPs and distinct usernames each try one login, as a stuffing
 * campaign over residential proxies would. The example policy runs with every window shrunk to
 * 5 s so that the keys' TTLs pass within the benchmark and the fall-back can be watched.
 */
export async function measureAttackMemory(redisUrl: string, options: { requests: number }) {
  const { dir, policy } = shrunkPolicy("5s", "10s");
  // The server's decision core on Redis, as `palisade serve` builds it.
  const settings = settingsSchema.parse({ policy, redisUrl, storeTimeout: 2000, maxClockSkew: 60_000, logLevel: "silent" });
  const core = await createDecisionCore(settings, { logger: createLogger({ level: "silent" }) });
  const pipeline = core.pipeline;
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
  await core.stop();
  rmSync(dir, { recursive: true, force: true });
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

/**
 * The example policy with every `window:` set to `window` and every `retention:` to
 * `retention` (token bindings, whose retention the example leaves at its default, too), written
 * to a new temporary directory: the keys' time to live then passes within a benchmark.
 */
export function shrunkPolicy(window: string, retention: string): { dir: string; policy: string } {
  const policyText = readFileSync(examplePolicyPath, "utf8")
    .replace(/window: \w+/g, `window: ${window}`)
    .replace(/retention: \w+/g, `retention: ${retention}`)
    .replace(/^( *)tokenBinding:.*$/m, `$1tokenBinding:\n$1  retention: ${retention}`);
  const dir = mkdtempSync(join(tmpdir(), "palisade-bench-"));
  writeFileSync(join(dir, "policy.yaml"), policyText);
  return { dir, policy: join(dir, "policy.yaml") };
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
