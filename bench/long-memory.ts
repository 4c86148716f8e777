/**
 * Bytes per tracked client (`npm run bench:memory`): N distinct clients each do what a
 * shopper does once — read a product page, sign in (nine in ten succeed, one in ten gets a 401,
 * as Envoy's access log reports them), refresh an OAuth token with the app's device cookie — through the decision
 * core `palisade serve` builds, on a real redis-server, with the example policy's real windows.
 * Whatever state the detection keeps today (long-memory counters, shared-address client counts,
 * cohorts and groupings, token bindings, behaviour baselines) is counted because it is written,
 * not because this file lists it. Redis's used_memory and key count before and after, divided
 * by N, are the cost per client; a sample of the keys says which structures they are. The
 * process heap (token bindings and the local mirror, both bounded LRUs) is measured too, and
 * the token-binding heap alone with the LRU filled to its bound.
 *
 *   BENCH_CLIENTS=1000000 npm run bench:memory     (default 20,000)
 *   BENCH_CLIENTS=1000000 BENCH_SECONDS=3600 npm run bench:memory
 *
 * BENCH_SECONDS stops starting new clients after that long (a million clients take hours on a
 * loaded machine); the figures are then per client actually completed, and `clients` says how many.
 *
 * Addresses are spread over the whole of 100.64.0.0/10 (a bijective shuffle of the client
 * number), so at N clients each /24 holds about N / 16,384 of them, as a large real population
 * spreads over many networks; every client has its own username, session, token and device.
 */
import { Redis } from "ioredis";
import { createDecisionCore } from "../src/app/decision-core.js";
import { TokenBindings } from "../src/detection/token-binding.js";
import type { CompiledTokenBinding } from "../src/policy/signals.js";
import { settingsSchema } from "../src/settings/settings.js";
import { createLogger } from "../src/telemetry/logger.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { checkRequest } from "../test/support/envoy-client.js";
import { examplePolicyPath } from "../test/support/policies.js";

const clients = Number(process.env.BENCH_CLIENTS ?? 20_000);
const budgetMs = process.env.BENCH_SECONDS ? Number(process.env.BENCH_SECONDS) * 1000 : Number.POSITIVE_INFINITY;
const HOUR = 3_600_000;
const CONCURRENCY = 64;
const KEY_SAMPLE = 5_000;

const BROWSER = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "text/html,application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
};

/** Client i's address: i shuffled over the 2^22 addresses of 100.64.0.0/10 (odd multiplier: a bijection). */
function address(i: number): string {
  const n = Number((BigInt(i) * 2_654_435_761n) & 0x3f_ffffn);
  return `100.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

async function trackedClients() {
  const server = await startRedisServer();
  const inspector = new Redis(server.url);
  const settings = settingsSchema.parse({ policy: examplePolicyPath, redisUrl: server.url, storeTimeout: 5_000, logLevel: "silent" });
  const core = await createDecisionCore(settings, { logger: createLogger({ level: "silent" }) });
  try {
    const used = async () => Number(/used_memory:(\d+)/.exec(await inspector.info("memory"))?.[1] ?? 0);
    // Start-up state (policy history, site-wide figures) is not any client's.
    await sleep(500);
    collectGarbage();
    const [redisBefore, keysBefore, heapBefore] = [await used(), await inspector.dbsize(), process.memoryUsage().heapUsed];
    const started = Date.now();
    let next = 0;
    let completed = 0;
    // Decisions by request and action, per client: what the population went through (a quarantined client is held in memory too).
    const decisions: Record<string, number> = {};
    const check = async (step: string, input: Parameters<typeof checkRequest>[0]) => {
      const { decision } = await core.pipeline.evaluate(toHttpAttributes(checkRequest({ ...input, timeMs: Date.now() }) as never));
      const key = `${step} ${decision.action}`;
      decisions[key] = (decisions[key] ?? 0) + 1;
    };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < clients && Date.now() - started < budgetMs) {
          const i = next++;
          const ip = address(i);
          const cookie = `sid=s${i.toString(36)}; did=d${i.toString(36)}`;
          await check("product", { path: `/api/v1/products/${i % 20_000}`, ip, headers: { ...BROWSER, cookie } });
          const requestId = `login-${i}`;
          await check("login", {
            method: "POST",
            path: "/api/v1/login",
            ip,
            requestId,
            headers: { ...BROWSER, cookie, "content-type": "application/json" },
            body: JSON.stringify({ username: `shopper${i}@example.com`, password: `pw-${i}` }),
          });
          // Nine in ten sign in; one in ten mistyped and is told so (Envoy logs the 401).
          const statusCode = i % 10 === 0 ? 401 : 200;
          await core.outcomes.record({ requestId, timeMs: Date.now(), method: "POST", path: "/api/v1/login", statusCode, responseHeaders: new Map(), clientAddress: ip });
          await check("token", {
            method: "POST",
            path: "/oauth/token",
            ip,
            headers: { ...BROWSER, cookie, "content-type": "application/x-www-form-urlencoded" },
            body: `grant_type=refresh_token&refresh_token=rt-${i.toString(36)}`,
          });
          completed++;
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    collectGarbage();
    const heapAfter = process.memoryUsage().heapUsed;
    const [redisAfter, keysAfter] = [await used(), await inspector.dbsize()];
    const keys = keysAfter - keysBefore;
    return {
      clients: completed,
      seconds: Math.round(seconds),
      checksPerSecond: Math.round((completed * 3) / seconds),
      redisBytesPerClient: Math.round((redisAfter - redisBefore) / completed),
      redisKeysPerClient: round(keys / completed, 2),
      redisBytesPerKey: Math.round((redisAfter - redisBefore) / Math.max(1, keys)),
      keysByStructure: await keyShares(inspector, keys, completed),
      heapBytesPerClient: Math.round((heapAfter - heapBefore) / completed),
      decisionsPerClient: Object.fromEntries(Object.entries(decisions).sort().map(([key, count]) => [key, round(count / completed, 3)])),
    };
  } finally {
    await core.stop();
    inspector.disconnect();
    await server.stop();
  }
}

/**
 * Which structures the keys are, from a random sample (RANDOMKEY): by the entity kind inside the
 * hash tag and the structure letter after it (w window bucket, d distinct-count bucket, m member
 * set, v value, b baseline, t token binding), as keys per client.
 */
async function keyShares(inspector: Redis, keys: number, tracked: number): Promise<Record<string, number>> {
  const counts = new Map<string, number>();
  const sample = Math.min(KEY_SAMPLE, keys);
  for (let i = 0; i < sample; i++) {
    const key = (await inspector.randomkey()) ?? "";
    const match = /^[^:]+:\{([a-z_.-]+):[^}]*\}:([a-z])(?::([^:]+))?/i.exec(key);
    const label = match ? `${match[1]} ${match[2]}${match[3] ? ` ${match[3]}` : ""}` : key.replace(/[0-9A-Za-z_-]{16,}/g, "…").slice(0, 60);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  const perClient = (count: number) => round(((count / sample) * keys) / tracked, 2);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).filter(([, count]) => perClient(count) >= 0.01).map(([label, count]) => [label, perClient(count)]));
}

/** The token bindings' heap at their LRU bound (the most a replica ever holds), per token. */
async function heapBytesPerToken(): Promise<{ tokens: number; bytesPerToken: number }> {
  const config: CompiledTokenBinding = {
    companionCookies: ["did"],
    newDevice: 60,
    companionChanged: 60,
    alternation: { windowMs: 600_000, weight: 60 },
    churn: { windowMs: 600_000, maxNetworks: 3, weight: 60 },
    rate: { windowMs: 300_000, max: 4, weight: 60 },
    retentionMs: 30 * 24 * HOUR,
  };
  const tokens = 200_000; // the LRU's bound
  const bindings = new TokenBindings();
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < tokens; i++) {
    await bindings.observe(
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
  return { tokens, bytesPerToken: Math.round(bytes / tokens) };
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc (npm run bench:memory does)");
  gc();
  gc();
}

function round(value: number, digits: number): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const tokenBinding = await heapBytesPerToken();
const tracked = await trackedClients();
process.stdout.write(`${JSON.stringify({ ...tracked, tokenBindingHeap: tokenBinding }, null, 2)}\n`);
process.exit(0);
