/**
 * Bytes per tracked client of the long-memory and shared-address state (`npm run bench:memory`):
 * N distinct addresses each make one low-and-slow login attempt and get its failure back, and
 * each carries one cookie-keeping client, as the Check and outcome paths would store it in
 * Redis with the example policy's windows. Redis's used_memory before and after, divided by N,
 * is the cost per tracked address. The token bindings live in the replica's heap instead: N
 * refresh tokens bound, heap before and after, divided by N.
 *
 *   BENCH_CLIENTS=1000000 npm run bench:memory     (default 100,000)
 */
import { Redis } from "ioredis";
import { TokenBindings } from "../src/detection/token-binding.js";
import { COUNTER_NAMES } from "../src/detection/entities.js";
import type { CompiledTokenBinding } from "../src/policy/signals.js";
import { createRedisStore } from "../src/state/redis/store.js";
import type { EntityOp } from "../src/state/store.js";
import { startRedisServer } from "../test/helpers/redis-server.js";

const clients = Number(process.env.BENCH_CLIENTS ?? 100_000);
const HOUR = 3_600_000;
const CONCURRENCY = 64;

async function redisBytesPerAddress(): Promise<{ bytesPerAddress: number; keysPerAddress: number }> {
  const server = await startRedisServer();
  try {
    const store = createRedisStore(server.url, { commandTimeoutMs: 5000 });
    await store.waitUntilReady(5000);
    const inspector = new Redis(server.url);
    const used = async () => Number(/used_memory:(\d+)/.exec(await inspector.info("memory"))?.[1] ?? 0);
    const before = await used();
    const now = Date.now();
    // What one address costs: the Check path's reads and distinct count, the outcome's failure,
    // and the shared-address client count.
    const ops = (i: number): EntityOp[] => [
      { op: "distinct.add", name: COUNTER_NAMES.slowUsernames, windowMs: 2 * HOUR, member: `user-${i}` },
      { op: "window.add", name: COUNTER_NAMES.slowFailures, windowMs: 2 * HOUR, amount: 1 },
      { op: "window.add", name: COUNTER_NAMES.slowSuccesses, windowMs: 2 * HOUR, amount: 0 },
      { op: "distinct.add", name: COUNTER_NAMES.clients, windowMs: 10 * 60_000, member: `client-${i}` },
    ];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < clients) {
          const i = next++;
          await store.apply(`ip:bench-${i}`, ops(i), now);
        }
      }),
    );
    const bytes = (await used()) - before;
    const keys = await inspector.dbsize();
    await inspector.quit();
    await store.close();
    return { bytesPerAddress: Math.round(bytes / clients), keysPerAddress: Math.round((keys / clients) * 10) / 10 };
  } finally {
    await server.stop();
  }
}

function heapBytesPerToken(): number {
  const config: CompiledTokenBinding = {
    companionCookies: ["did"],
    newDevice: 60,
    companionChanged: 60,
    alternation: { windowMs: 600_000, weight: 60 },
    churn: { windowMs: 600_000, maxNetworks: 3, weight: 60 },
    rate: { windowMs: 300_000, max: 4, weight: 60 },
    retentionMs: 30 * 24 * HOUR,
  };
  const tokens = 200_000; // the LRU's bound: the most a replica ever holds
  const bindings = new TokenBindings();
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < tokens; i++) {
    bindings.observe(
      {
        method: "POST", path: "/oauth/token", query: "", host: "", headerShape: "s", anomalies: [], timeMs: 0,
        headers: new Map([["cookie", `did=${i.toString(36)}`]]), sessionId: `token-${i}`, fingerprintId: `fp-${i % 50}`, subnet: `198.18.${i % 256}.0/24`,
      },
      config,
    );
  }
  collectGarbage();
  const bytes = process.memoryUsage().heapUsed - before;
  if (bindings.size() !== tokens) throw new Error("bindings were evicted: the measurement would be wrong");
  return Math.round(bytes / tokens);
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc (npm run bench:memory does)");
  gc();
  gc();
}

const heap = heapBytesPerToken();
const redis = await redisBytesPerAddress();
process.stdout.write(`${JSON.stringify({ clients, redis, tokenBindingHeapBytesPerToken: heap }, null, 2)}\n`);
