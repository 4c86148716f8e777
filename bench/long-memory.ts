/**
 * Bytes per tracked client (`npm run bench:memory`): N distinct clients each do what an
 * ordinary shopper does once — load the site's script, read one to three product pages, each
 * followed by its picture, sign in (nine in ten succeed, one in ten gets a 401, as Envoy's
 * access log reports them), refresh an OAuth token with the app's device cookie — through the
 * decision core `palisade serve` builds, on a real redis-server, with the example policy's real
 * windows. Shoppers are browsers of several kinds (the lab's header sets: desktop and mobile
 * agents, six languages) and pick products as shoppers do (seven in ten among the 500 popular
 * ones, in no order), so the population is not one fingerprint walking the catalogue.
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
import { browserClient } from "../src/lab/simulate/clients.js";
import { Random } from "../src/lab/simulate/random.js";
import { SITE_SHELL } from "../src/lab/simulate/world.js";
import { QUARANTINE_COPY, decodeQuarantine, type Quarantine } from "../src/response/quarantine-record.js";
import { ReplicatedMap } from "../src/state/replicated-map.js";
import { MemorySharedMap } from "../src/state/memory-shared-map.js";

const clients = Number(process.env.BENCH_CLIENTS ?? 20_000);
const budgetMs = process.env.BENCH_SECONDS ? Number(process.env.BENCH_SECONDS) * 1000 : Number.POSITIVE_INFINITY;
const HOUR = 3_600_000;
const CONCURRENCY = 64;
const KEY_SAMPLE = 5_000;
const PRODUCTS = 20_000;
const POPULAR_PRODUCTS = 500;

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
    let checks = 0;
    // Decisions by request and action, per client: what the population went through (a quarantined client is held in memory too).
    const decisions: Record<string, number> = {};
    const random = new Random(2026);
    const check = async (step: string, input: Parameters<typeof checkRequest>[0]) => {
      const { decision } = await core.pipeline.evaluate(toHttpAttributes(checkRequest({ ...input, timeMs: Date.now() }) as never));
      const key = `${step} ${decision.action}`;
      checks++;
      decisions[key] = (decisions[key] ?? 0) + 1;
    };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < clients && Date.now() - started < budgetMs) {
          const i = next++;
          const ip = address(i);
          const cookie = `sid=s${i.toString(36)}; did=d${i.toString(36)}`;
          const browser = Object.fromEntries(browserClient(random, random.chance(0.45)).headers) as Record<string, string>;
          await check("shell", { path: random.pick(SITE_SHELL), ip, headers: { ...browser, cookie } });
          for (let reads = random.int(1, 3); reads > 0; reads--) {
            const id = random.chance(0.7) ? random.int(1, POPULAR_PRODUCTS) : random.int(1, PRODUCTS);
            await check("product", { path: `/api/v1/products/${id}`, ip, headers: { ...browser, cookie } });
            await check("picture", { path: `/static/img/products/${id}.webp`, ip, headers: { ...browser, cookie } });
          }
          const requestId = `login-${i}`;
          await check("login", {
            method: "POST",
            path: "/api/v1/login",
            ip,
            requestId,
            headers: { ...browser, cookie, "content-type": "application/json" },
            body: JSON.stringify({ username: `shopper${i}@example.com`, password: `pw-${i}` }),
          });
          // Nine in ten sign in; one in ten mistyped and is told so (Envoy logs the 401).
          const statusCode = i % 10 === 0 ? 401 : 200;
          await core.outcomes.record({ requestId, timeMs: Date.now(), method: "POST", path: "/api/v1/login", statusCode, responseHeaders: new Map(), clientAddress: ip });
          await check("token", {
            method: "POST",
            path: "/oauth/token",
            ip,
            headers: { ...browser, cookie, "content-type": "application/x-www-form-urlencoded" },
            body: `grant_type=refresh_token&refresh_token=rt-${i.toString(36)}`,
          });
          completed++;
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    collectGarbage();
    const heapAfter = process.memoryUsage().heapUsed;
    const quarantinesHeld = core.engine.quarantines.held().length;
    const heapByStructure = releasedByStructure(core.detection as unknown as Record<string, unknown>);
    const [redisAfter, keysAfter] = [await used(), await inspector.dbsize()];
    const keys = keysAfter - keysBefore;
    return {
      clients: completed,
      seconds: Math.round(seconds),
      checks,
      checksPerSecond: Math.round(checks / seconds),
      redisBytesPerClient: Math.round((redisAfter - redisBefore) / completed),
      redisKeysPerClient: round(keys / completed, 2),
      redisBytesPerKey: Math.round((redisAfter - redisBefore) / Math.max(1, keys)),
      keysByStructure: await keyShares(inspector, keys, completed),
      heapBytesPerClient: Math.round((heapAfter - heapBefore) / completed),
      quarantinesHeld,
      heapByStructure,
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

/**
 * Where the replica's heap is, after the run: each detector of the detection state is let go in
 * turn and the heap it frees (after a full collection) is its share, in MB. What is left is
 * the rest of the process (the response engine, the counter mirror of the store, the modules).
 */
function releasedByStructure(detection: Record<string, unknown>): Record<string, number> {
  const released: Record<string, number> = {};
  collectGarbage();
  for (const name of Object.keys(detection)) {
    const before = process.memoryUsage().heapUsed;
    detection[name] = undefined;
    collectGarbage();
    const freed = before - process.memoryUsage().heapUsed;
    if (freed > 100_000) released[name] = round(freed / 1e6, 1);
  }
  released.left = round(process.memoryUsage().heapUsed / 1e6, 1);
  return released;
}

/**
 * Heap per active quarantine in a replica's copy, with the copy Quarantines keeps (compact) and
 * with the copy it kept before (the stored text and its decoded record), for the same entries.
 */
async function heapBytesPerQuarantine(): Promise<{ quarantines: number; compact: number; full: number }> {
  const count = 50_000;
  const store = new MemorySharedMap();
  for (let i = 0; i < count; i++) {
    const quarantine: Quarantine = {
      id: `q-${crypto.randomUUID()}`, scope: "ip", subject: `ip-${crypto.randomUUID().slice(0, 22)}`, rule: "catalogue-quarantine", policyVersion: "sha256:4f1c0a9e2b7d",
      reasons: [
        { code: "fingerprint.distinct_resources", value: 512, threshold: 400, weight: 25, detail: "different resources fetched" },
        { code: "cohort.catalogue_walk", value: 9, threshold: 5, weight: 40, detail: "continues a walk through the catalogue in order over 9 requests" },
      ],
      decisionId: crypto.randomUUID(), endpoint: "catalogue", startMs: Date.now(), expiresMs: Date.now() + 900_000, offence: 1, actor: "system",
    };
    await store.put(`ip:${quarantine.subject}`, JSON.stringify(quarantine), 900_000);
  }
  const measure = async (copy: ReplicatedMap<unknown>) => {
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    await copy.start();
    collectGarbage();
    const bytes = process.memoryUsage().heapUsed - before;
    if (copy.size !== count) throw new Error("the copy did not hold every quarantine: the measurement would be wrong");
    await copy.stop();
    return Math.round(bytes / count);
  };
  const compact = await measure(new ReplicatedMap({ store, ...QUARANTINE_COPY }) as ReplicatedMap<unknown>);
  const full = await measure(new ReplicatedMap({ store, decode: decodeQuarantine }) as ReplicatedMap<unknown>);
  return { quarantines: count, compact, full };
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
const quarantineCopy = await heapBytesPerQuarantine();
const tracked = await trackedClients();
process.stdout.write(`${JSON.stringify({ ...tracked, tokenBindingHeap: tokenBinding, quarantineCopyHeap: quarantineCopy }, null, 2)}\n`);
process.exit(0);
