/**
 * One contract for the response engine's storage port — shared maps, the audit log, the
 * decision statistics and the decision records — run against the in-memory backend, Redis on a real redis-server and a
 * one-node Redis Cluster.
 * Then what only Redis can get wrong: key TTLs, and a replica that misses announcements while
 * its subscriber connection is down.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisSharedBackend, type RedisSharedBackend } from "../../src/state/redis/shared-backend.js";
import { HOUR_MS, MAX_STATS_FIELDS, MINUTE_MS, STATS_OVERFLOW_FIELD } from "../../src/state/decision-stats.js";
import { MAX_RECORD_MINUTES, type DecisionRecordWrite } from "../../src/state/decision-records.js";
import { ReplicatedMap } from "../../src/state/replicated-map.js";
import { MemorySharedBackend, type SharedBackend } from "../../src/state/shared-backend.js";
import type { MapChange } from "../../src/state/shared-map.js";
import { privateRedisUnsupported, startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";

const RETENTION = { maxEntries: 1000, maxAgeMs: 60_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let mapCounter = 0;
let statsCounter = 0;
let recordsCounter = 0;
const freshName = () => `t${++mapCounter}`;

interface Harness {
  /** Two replicas' views of one shared backend. */
  a: SharedBackend;
  b: SharedBackend;
}

function contract(name: string, open: () => Promise<Harness>) {
  describe(`${name}: shared map`, () => {
    let h: Harness;
    beforeAll(async () => void (h = await open()));

    it("numbers every change and keeps the epoch", async () => {
      const map = h.a.map(freshName());
      const first = await map.put("k1", "v1", 60_000);
      const second = await map.put("k2", "v2", 60_000);
      expect(first.epoch).not.toBe("");
      expect(second).toEqual({ value: "v2", epoch: first.epoch, seq: first.seq + 1 });
      expect(await map.version()).toEqual({ epoch: first.epoch, seq: first.seq + 1 });
      const snapshot = await map.snapshot();
      expect(snapshot.seq).toBe(second.seq);
      expect([...snapshot.entries.keys()].sort()).toEqual(["k1", "k2"]);
      expect(snapshot.entries.get("k1")!.ttlMs).toBeGreaterThan(59_000);
      expect(snapshot.entries.get("k1")!.ttlMs).toBeLessThanOrEqual(60_000);
    });

    it("reports an empty, never written map as number 0, with epoch '' where the store has none yet", async () => {
      const map = h.a.map(freshName());
      const version = await map.version();
      expect(version.seq).toBe(0);
      // Redis has no epoch for a map nobody wrote; the memory map has its epoch from birth.
      expect(version.epoch === "").toBe(h.a.kind !== "memory");
      expect((await map.snapshot()).entries.size).toBe(0);
    });

    it("puts if absent only, leaving the number alone when it does not", async () => {
      const map = h.a.map(freshName());
      const created = await map.putIfAbsent("k", "first", 60_000);
      const again = await map.putIfAbsent("k", "second", 60_000);
      expect(created).toMatchObject({ created: true, value: "first" });
      expect(again).toEqual({ created: false, value: "first", epoch: created.epoch, seq: created.seq });
    });

    it("removes conditionally, never a value another writer replaced", async () => {
      const map = h.a.map(freshName());
      await map.put("k", "old", 60_000);
      const written = await map.put("k", "new", 60_000);
      expect(await map.remove("k", "old")).toEqual({ removed: false, epoch: written.epoch, seq: written.seq });
      expect(await map.remove("k", "new")).toEqual({ removed: true, value: "new", epoch: written.epoch, seq: written.seq + 1 });
      expect(await map.remove("k")).toMatchObject({ removed: false });
      await map.put("k", "any", 60_000);
      expect(await map.remove("k")).toMatchObject({ removed: true, value: "any" });
    });

    it("forgets entries after their time to live", async () => {
      const map = h.a.map(freshName());
      await map.put("short", "x", 60);
      await map.put("long", "y", 60_000);
      await sleep(120);
      expect([...(await map.snapshot()).entries.keys()]).toEqual(["long"]);
      expect(await map.putIfAbsent("short", "z", 60_000)).toMatchObject({ created: true });
    });

    it("announces every change, in order, to every replica", async () => {
      const name = freshName();
      const seen: MapChange[] = [];
      const subscription = await h.b.map(name).subscribe((change) => seen.push(change), () => {});
      const map = h.a.map(name);
      await map.put("k", "v", 60_000);
      await map.putIfAbsent("k", "ignored", 60_000);
      await map.remove("k");
      await expect.poll(() => seen.length, { timeout: 2000 }).toBe(2);
      expect(seen.map((c) => [c.op, c.key, c.seq])).toEqual([["put", "k", 1], ["remove", "k", 2]]);
      expect(seen[0]).toMatchObject({ value: "v", ttlMs: 60_000 });
      await subscription.close();
    });

    it("rejects bad input alike", async () => {
      const map = h.a.map(freshName());
      await expect(map.put("", "v", 1000)).rejects.toThrow(TypeError);
      await expect(map.put("k".repeat(513), "v", 1000)).rejects.toThrow(TypeError);
      await expect(map.put("k", "v", 0)).rejects.toThrow(TypeError);
      await expect(map.put("k", "v", 1.5)).rejects.toThrow(TypeError);
      await expect(map.remove("")).rejects.toThrow(TypeError);
      expect(() => h.a.map("Bad{name}")).toThrow(TypeError);
    });
  });

  describe(`${name}: replicated copies`, () => {
    let h: Harness;
    beforeAll(async () => void (h = await open()));

    it("shows one replica's writes on the other, and its own at once", async () => {
      const name = freshName();
      const a = new ReplicatedMap({ store: h.a.map(name), decode: (raw) => raw });
      const b = new ReplicatedMap({ store: h.b.map(name), decode: (raw) => raw });
      await Promise.all([a.start(), b.start()]);
      await a.put("k", "v", 60_000);
      expect(a.get("k")?.value).toBe("v");
      await expect.poll(() => b.get("k")?.value, { timeout: 1000 }).toBe("v");
      expect(await b.remove("k", "v")).toBe(true);
      expect(b.get("k")).toBeUndefined();
      await expect.poll(() => a.get("k"), { timeout: 1000 }).toBeUndefined();
      await Promise.all([a.stop(), b.stop()]);
    });

    it("loads what was written before it started", async () => {
      const name = freshName();
      await h.a.map(name).put("early", "1", 60_000);
      const late = new ReplicatedMap({ store: h.b.map(name), decode: (raw) => raw });
      await late.start();
      expect(late.entries().map((e) => e.key)).toEqual(["early"]);
      expect(late.stale).toBe(false);
      await late.stop();
    });
  });

  describe(`${name}: audit log`, () => {
    let h: Harness;
    beforeAll(async () => void (h = await open()));

    it("appends with ids that sort by time and reads both ways with a cursor", async () => {
      const log = h.a.audit;
      const before = Date.now() - 1;
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await log.append({ n: i, marker: "paging" }, RETENTION));
      const sorted = [...ids].sort((x, y) => compareIds(x, y));
      expect(ids).toEqual(sorted);
      const newest = await log.read({ count: 2, newestFirst: true });
      expect(newest.map((e) => e.record.n)).toEqual([4, 3]);
      const next = await log.read({ count: 2, newestFirst: true, after: newest[1]!.id });
      expect(next.map((e) => e.record.n)).toEqual([2, 1]);
      const oldest = await h.b.audit.read({ count: 100, newestFirst: false, fromMs: before });
      expect(oldest.filter((e) => e.record.marker === "paging").map((e) => e.record.n)).toEqual([0, 1, 2, 3, 4]);
      const none = await log.read({ count: 10, newestFirst: true, toMs: before - 60_000 });
      expect(none.filter((e) => e.record.marker === "paging")).toEqual([]);
    });

    it("keeps at most maxEntries, and nothing older than maxAge", async () => {
      const log = h.a.audit;
      for (let i = 0; i < 4; i++) await log.append({ n: i }, { maxEntries: 3, maxAgeMs: 60_000 });
      expect((await log.read({ count: 100, newestFirst: false })).map((e) => e.record.n)).toEqual([1, 2, 3]);
      await sleep(60);
      await log.append({ n: "fresh" }, { maxEntries: 100, maxAgeMs: 50 });
      expect((await log.read({ count: 100, newestFirst: false })).map((e) => e.record.n)).toEqual(["fresh"]);
    });

    it("rejects bad reads and retention alike", async () => {
      await expect(h.a.audit.read({ count: 0, newestFirst: true })).rejects.toThrow(TypeError);
      await expect(h.a.audit.read({ count: 1, newestFirst: true, after: "yesterday" })).rejects.toThrow(TypeError);
      await expect(h.a.audit.append({}, { maxEntries: 0, maxAgeMs: 1 })).rejects.toThrow(TypeError);
    });
  });

  describe(`${name}: decision statistics`, () => {
    let h: Harness;
    let base = 0;
    beforeAll(async () => {
      h = await open();
      // A minute of its own per backend, far from any other test's: counts never mix.
      base = (Math.floor(Date.now() / HOUR_MS) - 10 - statsCounter++ * 3) * HOUR_MS;
    });
    const keep = { hourMs: 60_000, minuteMs: 60_000 };

    it("adds every replica's counts to the same minute and hour", async () => {
      await h.a.stats.add(base, { n: 3, "a:allow": 2, "a:block": 1 }, keep);
      await h.b.stats.add(base, { n: 2, "a:allow": 2 }, keep);
      await h.b.stats.add(base + MINUTE_MS, { n: 1, "a:challenge": 1 }, keep);
      expect(await h.a.stats.read("minute", base, base + 5 * MINUTE_MS)).toEqual([
        { startMs: base, counts: { n: 5, "a:allow": 4, "a:block": 1 } },
        { startMs: base + MINUTE_MS, counts: { n: 1, "a:challenge": 1 } },
      ]);
      expect(await h.b.stats.read("hour", base, base + HOUR_MS - 1)).toEqual([{ startMs: base, counts: { n: 6, "a:allow": 4, "a:block": 1, "a:challenge": 1 } }]);
      expect(await h.a.stats.read("minute", base + 10 * MINUTE_MS, base + 20 * MINUTE_MS)).toEqual([]);
    });

    it("keeps a bucket to MAX_STATS_FIELDS fields: new ones beyond it count as overflow, known ones still count", async () => {
      const minute = base + HOUR_MS;
      const many = Object.fromEntries(Array.from({ length: MAX_STATS_FIELDS }, (_, i) => [`f:${i}`, 1]));
      await h.a.stats.add(minute, many, keep);
      await h.a.stats.add(minute, { "f:0": 1, "f:new": 1 }, keep);
      const [bucket] = await h.a.stats.read("minute", minute, minute);
      expect(Object.keys(bucket!.counts)).toHaveLength(MAX_STATS_FIELDS + 1);
      expect(bucket!.counts["f:0"]).toBe(2);
      expect(bucket!.counts["f:new"]).toBeUndefined();
      expect(bucket!.counts[STATS_OVERFLOW_FIELD]).toBe(1);
    });

    it("forgets buckets after their retention", async () => {
      const minute = base + 2 * HOUR_MS;
      await h.a.stats.add(minute, { n: 1 }, { hourMs: 40, minuteMs: 40 });
      expect(await h.a.stats.read("minute", minute, minute)).toHaveLength(1);
      await sleep(80);
      expect(await h.a.stats.read("minute", minute, minute)).toEqual([]);
      expect(await h.a.stats.read("hour", minute, minute)).toEqual([]);
    });

    it("rejects bad adds and reads that cover too many buckets", async () => {
      await expect(h.a.stats.add(base + 1, { n: 1 }, keep)).rejects.toThrow(TypeError);
      await expect(h.a.stats.add(base, { n: -1 }, keep)).rejects.toThrow(TypeError);
      await expect(h.a.stats.add(base, { "": 1 }, keep)).rejects.toThrow(TypeError);
      await expect(h.a.stats.add(base, { n: 1 }, { hourMs: 0, minuteMs: 1 })).rejects.toThrow(TypeError);
      await expect(h.a.stats.read("minute", 0, 10 * 86_400_000)).rejects.toThrow(TypeError);
      await expect(h.a.stats.read("minute", 10, 0)).rejects.toThrow(TypeError);
    });
  });
  describe(`${name}: decision records`, () => {
    let h: Harness;
    let base = 0;
    beforeAll(async () => {
      h = await open();
      // Minutes of its own per backend: records never mix between backends sharing a server.
      base = (Math.floor(Date.now() / MINUTE_MS) - 100 - recordsCounter++ * 20) * MINUTE_MS;
    });
    const limits = { retentionMs: 60_000, perMinute: 3 };
    const write = (minuteMs: number, n: number, extra: Partial<DecisionRecordWrite> = {}): DecisionRecordWrite => ({
      minuteMs,
      field: n.toString(16).padStart(16, "0"),
      overflowField: "o00000000000a",
      record: { action: "throttle", rule: "burst", subject: `s${n}`, reasons: [{ code: "velocity.ip", value: 12, threshold: 10, weight: 40 }] },
      overflowRecord: { action: "throttle", rule: "burst", reasons: [] },
      count: 1,
      lastMs: minuteMs + n,
      ...extra,
    });

    it("aggregates one key's decisions from every replica: the first record stays, counts add up, the last time is the newest", async () => {
      await h.a.decisions.write([write(base, 1, { count: 5, lastMs: base + 500 })], limits);
      await h.b.decisions.write([write(base, 1, { count: 2, lastMs: base + 100, record: { action: "throttle", rule: "other" } })], limits);
      const found = await h.b.decisions.get(base, write(base, 1).field, "o00000000000a");
      expect(found).toEqual({ minuteMs: base, field: write(base, 1).field, record: write(base, 1).record, count: 7, lastMs: base + 500, overflow: false });
      expect(await h.a.decisions.get(base + MINUTE_MS, write(base, 1).field, "o00000000000a")).toBeUndefined();
    });

    it("folds new keys of a full minute into the overflow record, which any of their ids still finds", async () => {
      const minute = base + 2 * MINUTE_MS;
      expect(await h.a.decisions.write([1, 2, 3, 4, 5].map((n) => write(minute, n)), limits)).toEqual([true, true, true, false, false]);
      expect(await h.b.decisions.write([write(minute, 1), write(minute, 6, { count: 2 })], limits)).toEqual([true, false]);
      // A replica that knows the minute is full counts in the overflow directly.
      expect(await h.a.decisions.write([write(minute, 7, { field: "o00000000000a" })], limits)).toEqual([false]);
      const own = await h.a.decisions.get(minute, write(minute, 1).field, "o00000000000a");
      expect(own).toMatchObject({ count: 2, overflow: false, record: { subject: "s1" } });
      const folded = await h.b.decisions.get(minute, write(minute, 5).field, "o00000000000a");
      expect(folded).toMatchObject({ field: "o00000000000a", count: 5, overflow: true, record: { action: "throttle", rule: "burst" } });
      expect(folded!.record.subject).toBeUndefined();
      const listed = await h.b.decisions.list({ fromMs: minute, toMs: minute, limit: 100 });
      expect(listed).toHaveLength(4);
    });

    it("lists minutes newest first, filtered, up to the limit", async () => {
      const minute = base + 4 * MINUTE_MS;
      await h.a.decisions.write([write(minute, 1), write(minute + MINUTE_MS, 2), write(minute + MINUTE_MS, 3, { record: { action: "block", rule: "trap" } })], limits);
      const all = await h.a.decisions.list({ fromMs: minute, toMs: minute + MINUTE_MS, limit: 100 });
      expect(all.map((r) => r.lastMs)).toEqual([minute + MINUTE_MS + 3, minute + MINUTE_MS + 2, minute + 1]);
      const throttles = await h.b.decisions.list({ fromMs: minute, toMs: minute + MINUTE_MS, limit: 100, match: (r) => r.record.action === "throttle" });
      expect(throttles.map((r) => r.record.subject)).toEqual(["s2", "s1"]);
      expect(await h.b.decisions.list({ fromMs: minute, toMs: minute + MINUTE_MS, limit: 1 })).toHaveLength(1);
    });

    it("forgets a minute after its retention", async () => {
      const minute = base + 7 * MINUTE_MS;
      await h.a.decisions.write([write(minute, 1)], { retentionMs: 40, perMinute: 3 });
      expect(await h.a.decisions.get(minute, write(minute, 1).field, "o00000000000a")).toBeDefined();
      await sleep(80);
      expect(await h.a.decisions.get(minute, write(minute, 1).field, "o00000000000a")).toBeUndefined();
    });

    it("rejects bad writes and lists alike", async () => {
      await expect(h.a.decisions.write([write(base + 1, 1)], limits)).rejects.toThrow(TypeError);
      await expect(h.a.decisions.write([write(base, 1, { field: "xyz" })], limits)).rejects.toThrow(TypeError);
      await expect(h.a.decisions.write([write(base, 1, { overflowField: "o1" })], limits)).rejects.toThrow(TypeError);
      await expect(h.a.decisions.write([write(base, 1, { count: 0 })], limits)).rejects.toThrow(TypeError);
      await expect(h.a.decisions.write([write(base, 1)], { retentionMs: 0, perMinute: 1 })).rejects.toThrow(TypeError);
      await expect(h.a.decisions.write([write(base, 1, { record: { big: "x".repeat(20_000) } })], limits)).rejects.toThrow(TypeError);
      await expect(h.a.decisions.list({ fromMs: 0, toMs: MAX_RECORD_MINUTES * MINUTE_MS, limit: 1 })).rejects.toThrow(TypeError);
      await expect(h.a.decisions.list({ fromMs: 10, toMs: 0, limit: 1 })).rejects.toThrow(TypeError);
      await expect(h.a.decisions.list({ fromMs: 0, toMs: 0, limit: 0 })).rejects.toThrow(TypeError);
    });
  });
}

function compareIds(x: string, y: string): number {
  const [xm, xs] = x.split("-").map(Number) as [number, number];
  const [ym, ys] = y.split("-").map(Number) as [number, number];
  return xm - ym || xs - ys;
}

contract("memory", async () => {
  const shared = new MemorySharedBackend();
  return { a: shared, b: shared };
});

let redis: RedisServerHandle;
let cluster: RedisServerHandle | undefined;
const opened: RedisSharedBackend[] = [];

async function openRedis(url: string): Promise<Harness> {
  const [a, b] = [createRedisSharedBackend(url), createRedisSharedBackend(url)];
  opened.push(a, b);
  await Promise.all([a.waitUntilReady(5000), b.waitUntilReady(5000)]);
  return { a, b };
}

beforeAll(async () => {
  redis = await startRedisServer();
  if (!privateRedisUnsupported) cluster = await startRedisServer({ cluster: true });
});

afterAll(async () => {
  await Promise.all(opened.map((backend) => backend.close()));
  await redis?.stop();
  await cluster?.stop();
});

contract("redis", () => openRedis(redis.url));
describe.skipIf(privateRedisUnsupported)("on Redis Cluster", () => {
  contract("redis cluster", () => openRedis(cluster!.url));
});

describe("redis only", () => {
  it("gives every key a time to live and keeps one map in one hash slot", async () => {
    const { a } = await openRedis(redis.url);
    const name = freshName();
    await a.map(name).put("k", "v", 30_000);
    await a.audit.append({ x: 1 }, { maxEntries: 10, maxAgeMs: 40_000 });
    const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const record = { action: "block" };
    await a.decisions.write([{ minuteMs: minute, field: "0123456789abcdef", overflowField: "o0123456789ab", record, overflowRecord: record, count: 1, lastMs: minute }], { retentionMs: 40_000, perMinute: 10 });
    const admin = new Redis(redis.url);
    try {
      const keys = [...(await admin.keys(`palisade:{map:${name}}:*`)), "palisade:{audit}:log", `palisade:{decisions}:m:${minute}`];
      expect(keys).toHaveLength(5);
      for (const key of keys) {
        const ttl = await admin.pttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(40_000);
      }
    } finally {
      admin.disconnect();
    }
  });

  it("catches up on changes made while its subscriber connection was down", async () => {
    const { a, b } = await openRedis(redis.url);
    const name = freshName();
    const events: string[] = [];
    const copy = new ReplicatedMap({ store: b.map(name), decode: (raw) => raw, onSync: (event) => events.push(event) });
    await copy.start();
    await a.map(name).put("before", "1", 60_000);
    await expect.poll(() => copy.get("before")?.value, { timeout: 1000 }).toBe("1");
    const admin = new Redis(redis.url);
    try {
      // Cut every subscriber, then change the map before the copy's connection is back.
      await admin.client("KILL", "TYPE", "pubsub");
      await a.map(name).remove("before");
      await a.map(name).put("during", "2", 60_000);
    } finally {
      admin.disconnect();
    }
    await expect.poll(() => copy.entries().map((e) => e.key), { timeout: 2000 }).toEqual(["during"]);
    expect(events).toContain("resync:reconnect");
    await copy.stop();
  });
});
