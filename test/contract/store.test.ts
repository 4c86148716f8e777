/**
 * One Store contract, run against every store: the in-memory store, Redis on a real
 * redis-server, and Redis Cluster (a one-node cluster owning every slot). Then what only Redis
 * can get wrong (TTLs, slots, round trips, faults) and the fallback to local state.
 */
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/state/memory-store.js";
import { createRedisStore, type RedisStore } from "../../src/state/redis-store.js";
import { applyWithStatus, isStoreDegraded, ResilientStore } from "../../src/state/resilient-store.js";
import {
  StoreUnavailableError,
  type BaselineObservation,
  type DistinctAdd,
  type EntityOp,
  type MemberAdd,
  type MemberCheck,
  type Store,
  type WindowAdd,
  type WindowAlgorithm,
  type WindowTake,
} from "../../src/state/store.js";
import {
  privateRedisUnsupported,
  startRedisSentinel,
  startRedisServer,
  type RedisServerHandle,
} from "../helpers/redis-server.js";

/** An event time on a bucket edge of every window used here (1 s, 5 s, 60 s). */
const T0 = 1_699_999_980_000;
const SECOND = 1_000;
/** Generous for shared CI machines; the fault tests use a short one on purpose. */
const TEST_COMMAND_TIMEOUT_MS = 1_000;

const add = (name: string, amount: number, windowMs = SECOND): WindowAdd => ({ op: "window.add", name, windowMs, amount });
const read = (name: string, windowMs = SECOND): WindowAdd => add(name, 0, windowMs);
const distinct = (member?: string, windowMs = SECOND): DistinctAdd => ({ op: "distinct.add", name: "users", windowMs, ...(member === undefined ? {} : { member }) });
const remember = (member: string, maxMembers = 3, retentionMs = 60 * SECOND): MemberAdd => ({ op: "member.add", name: "devices", member, maxMembers, retentionMs });
const known = (member: string): MemberCheck => ({ op: "member.check", name: "devices", member });
const take = (amount: number, limit: number, algorithm: WindowAlgorithm = "fixed", windowMs = SECOND, name = "quota"): WindowTake => ({
  op: "window.take",
  name,
  windowMs,
  algorithm,
  limit,
  amount,
});
const observation = (period: number, value: number, alpha = 0.5): BaselineObservation => ({ period, value, alpha, retentionMs: 60 * SECOND });

interface StoreHarness {
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** Empties the backing state between tests. */
  reset(): Promise<void>;
  open(): Promise<Store>;
  keyCount(): Promise<number>;
}

interface RedisHarness extends StoreHarness {
  readonly url: string;
  readonly server: RedisServerHandle;
  /** A plain connection for inspecting the server (on Cluster, the one node holds every slot). */
  readonly admin: Redis;
  readonly cluster: boolean;
}

function memoryHarness(): StoreHarness {
  let store: MemoryStore | undefined;
  return {
    setUp: async () => {},
    tearDown: async () => {},
    reset: async () => {},
    open: async () => (store = new MemoryStore()),
    keyCount: async () => store?.size ?? 0,
  };
}

function redisHarness(options: { cluster: boolean }): RedisHarness {
  let server: RedisServerHandle | undefined;
  let admin: Redis | undefined;
  const harness: RedisHarness = {
    cluster: options.cluster,
    get server() {
      if (!server) throw new Error("redis harness not set up");
      return server;
    },
    get url() {
      return harness.server.url;
    },
    get admin() {
      if (!admin) throw new Error("redis harness not set up");
      return admin;
    },
    setUp: async () => {
      server = await startRedisServer({ cluster: options.cluster });
      admin = new Redis(options.cluster ? `redis://127.0.0.1:${server.port}` : server.url);
    },
    tearDown: async () => {
      admin?.disconnect();
      await server?.stop().catch(() => {}); // an external server cannot be stopped
    },
    reset: async () => void (await harness.admin.flushdb()),
    open: async () => openRedisStore(harness.url),
    keyCount: async () => harness.admin.dbsize(),
  };
  return harness;
}

async function openRedisStore(url: string, commandTimeoutMs = TEST_COMMAND_TIMEOUT_MS): Promise<RedisStore> {
  const store = createRedisStore(url, { commandTimeoutMs });
  if (!(await store.waitUntilReady(10_000))) throw new Error(`no Redis at ${url}`);
  return store;
}

function useHarness(harness: StoreHarness): void {
  beforeAll(() => harness.setUp());
  afterAll(() => harness.tearDown());
}

function storeContract(harness: StoreHarness): void {
  let store: Store;
  beforeEach(async () => {
    await harness.reset();
    store = await harness.open();
  });
  afterEach(() => store.close());

  it("counts hits within one window", async () => {
    expect(await store.apply("ip1", [add("hits", 1)], T0 + 100)).toEqual([1]);
    expect(await store.apply("ip1", [add("hits", 2)], T0 + 200)).toEqual([3]);
    expect(await store.apply("ip1", [read("hits")], T0 + 999)).toEqual([3]);
  });

  it("slides across a bucket edge by weighting the previous bucket by its overlap", async () => {
    await store.apply("ip1", [add("hits", 4)], T0 + 200);
    expect(await store.apply("ip1", [read("hits")], T0 + 1_000)).toEqual([4]);
    expect(await store.apply("ip1", [add("hits", 1)], T0 + 1_250)).toEqual([1 + 4 * 0.75]);
    expect(await store.apply("ip1", [read("hits")], T0 + 1_750)).toEqual([1 + 4 * 0.25]);
    expect(await store.apply("ip1", [read("hits")], T0 + 2_000)).toEqual([1]);
    expect(await store.apply("ip1", [read("hits")], T0 + 3_000)).toEqual([0]);
  });

  it("reads without writing when the amount is 0", async () => {
    expect(await store.apply("ip1", [read("hits")], T0)).toEqual([0]);
    expect(await harness.keyCount()).toBe(0);
    await store.apply("ip1", [add("hits", 2)], T0);
    expect(await store.apply("ip1", [read("hits"), read("hits")], T0 + 1)).toEqual([2, 2]);
    expect(await harness.keyCount()).toBe(1);
  });

  it("keeps entities, names and window lengths apart", async () => {
    await store.apply("ip1", [add("hits", 1), add("fails", 2), add("hits", 3, 5 * SECOND)], T0);
    await store.apply("ip2", [add("hits", 4)], T0);
    expect(await store.apply("ip1", [read("hits"), read("fails"), read("hits", 5 * SECOND)], T0)).toEqual([1, 2, 3]);
    expect(await store.apply("ip2", [read("hits"), read("fails")], T0)).toEqual([4, 0]);
  });

  it("answers many ops in order, each seeing the ones before it", async () => {
    const ops = [add("a", 1), add("b", 5), add("a", 2), read("a"), read("b"), add("c", 0)];
    expect(await store.apply("ip1", ops, T0)).toEqual([1, 5, 3, 3, 5, 0]);
    expect(await store.apply("ip1", [], T0)).toEqual([]);
  });

  it("picks buckets by event time, however far from the local clock", async () => {
    const longAgo = 5 * SECOND; // replayed traffic from 1970
    const farAhead = 4_102_444_800_000; // 2100
    expect(await store.apply("ip1", [add("hits", 1)], longAgo)).toEqual([1]);
    expect(await store.apply("ip1", [add("hits", 2)], farAhead)).toEqual([2]);
    // Expiry runs on the local clock, so the 1970 bucket is still there.
    expect(await store.apply("ip1", [read("hits")], longAgo + 500)).toEqual([1]);
  });

  it("rejects invalid input with a TypeError and writes none of the call", async () => {
    const invalid: [string, WindowAdd, number][] = [
      ["ip1", add("hits", -1), T0],
      ["ip1", add("hits", Number.NaN), T0],
      ["ip1", add("hits", 1.5), T0],
      ["ip1", add("hits", Number.POSITIVE_INFINITY), T0],
      ["ip1", add("hits", 1, 0), T0],
      ["ip1", add("", 1), T0],
      ["", add("hits", 1), T0],
      ["ip}1", add("hits", 1), T0],
      ["ip1", add("hits", 1), Number.NaN],
      ["ip1", add("hits", 1), 1e21],
    ];
    for (const [entity, op, nowMs] of invalid) {
      await expect(store.apply(entity, [add("valid", 1), op], nowMs)).rejects.toThrow(TypeError);
    }
    await expect(store.apply("ip1", [add("hits", -1)], T0)).rejects.toThrow(/amount must be a non-negative integer, got -1/);
    expect(await harness.keyCount()).toBe(0);
  });

  it("counts distinct members over the current and previous bucket", async () => {
    expect(await store.apply("ip1", [distinct("alice"), distinct("bob"), distinct("alice")], T0 + 100)).toEqual([1, 2, 2]);
    expect(await store.apply("ip1", [distinct("carol")], T0 + SECOND + 100)).toEqual([3]);
    expect(await store.apply("ip1", [distinct("alice")], T0 + SECOND + 200)).toEqual([3]);
    expect(await store.apply("ip1", [distinct()], T0 + 2 * SECOND + 100)).toEqual([2]);
    expect(await store.apply("ip1", [distinct()], T0 + 3 * SECOND + 100)).toEqual([0]);
    expect(await store.apply("ip2", [distinct()], T0)).toEqual([0]);
  });

  it("remembers the most recent members of a set and answers membership", async () => {
    expect(await store.apply("user1", [known("phone")], T0)).toEqual([0]);
    expect(await store.apply("user1", [remember("phone"), known("phone"), known("laptop")], T0)).toEqual([1, 1, 0]);
    await store.apply("user1", [remember("laptop")], T0 + 1);
    await store.apply("user1", [remember("tablet")], T0 + 2);
    await store.apply("user1", [remember("phone")], T0 + 3); // seen again: now the newest
    expect(await store.apply("user1", [remember("kiosk")], T0 + 4)).toEqual([3]);
    expect(await store.apply("user1", ["phone", "laptop", "tablet", "kiosk"].map(known), T0 + 5)).toEqual([1, 0, 1, 1]);
    expect(await store.apply("user2", [known("phone")], T0)).toEqual([0]);
  });

  it("forgets the oldest members first, ties by member, as a sorted set does", async () => {
    await store.apply("user1", ["b", "c", "a"].map((member) => remember(member, 2)), T0);
    expect(await store.apply("user1", ["a", "b", "c"].map(known), T0)).toEqual([0, 1, 1]);
  });

  it("learns a baseline once per period: an exponentially weighted mean and variance", async () => {
    expect(await store.observeBaseline("site", "logins", observation(10, 100))).toEqual({ mean: 100, variance: 0, samples: 1, lastPeriod: 10 });
    expect(await store.observeBaseline("site", "logins", observation(11, 110))).toEqual({ mean: 105, variance: 25, samples: 2, lastPeriod: 11 });
    // The same period again (another replica) or an older one changes nothing.
    expect(await store.observeBaseline("site", "logins", observation(11, 500))).toEqual({ mean: 105, variance: 25, samples: 2, lastPeriod: 11 });
    expect(await store.observeBaseline("site", "logins", observation(3, 500))).toMatchObject({ samples: 2 });
    const third = await store.observeBaseline("site", "logins", observation(12, 0.1, 0.1));
    expect(third).toEqual({ mean: 105 + 0.1 * (0.1 - 105), variance: 0.9 * (25 + (0.1 - 105) * 0.1 * (0.1 - 105)), samples: 3, lastPeriod: 12 });
    expect(await store.observeBaseline("site", "other", observation(12, 1))).toMatchObject({ samples: 1 });
  });

  it("rejects invalid ops of every kind and invalid observations with a TypeError", async () => {
    const invalid: EntityOp[] = [
      distinct("x", 0),
      distinct(""),
      known("x".repeat(257)),
      remember("x", 0),
      remember("x", 3, -1),
      { op: "nonsense" } as unknown as EntityOp,
    ];
    for (const op of invalid) await expect(store.apply("ip1", [remember("valid"), op], T0)).rejects.toThrow(TypeError);
    for (const bad of [observation(-1, 1), observation(1, Number.NaN), observation(1, 1, 0), observation(1, 1, 1.5), { ...observation(1, 1), retentionMs: 0 }]) {
      await expect(store.observeBaseline("site", "logins", bad)).rejects.toThrow(TypeError);
    }
    await expect(store.observeBaseline("si{te", "logins", observation(1, 1))).rejects.toThrow(TypeError);
    expect(await harness.keyCount()).toBe(0);
  });

  it("takes from a fixed window while the quota lasts, and never counts a refused take", async () => {
    const befores = [];
    for (let i = 0; i < 5; i++) befores.push(...(await store.apply("rl1", [take(2, 7)], T0 + i)));
    expect(befores).toEqual([0, 2, 4, 6, 6]); // 6 + 2 > 7: refused, and so not counted
    expect(await store.apply("rl1", [take(1, 7)], T0 + 10)).toEqual([6]);
    expect(await store.apply("rl1", [take(0, 7)], T0 + 11)).toEqual([7]);
    expect(await store.apply("rl1", [take(1, 7)], T0 + SECOND)).toEqual([0]); // a new window starts from zero
  });

  it("takes from a sliding window by its two-bucket estimate, in the window.add buckets", async () => {
    await store.apply("rl1", [add("quota", 4)], T0 + 500);
    expect(await store.apply("rl1", [take(1, 5, "sliding")], T0 + 600)).toEqual([4]);
    expect(await store.apply("rl1", [take(1, 5, "sliding")], T0 + 700)).toEqual([5]); // refused
    expect(await store.apply("rl1", [take(1, 5, "sliding")], T0 + SECOND + 250)).toEqual([5 * 0.75]);
    expect(await store.apply("rl1", [take(1, 5, "sliding")], T0 + SECOND + 260)).toEqual([1 + 5 * 0.74]); // refused: 5.7 > 5
    expect(await store.apply("rl1", [read("quota")], T0 + SECOND + 270)).toEqual([1 + 5 * 0.73]);
  });

  it("counts the takes of one call all together or not at all", async () => {
    const burst = (amount: number) => take(amount, 3, "fixed", SECOND, "burst");
    const sustained = (amount: number) => take(amount, 5, "sliding", 60 * SECOND, "sustained");
    for (let i = 0; i < 3; i++) expect(await store.apply("rl1", [burst(1), sustained(1)], T0 + i)).toEqual([i, i]);
    expect(await store.apply("rl1", [burst(1), sustained(1)], T0 + 3)).toEqual([3, 3]); // burst refuses: sustained not counted
    expect(await store.apply("rl1", [burst(1), sustained(3)], T0 + SECOND)).toEqual([0, 3]); // sustained refuses
    expect(await store.apply("rl1", [burst(0), sustained(0)], T0 + SECOND + 1)).toEqual([0, 3]);
  });

  it("lets a later take of the same counter in one call see the earlier ones", async () => {
    expect(await store.apply("rl1", [take(2, 5), take(2, 5), take(1, 5)], T0)).toEqual([0, 2, 4]);
    expect(await store.apply("rl1", [take(1, 5), take(1, 5)], T0)).toEqual([5, 6]); // refused together
    expect(await store.apply("rl1", [take(0, 5)], T0)).toEqual([5]);
  });

  it("writes nothing for takes that read (amount 0) or are refused", async () => {
    await store.apply("rl1", [take(0, 5), take(0, 5, "sliding")], T0);
    await store.apply("rl1", [take(6, 5), take(1, 5, "sliding")], T0);
    expect(await harness.keyCount()).toBe(0);
  });

  it("rejects takes mixed with other ops, and invalid takes, with a TypeError", async () => {
    const invalid: EntityOp[][] = [
      [take(1, 5), add("hits", 1)],
      [add("hits", 1), take(1, 5)],
      [take(-1, 5)],
      [take(1, -5)],
      [take(1, 5.5)],
      [{ ...take(1, 5), algorithm: "leaky" as WindowAlgorithm }],
      [take(1, 5, "fixed", 0)],
    ];
    for (const ops of invalid) await expect(store.apply("rl1", ops, T0)).rejects.toThrow(TypeError);
    expect(await harness.keyCount()).toBe(0);
  });

  it("answers ping while open; after close, ping is false and calls are unavailable", async () => {
    expect(await store.ping()).toBe(true);
    await store.close();
    expect(await store.ping()).toBe(false);
    await expect(store.apply("ip1", [add("hits", 1)], T0)).rejects.toBeInstanceOf(StoreUnavailableError);
  });
}

/** What only Redis can get wrong: TTLs, slots, round trips. */
function redisContract(harness: RedisHarness): void {
  let store: RedisStore;
  beforeEach(async () => {
    await harness.reset();
    store = await openRedisStore(harness.url);
  });
  afterEach(() => store.close());

  it("gives every key a TTL of at most two windows", async () => {
    await store.apply("ip1", [add("hits", 1), add("hits", 1, 60 * SECOND), read("never-written")], T0);
    await store.apply("ip2", [add("fails", 3, 5 * SECOND)], T0 + 7_000);
    const keys = await harness.admin.keys("*");
    expect(keys).toHaveLength(3);
    for (const key of keys) {
      const windowMs = Number(key.split(":").at(-2));
      const ttl = await harness.admin.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(2 * windowMs);
    }
  });

  it("gives fixed take buckets one window of TTL and sliding ones two", async () => {
    await store.apply("rl1", [take(1, 5, "fixed", 5 * SECOND), take(1, 5, "sliding", 5 * SECOND)], T0);
    const ttls = Object.fromEntries(
      await Promise.all((await harness.admin.keys("*")).map(async (key) => [key.split(":")[2], await harness.admin.pttl(key)] as const)),
    );
    expect(ttls.f).toBeGreaterThan(4 * SECOND);
    expect(ttls.f).toBeLessThanOrEqual(5 * SECOND);
    expect(ttls.w).toBeGreaterThan(9 * SECOND);
    expect(ttls.w).toBeLessThanOrEqual(10 * SECOND);
  });

  it("gives sets and baselines their retention as TTL, and distinct buckets two windows", async () => {
    await store.apply("user1", [remember("phone", 3, 30 * SECOND), distinct("alice", 5 * SECOND)], T0);
    await store.observeBaseline("user1", "logins", { ...observation(1, 1), retentionMs: 20 * SECOND });
    const ttls = Object.fromEntries(
      await Promise.all((await harness.admin.keys("*")).map(async (key) => [key.split(":")[2], await harness.admin.pttl(key)] as const)),
    );
    expect(Object.keys(ttls).sort()).toEqual(["b", "d", "m"]);
    expect(ttls.m).toBeGreaterThan(29 * SECOND);
    expect(ttls.m).toBeLessThanOrEqual(30 * SECOND);
    expect(ttls.d).toBeGreaterThan(9 * SECOND);
    expect(ttls.d).toBeLessThanOrEqual(10 * SECOND);
    expect(ttls.b).toBeGreaterThan(19 * SECOND);
    expect(ttls.b).toBeLessThanOrEqual(20 * SECOND);
  });

  it("keeps all keys of one entity under one hash tag, so in one Cluster slot", async () => {
    await store.apply("203.0.113.7", [add("hits", 1), add("fails", 1, 5 * SECOND), add("x:y", 1, 60 * SECOND)], T0);
    await store.apply("203.0.113.7", [add("hits", 1), distinct("alice"), distinct("bob", 5 * SECOND), remember("phone")], T0 + SECOND);
    await store.observeBaseline("203.0.113.7", "logins", observation(1, 1));
    const keys = await harness.admin.keys("*");
    expect(keys).toHaveLength(8);
    for (const key of keys) expect(hashTag(key)).toBe("203.0.113.7");
    if (harness.cluster) {
      const slots = await Promise.all(keys.map((key) => harness.admin.call("CLUSTER", "KEYSLOT", key)));
      expect(new Set(slots).size).toBe(1);
    }
  });

  it("sends exactly one script call per apply(), whatever the number of ops", async () => {
    await store.apply("warm-up", [add("hits", 1)], T0); // the first call on a connection loads the script
    await harness.admin.config("RESETSTAT");
    for (let i = 0; i < 5; i++) await store.apply(`ip${i}`, [add("a", 1), add("b", 2, 5 * SECOND), read("c")], T0 + i);
    const calls = await commandCalls(harness.admin);
    expect((calls.get("evalsha") ?? 0) + (calls.get("eval") ?? 0)).toBe(5);
    // Redis also counts the commands a script runs: per apply here 2 INCRBY, 2 PEXPIRE and 4 GET
    // (the previous bucket of each op, the current one of the read). Anything more was sent
    // outside the script.
    const others = [...calls].filter(([name]) => !/^(evalsha|eval|info|config|cluster|client)\b/.test(name));
    expect(Object.fromEntries(others)).toEqual({ incrby: 10, pexpire: 10, get: 20 });
  });

  it("reloads its script after SCRIPT FLUSH", async () => {
    expect(await store.apply("ip1", [add("hits", 1)], T0)).toEqual([1]);
    await harness.admin.script("FLUSH");
    expect(await store.apply("ip1", [add("hits", 1)], T0)).toEqual([2]);
  });

  it("times out a server that stops answering as StoreUnavailableError", async () => {
    const impatient = await openRedisStore(harness.url, 100);
    await harness.admin.call("CLIENT", "PAUSE", "10000", "WRITE"); // scripts wait, the admin client does not
    try {
      const failure = await impatient.apply("ip1", [add("hits", 1)], T0).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect(String((failure as Error).cause)).toMatch(/timed out/i);
    } finally {
      await harness.admin.call("CLIENT", "UNPAUSE");
      await impatient.close();
    }
  });
}

/** The Redis Cluster hash tag: the text between the first `{` and the next `}`. */
function hashTag(key: string): string | undefined {
  const open = key.indexOf("{");
  const close = key.indexOf("}", open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : undefined;
}

async function commandCalls(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info("commandstats");
  return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > giveUpAt) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}


describe("Store contract: memory", () => {
  const harness = memoryHarness();
  useHarness(harness);
  storeContract(harness);
});

describe("Store contract: redis", () => {
  const harness = redisHarness({ cluster: false });
  useHarness(harness);
  describe("contract", () => storeContract(harness));
  describe("redis specifics", () => redisContract(harness));
});

describe.skipIf(privateRedisUnsupported)("Store contract: redis cluster (one node, all slots)", () => {
  const harness = redisHarness({ cluster: true });
  useHarness(harness);
  describe("contract", () => storeContract(harness));
  describe("redis specifics", () => redisContract(harness));
});

describe("memory and Redis agree", () => {
  const harness = redisHarness({ cluster: false });
  useHarness(harness);
  let redis: RedisStore;
  beforeAll(async () => void (redis = await openRedisStore(harness.url)));
  afterAll(() => redis.close());

  const windowAdd = fc.record({
    op: fc.constant("window.add" as const),
    name: fc.constantFrom("hits", "fails"),
    windowMs: fc.constantFrom(SECOND, 5 * SECOND, 60 * SECOND),
    amount: fc.nat({ max: 5 }),
  });
  const member = fc.constantFrom("a", "b", "c", "d", "e");
  const otherOp = fc.oneof(
    fc.record({ op: fc.constant("distinct.add" as const), name: fc.constant("users"), windowMs: fc.constantFrom(SECOND, 5 * SECOND), member: fc.option(member, { nil: undefined }) }),
    fc.record({ op: fc.constant("member.check" as const), name: fc.constant("devices"), member }),
    fc.record({ op: fc.constant("member.add" as const), name: fc.constant("devices"), member, maxMembers: fc.constantFrom(1, 2, 3), retentionMs: fc.constant(60 * SECOND) }),
  );
  const takeOp = fc.record({
    op: fc.constant("window.take" as const),
    name: fc.constantFrom("hits", "burst"),
    windowMs: fc.constantFrom(SECOND, 5 * SECOND),
    algorithm: fc.constantFrom<WindowAlgorithm>("fixed", "sliding"),
    limit: fc.nat({ max: 8 }),
    amount: fc.nat({ max: 3 }),
  });
  const call = fc.record({
    entity: fc.constantFrom("ip1", "ip2", "user1"),
    ops: fc.oneof(fc.array(fc.oneof(windowAdd, otherOp), { maxLength: 4 }), fc.array(takeOp, { minLength: 1, maxLength: 3 })),
    baseline: fc.option(fc.record({ value: fc.double({ min: -1e6, max: 1e6, noNaN: true }), alpha: fc.double({ min: 0.01, max: 1, noNaN: true }) }), { nil: undefined }),
    advanceMs: fc.nat({ max: 4 * SECOND }),
  });

  it("returns identical results for the same random sequence of calls", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 60 * SECOND }), fc.array(call, { minLength: 1, maxLength: 25 }), async (offset, calls) => {
        await harness.admin.flushdb();
        const memory = new MemoryStore();
        let nowMs = T0 + offset;
        for (const { entity, ops, baseline, advanceMs } of calls) {
          nowMs += advanceMs;
          const [fromMemory, fromRedis] = await Promise.all([memory.apply(entity, ops, nowMs), redis.apply(entity, ops, nowMs)]);
          expect(fromRedis).toEqual(fromMemory);
          if (!baseline) continue;
          const observed = { ...baseline, period: Math.floor(nowMs / SECOND), retentionMs: 60 * SECOND };
          const states = await Promise.all([memory.observeBaseline(entity, "rate", observed), redis.observeBaseline(entity, "rate", observed)]);
          expect(states[1]).toEqual(states[0]);
        }
      }),
      { seed: 20_240_611, numRuns: 40 },
    );
  });
});

describe.skipIf(privateRedisUnsupported)("when Redis fails", () => {
  const harness = redisHarness({ cluster: false });
  useHarness(harness);
  const FAULT_TIMEOUT_MS = 200;
  let store: RedisStore;
  beforeEach(async () => {
    await harness.server.start(); // a previous test may have left it dead
    await harness.reset();
    store = await openRedisStore(harness.url, FAULT_TIMEOUT_MS);
  });
  afterEach(() => store.close());

  it("fails fast with StoreUnavailableError while the server is dead, and works again after a restart", async () => {
    expect(await store.apply("ip1", [add("hits", 1)], T0)).toEqual([1]);
    await harness.server.kill();

    const failure = await settlesWithin(2_000, store.apply("ip1", [add("hits", 1)], T0).catch((error: unknown) => error));
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect((failure as StoreUnavailableError).cause).toBeInstanceOf(Error);
    expect(await settlesWithin(2_000, store.ping())).toBe(false);

    await harness.server.start();
    await eventually(() => store.ping());
    expect(await store.apply("ip1", [add("hits", 1)], T0)).toEqual([1]); // SIGKILL lost the data
  });

  it("fails fast while Redis has never been reached, and connects once it appears", async () => {
    await store.close();
    await harness.server.stop();
    store = createRedisStore(harness.url, { commandTimeoutMs: FAULT_TIMEOUT_MS });
    const failure = await settlesWithin(2_000, store.apply("ip1", [add("hits", 1)], T0).catch((error: unknown) => error));
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect(await settlesWithin(2_000, store.ping())).toBe(false);

    await harness.server.start();
    await eventually(() => store.ping());
    expect(await store.apply("ip1", [add("hits", 1)], T0)).toEqual([1]);
  });

  it("reports READONLY (a replica after failover) as StoreUnavailableError", async () => {
    const noMaster = harness.server.port === 1 ? 2 : 1; // nothing listens there: stays a stale replica
    await harness.admin.call("REPLICAOF", "127.0.0.1", String(noMaster));
    try {
      const failure = await store.apply("ip1", [add("hits", 1)], T0).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect(String((failure as Error).cause)).toMatch(/READONLY/);
    } finally {
      await harness.admin.call("REPLICAOF", "NO", "ONE");
    }
    await eventually(async () => (await store.apply("ip1", [add("hits", 1)], T0).catch(() => undefined)) !== undefined);
  });

  it("ResilientStore goes on from local state while Redis is dead, and reports it", async () => {
    const resilient = new ResilientStore(store, new MemoryStore(), { retryAfterMs: 100 });
    const transitions: boolean[] = [];
    resilient.onStateChange((change) => transitions.push(change.degraded));

    expect(await applyWithStatus(resilient, "ip1", [add("hits", 3)], T0)).toEqual({ results: [3], degraded: false });
    await harness.server.kill();
    // Local state already holds this replica's 3 hits, mirrored while Redis answered.
    expect(await applyWithStatus(resilient, "ip1", [add("hits", 1)], T0 + 10)).toEqual({ results: [4], degraded: true });
    expect(resilient.isDegraded()).toBe(true);
    expect(isStoreDegraded(resilient)).toBe(true);

    await harness.server.start();
    await eventually(async () => !(await resilient.applyWithStatus("ip1", [read("hits")], T0 + 20)).degraded);
    expect(await resilient.applyWithStatus("ip1", [read("hits")], T0 + 30)).toEqual({ results: [0], degraded: false });
    expect(resilient.isDegraded()).toBe(false);
    expect(transitions).toEqual([true, false]);
  });
});

describe.skipIf(privateRedisUnsupported)("redis+sentinel:// URLs", () => {
  let master: RedisServerHandle;
  let sentinel: RedisServerHandle;
  beforeAll(async () => {
    master = await startRedisServer();
    sentinel = await startRedisSentinel(master.port, "palisade-master");
  });
  afterAll(async () => {
    await sentinel.stop();
    await master.stop();
  });

  it("finds the master through the sentinel and counts there", async () => {
    const store = await openRedisStore(sentinel.url);
    try {
      expect(sentinel.url).toMatch(/^redis\+sentinel:\/\/127\.0\.0\.1:\d+\/palisade-master$/);
      expect(await store.apply("ip1", [add("hits", 2)], T0)).toEqual([2]);
      const direct = new Redis(master.url);
      expect(await direct.keys("palisade:{ip1}:*")).toHaveLength(1);
      direct.disconnect();
    } finally {
      await store.close();
    }
  });
});

async function settlesWithin<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
