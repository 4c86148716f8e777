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
 * BENCH_ATTACKERS=0.1 makes that share of the clients stuffing attackers instead of shoppers:
 * one login each (no cookie, a new address and a new username, the password refused), as
 * bench/memory.ts's campaign over residential proxies. Every shopper's token refresh binds its
 * token (`sess t`), so bound sessions are the shoppers.
 *
 * After the run every key is read (SCAN, MEMORY USAGE, PTTL): `structures` says which keys a
 * client costs, in keys and bytes, and `aliveAfter` how many of them are still there once each
 * retention window has passed, from the time to live Redis holds for each key.
 *
 * BENCH_REPLICATE=10 then copies every key of a client's own entities (address, account,
 * session, browser, client) nine more times under other pseudonyms (DUMP and RESTORE with its
 * time to live), so Redis holds ten times the clients' state, and measures used_memory again:
 * Redis at 10 × N clients without 10 × N clients' Checks. The keys of networks, fingerprints and
 * the site are not copied (they are shared, bounded by the networks and header sets there are).
 *
 * BENCH_LAYOUT=1 copies the run's keys into a second redis-server three times, as they are, with
 * the window and bucket of counter keys in base 36, and with each entity's string keys (window
 * counters, values) as fields of one hash per entity, and prints used_memory per client of each:
 * what another key layout would save, measured on the same keys, without the store using it.
 *
 * BENCH_SHRINK=1 runs the example policy with every window 5 s and every retention 10 s
 * (bench/memory.ts's shrunk policy) and then waits past the longest time to live, printing the
 * keys and memory left as Redis expires them (`expiry`).
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
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { shrunkPolicy } from "./memory.js";

const clients = Number(process.env.BENCH_CLIENTS ?? 20_000);
const attackerShare = Number(process.env.BENCH_ATTACKERS ?? 0);
const replicas = Math.max(1, Math.floor(Number(process.env.BENCH_REPLICATE ?? 1)));
const shrink = process.env.BENCH_SHRINK === "1";
const layouts = process.env.BENCH_LAYOUT === "1";
const budgetMs = process.env.BENCH_SECONDS ? Number(process.env.BENCH_SECONDS) * 1000 : Number.POSITIVE_INFINITY;
const HOUR = 3_600_000;
const CONCURRENCY = 64;
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
  const shrunk = shrink ? shrunkPolicy("5s", "10s") : undefined;
  const settings = settingsSchema.parse({ policy: shrunk?.policy ?? examplePolicyPath, redisUrl: server.url, storeTimeout: 5_000, logLevel: "silent" });
  const core = await createDecisionCore(settings, { logger: createLogger({ level: "silent" }) });
  try {
    const used = async () => Number(/used_memory:(\d+)/.exec(await inspector.info("memory"))?.[1] ?? 0);
    // Start-up state (policy history, site-wide figures) is not any client's.
    await sleep(500);
    collectGarbage();
    const [redisBefore, keysBefore, heapBefore] = [await used(), await inspector.dbsize(), process.memoryUsage().heapUsed];
    const startKeys = new Set<string>();
    for await (const batch of inspector.scanStream({ count: 1000 }) as AsyncIterable<string[]>) for (const key of batch) startKeys.add(key);
    const started = Date.now();
    let next = 0;
    let completed = 0;
    let checks = 0;
    let attackers = 0;
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
          if (attackerShare > 0 && i % Math.round(1 / attackerShare) === 1) {
            await attack(check, core.outcomes, i, ip);
            attackers++;
            completed++;
            continue;
          }
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
    const profile = await keyProfile(inspector, startKeys, completed);
    const layout = layouts ? await layoutWhatIf(inspector, startKeys, completed) : undefined;
    const replicated = replicas > 1 ? await replicate(inspector, startKeys, replicas, completed, redisBefore, used) : undefined;
    const expiry = shrink ? await watchExpiry(inspector, used, redisBefore, keysBefore, startKeys, completed) : undefined;
    return {
      clients: completed,
      seconds: Math.round(seconds),
      checks,
      checksPerSecond: Math.round(checks / seconds),
      redisBytesPerClient: Math.round((redisAfter - redisBefore) / completed),
      redisKeysPerClient: round(keys / completed, 2),
      redisBytesPerKey: Math.round((redisAfter - redisBefore) / Math.max(1, keys)),
      attackers,
      policy: shrink ? "example, every window 5 s and retention 10 s" : "example",
      ...profile,
      layout,
      replicated,
      expiry,
      heapBytesPerClient: Math.round((heapAfter - heapBefore) / completed),
      quarantinesHeld,
      heapByStructure,
      decisionsPerClient: Object.fromEntries(Object.entries(decisions).sort().map(([key, count]) => [key, round(count / completed, 3)])),
    };
  } finally {
    await core.stop();
    inspector.disconnect();
    await server.stop();
    if (shrunk) rmSync(shrunk.dir, { recursive: true, force: true });
  }
}

type Check = (step: string, input: Parameters<typeof checkRequest>[0]) => Promise<void>;

/** One stuffing attempt: a new address, a new username, no cookie, the password refused. */
async function attack(check: Check, outcomes: { record: (outcome: never) => Promise<unknown> }, i: number, ip: string): Promise<void> {
  const requestId = `attack-${i}`;
  await check("attack", {
    method: "POST",
    path: "/api/v1/login",
    ip,
    requestId,
    headers: { "content-type": "application/json", "user-agent": "Mozilla/5.0", accept: "*/*" },
    body: JSON.stringify({ username: `victim${i}@example.com`, password: "123456" }),
  });
  await outcomes.record({ requestId, timeMs: Date.now(), method: "POST", path: "/api/v1/login", statusCode: 401, responseHeaders: new Map(), clientAddress: ip } as never);
}

/** Hours after the run at which `aliveAfter` counts the keys Redis still holds (by their PTTL). */
const HORIZONS: [string, number][] = [["now", 0], ["10m", 600_000], ["1h", HOUR], ["2h", 2 * HOUR], ["4h", 4 * HOUR], ["1d", 24 * HOUR], ["7d", 168 * HOUR], ["30d", 720 * HOUR], ["180d", 4_320 * HOUR], ["never expires", Number.POSITIVE_INFINITY]];

/**
 * Every key the run wrote, read with SCAN, MEMORY USAGE and PTTL: by structure (the entity kind
 * inside the hash tag, the structure letter after it — w window bucket, d distinct-count bucket,
 * m member set, v value, b baseline, t token binding — and the name, with the window in
 * seconds), keys and bytes per client, largest first; and how many keys and bytes per client
 * are left once each horizon has passed, by the time to live each key holds now. MEMORY USAGE
 * counts a key's own allocations, not the share of Redis's hash tables, so `bytesPerClient`
 * here sums to less than the used_memory figure.
 */
async function keyProfile(inspector: Redis, startKeys: Set<string>, tracked: number) {
  const structures = new Map<string, { keys: number; bytes: number; maxTtlMs: number }>();
  const alive = HORIZONS.map(() => ({ keys: 0, bytes: 0 }));
  let keyBytes = 0;
  let keys = 0;
  for await (const batch of inspector.scanStream({ count: 1000 }) as AsyncIterable<string[]>) {
    const fresh = batch.filter((key) => !startKeys.has(key));
    const pipeline = inspector.pipeline();
    for (const key of fresh) pipeline.call("MEMORY", "USAGE", key).pttl(key);
    const replies = (await pipeline.exec()) ?? [];
    fresh.forEach((key, index) => {
      const bytes = Number(replies[2 * index]?.[1] ?? 0);
      const ttl = Number(replies[2 * index + 1]?.[1] ?? -2);
      if (ttl === -2) return; // expired since the scan
      const label = structureLabel(key);
      const entry = structures.get(label) ?? { keys: 0, bytes: 0, maxTtlMs: 0 };
      entry.keys++;
      entry.bytes += bytes;
      entry.maxTtlMs = ttl === -1 ? Number.POSITIVE_INFINITY : Math.max(entry.maxTtlMs, ttl);
      structures.set(label, entry);
      keys++;
      keyBytes += key.length;
      HORIZONS.forEach(([, horizon], h) => {
        if (ttl === -1 || ttl > horizon) {
          alive[h]!.keys++;
          alive[h]!.bytes += bytes;
        }
      });
    });
  }
  const perClient = (count: number, digits = 2) => round(count / tracked, digits);
  return {
    keyNameBytesPerKey: round(keyBytes / Math.max(1, keys), 1),
    structures: Object.fromEntries(
      [...structures]
        .sort((a, b) => b[1].bytes - a[1].bytes)
        .filter(([, entry]) => entry.keys / tracked >= 0.005)
        .map(([label, entry]) => [label, { keysPerClient: perClient(entry.keys), bytesPerClient: perClient(entry.bytes, 0), bytesPerKey: Math.round(entry.bytes / entry.keys), ttl: duration(entry.maxTtlMs) }]),
    ),
    aliveAfter: Object.fromEntries(HORIZONS.map(([name], h) => [name, { keysPerClient: perClient(alive[h]!.keys), memoryUsageBytesPerClient: perClient(alive[h]!.bytes, 0) }])),
  };
}

/** `palisade:{ip:…}:w:login.att:60000:29474` → `ip w login.att 60s`. */
function structureLabel(key: string): string {
  const match = /^[^:]+:\{([a-z_.-]+):[^}]*\}:([a-z])(?::(.+))?$/i.exec(key);
  if (!match) return key.replace(/[0-9A-Za-z_+/=-]{16,}/g, "…").replace(/\d{5,}/g, "#").slice(0, 60);
  const [, kind, letter, rest] = match;
  const windowed = rest && /^(.*):(\d+):\d+$/.exec(rest);
  const name = windowed ? `${windowed[1]} ${duration(Number(windowed[2]))}` : (rest ?? "");
  return `${kind} ${letter}${name ? ` ${name}` : ""}`;
}

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return "none";
  for (const [unit, size] of [["d", 24 * HOUR], ["h", HOUR], ["m", 60_000], ["s", 1000]] as const) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return ms >= 60_000 ? `${round(ms / HOUR, 2)}h` : `${ms}ms`;
}

/**
 * The run's keys in a fresh redis-server, once per layout, and used_memory per client of each.
 * Each copy gets a time to live of a day (so that Redis's table of expiring keys is counted as
 * in the store, and nothing expires while it is measured). Layouts: `asIs`; `compactSuffix`, the
 * window length and bucket of `w`, `f` and `d` keys written in base 36; `entityHash`, that too,
 * with every string key of an entity (`w`, `f`, `v`) a field of one hash `<ns>:{<entity>}:h`.
 */
async function layoutWhatIf(inspector: Redis, startKeys: Set<string>, tracked: number) {
  const source: { key: string; dump: Buffer; value?: string }[] = [];
  for await (const batch of inspector.scanStream({ count: 1000 }) as AsyncIterable<string[]>) {
    const fresh = batch.filter((key) => !startKeys.has(key));
    const read = inspector.pipeline();
    for (const key of fresh) read.dumpBuffer(key).type(key).get(key);
    const replies = (await read.exec()) ?? [];
    fresh.forEach((key, index) => {
      const dump = replies[3 * index]?.[1] as Buffer | null;
      if (!dump) return;
      const string = replies[3 * index + 1]?.[1] === "string";
      source.push({ key, dump, value: string ? (replies[3 * index + 2]?.[1] as string) : undefined });
    });
  }
  const target = await startRedisServer();
  const redis = new Redis(target.url);
  const DAY = 86_400_000;
  try {
    const measure = async (write: (pipeline: ReturnType<Redis["pipeline"]>, entry: (typeof source)[number]) => void) => {
      await redis.flushall();
      const before = Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1] ?? 0);
      for (let start = 0; start < source.length; start += 2_000) {
        const pipeline = redis.pipeline();
        for (const entry of source.slice(start, start + 2_000)) write(pipeline, entry);
        await pipeline.exec();
      }
      const after = Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1] ?? 0);
      const keys = await redis.dbsize();
      return { redisBytesPerClient: Math.round((after - before) / tracked), keysPerClient: round(keys / tracked, 2), bytesPerKey: Math.round((after - before) / keys) };
    };
    const compact = (key: string) => key.replace(/^([^:]+:\{[^}]*\}:[wfd]:.*):(\d+):(\d+)$/, (_, head: string, windowMs: string, bucket: string) => `${head}:${Number(windowMs).toString(36)}:${Number(bucket).toString(36)}`);
    const asIs = await measure((pipeline, { key, dump }) => void pipeline.restore(key, DAY, dump));
    const compactSuffix = await measure((pipeline, { key, dump }) => void pipeline.restore(compact(key), DAY, dump));
    const entityHash = await measure((pipeline, { key, dump, value }) => {
      const match = /^([^:]+:\{[^}]*\}):([wfv]:.*)$/.exec(compact(key));
      if (match && value !== undefined) pipeline.hset(`${match[1]}:h`, match[2]!, value).pexpire(`${match[1]}:h`, DAY);
      else pipeline.restore(compact(key), DAY, dump);
    });
    const encodings: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const key = await redis.randomkey();
      if (key?.endsWith(":h")) {
        const encoding = String(await redis.object("ENCODING", key));
        encodings[encoding] = (encodings[encoding] ?? 0) + 1;
      }
    }
    return { asIs, compactSuffix, entityHash, entityHashEncodings: encodings };
  } finally {
    redis.disconnect();
    await target.stop();
  }
}

/** Entity kinds that are one client's own: copied by BENCH_REPLICATE. */
const CLIENT_ENTITIES = new Set(["ip", "user", "sess", "ck", "client"]);

/**
 * Copies every key of a client's own entities `replicas - 1` more times, each copy under the
 * same entity with its pseudonym's last character replaced by one that no pseudonym has, with
 * the key's time to live, and measures Redis again: used_memory per client at replicas × N.
 */
async function replicate(inspector: Redis, startKeys: Set<string>, replicas: number, tracked: number, redisBefore: number, used: () => Promise<number>) {
  const marks = "!#$%&()*+,;<>?@[]^`|~".slice(0, replicas - 1);
  let copied = 0;
  let collisions = 0;
  const started = Date.now();
  for await (const batch of inspector.scanStream({ count: 500 }) as AsyncIterable<string[]>) {
    const own = batch.filter((key) => !startKeys.has(key) && CLIENT_ENTITIES.has(/^[^:]+:\{([a-z_.-]+):/i.exec(key)?.[1] ?? "") && !marks.includes(/([^}])\}/.exec(key)?.[1] ?? ""));
    const read = inspector.pipeline();
    for (const key of own) read.dumpBuffer(key).pttl(key);
    const replies = (await read.exec()) ?? [];
    const write = inspector.pipeline();
    own.forEach((key, index) => {
      const dump = replies[2 * index]?.[1] as Buffer | null;
      const ttl = Number(replies[2 * index + 1]?.[1] ?? -2);
      if (!dump || ttl === -2) return;
      for (const mark of marks) write.restore(key.replace(/[^}]\}/, `${mark}}`), ttl === -1 ? 0 : ttl, dump);
    });
    for (const [error] of (await write.exec()) ?? []) {
      if (error) collisions++;
      else copied++;
    }
  }
  const redisAfter = await used();
  return {
    clients: tracked * replicas,
    keysCopied: copied,
    collisions,
    seconds: Math.round((Date.now() - started) / 1000),
    redisUsedMemory: redisAfter,
    redisKeys: await inspector.dbsize(),
    redisBytesPerClient: Math.round((redisAfter - redisBefore) / (tracked * replicas)),
  };
}

/**
 * With the shrunk policy: samples Redis's key count and memory every 5 s while it expires the
 * run's keys, until the count stops falling (or two minutes pass), then profiles what is left.
 */
async function watchExpiry(inspector: Redis, used: () => Promise<number>, redisBefore: number, keysBefore: number, startKeys: Set<string>, tracked: number) {
  const samples: { seconds: number; keysPerClient: number; redisBytesPerClient: number }[] = [];
  const started = Date.now();
  let last = Number.POSITIVE_INFINITY;
  for (;;) {
    const keys = (await inspector.dbsize()) - keysBefore;
    samples.push({ seconds: Math.round((Date.now() - started) / 1000), keysPerClient: round(keys / tracked, 3), redisBytesPerClient: Math.round(((await used()) - redisBefore) / tracked) });
    if ((keys >= last && samples.length > 4) || Date.now() - started > 120_000) break;
    last = keys;
    await sleep(5_000);
  }
  const left = await keyProfile(inspector, startKeys, tracked);
  return { samples, left: left.structures };
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
    alternation: { windowMs: 600_000, weight: 60, rememberMs: 600_000 },
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
const commit = (() => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
})();
const output = { commit, date: new Date().toISOString(), loadAverage: os.loadavg().map((load) => round(load, 2)), ...tracked, tokenBindingHeap: tokenBinding, quarantineCopyHeap: quarantineCopy };
// Kept beside the bench's other results (git-ignored) for scripts/capacity.ts.
mkdirSync("bench/results", { recursive: true });
writeFileSync(`bench/results/memory-${output.date.replace(/[:.]/g, "-")}.json`, `${JSON.stringify(output, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
process.exit(0);
