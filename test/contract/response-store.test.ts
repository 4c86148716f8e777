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
import type { AuditEntry } from "../../src/state/audit-log.js";
import { MemorySharedBackend, type SharedBackend } from "../../src/state/shared-backend.js";
import { RedisCommands, type ResponseScript } from "../../src/state/redis/commands.js";
import { RedisSharedMap } from "../../src/state/redis/shared-map.js";
import { RedisSubscriber } from "../../src/state/redis/subscriber.js";
import { IDEMPOTENCY_TTL_MS, IdempotencyConflictError, WriteInDoubtError, type MapChange } from "../../src/state/shared-map.js";
import { StoreUnavailableError } from "../../src/state/store.js";
import { expectFreshTtl, sinceWrite } from "../helpers/fresh-ttl.js";
import { privateRedisUnsupported, startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";

const RETENTION = { maxEntries: 1000, maxAgeMs: 60_000 };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
let mapCounter = 0;
let statsCounter = 0;
let recordsCounter = 0;
const freshName = () => `t${++mapCounter}`;

interface Harness {
  /** Two replicas' views of one shared backend. */
  a: SharedBackend;
  b: SharedBackend;
  /**
   * Lets at least `ms` pass for the backend: the memory backend's clock moves on at once, Redis's
   * own clock by waiting. Either way no less than `ms`, however loaded the machine.
   */
  elapse(ms: number): Promise<void>;
}

/**
 * A retention the tests read back within before it runs out: a second, so that a machine too
 * busy to make two round trips within 40 ms (as happened under load) still reads what it wrote.
 */
const SHORT_MS = 1_000;

/**
 * Reads back what was just written for SHORT_MS: it must be `retained` if the read ended before
 * that time ran out since `elapsed` began; a machine slower than that may rightly find it gone.
 * (This assumed "read within a second", a wall-clock bound.)
 */
async function expectWhileRetained<T>(elapsed: () => number, read: () => Promise<T>, retained: T): Promise<void> {
  const value = await read();
  if (elapsed() < SHORT_MS) expect(value).toEqual(retained);
}

function contract(name: string, open: () => Promise<Harness>) {
  describe(`${name}: shared map`, () => {
    let h: Harness;
    beforeAll(async () => void (h = await open()));

    it("numbers every change and keeps the epoch", async () => {
      const map = h.a.map(freshName());
      const elapsed = sinceWrite();
      const first = await map.put("k1", "v1", 60_000);
      const second = await map.put("k2", "v2", 60_000);
      expect(first.epoch).not.toBe("");
      expect(second).toEqual({ value: "v2", epoch: first.epoch, seq: first.seq + 1 });
      expect(await map.version()).toEqual({ epoch: first.epoch, seq: first.seq + 1 });
      const snapshot = await map.snapshot();
      expect(snapshot.seq).toBe(second.seq);
      expect([...snapshot.entries.keys()].sort()).toEqual(["k1", "k2"]);
      expectFreshTtl(snapshot.entries.get("k1")!.ttlMs, 60_000, elapsed());
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
      await h.elapse(120);
      expect([...(await map.snapshot()).entries.keys()]).toEqual(["long"]);
      expect(await map.putIfAbsent("short", "z", 60_000)).toMatchObject({ created: true });
    });

    it("reads the live values of some keys in one call: nothing for absent, removed or expired ones", async () => {
      const name = freshName();
      const map = h.a.map(name);
      await map.put("short", "x", 60);
      await map.put("long", "y", 60_000);
      await map.put("gone", "z", 60_000);
      await map.remove("gone");
      await h.elapse(120);
      expect(await h.b.map(name).read(["long", "short", "gone", "never"])).toEqual(["y", undefined, undefined, undefined]);
      expect(await map.read([])).toEqual([]);
      await expect(map.read([""])).rejects.toThrow(TypeError);
    });

    it("announces every change, in order, to every replica", async () => {
      const name = freshName();
      const seen: MapChange[] = [];
      const subscription = await h.b.map(name).subscribe((change) => seen.push(change), () => {});
      const map = h.a.map(name);
      await map.put("k", "v", 60_000);
      await map.putIfAbsent("k", "ignored", 60_000);
      await map.remove("k");
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(2);
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

  describe(`${name}: audited changes`, () => {
    let h: Harness;
    beforeAll(async () => void (h = await open()));
    let n = 0;
    const audited = (record: object, key = `idem-${name}-${++n}-${Date.now()}`, fingerprint?: string, idempotencyTtlMs = IDEMPOTENCY_TTL_MS) => ({ record, retention: RETENTION, idempotencyKey: key, idempotencyTtlMs, fingerprint });
    const trail = async () => (await h.a.audit.read({ count: 1000, newestFirst: false })).map((entry) => entry);

    it("writes the change and its record together, and the record only when something changed", async () => {
      const map = h.a.map(freshName());
      const put = await map.put("k", "v1", 60_000, audited({ action: "put-k" }));
      expect(put.auditId).toMatch(/^\d+-\d+$/);
      const created = await map.putIfAbsent("p", "first", 60_000, audited({ action: "create-p" }));
      const refused = await map.putIfAbsent("p", "second", 60_000, audited({ action: "create-p-again" }));
      expect(created).toMatchObject({ created: true, auditId: expect.any(String) });
      expect(refused).toMatchObject({ created: false, value: "first" });
      expect(refused.auditId).toBeUndefined();
      const missed = await map.remove("k", "other", audited({ action: "remove-k-stale" }));
      const removed = await map.remove("k", "v1", audited({ action: "remove-k" }));
      expect(missed).toMatchObject({ removed: false });
      expect(removed).toMatchObject({ removed: true, value: "v1", auditId: expect.any(String) });
      const entries = await trail();
      const actions = entries.map((e) => e.record.action);
      expect(actions).toEqual(expect.arrayContaining(["put-k", "create-p", "remove-k"]));
      expect(actions).not.toContain("create-p-again");
      expect(actions).not.toContain("remove-k-stale");
      expect(entries.find((e) => e.record.action === "remove-k")!.id).toBe(removed.auditId);
    });

    it("answers a repeated idempotency key as the first time, without a second change or record", async () => {
      const map = h.a.map(freshName());
      const first = await map.putIfAbsent("q", "one", 60_000, audited({ action: "idem-once" }, `same-${name}`, "f1"));
      await map.remove("q");
      const again = await map.putIfAbsent("q", "two", 60_000, audited({ action: "idem-once" }, `same-${name}`, "f1"));
      expect(again).toMatchObject({ created: true, value: "one", auditId: first.auditId, replayed: true });
      expect((await map.snapshot()).entries.has("q")).toBe(false); // nothing written the second time
      expect((await trail()).filter((e) => e.record.action === "idem-once")).toHaveLength(1);
      await expect(map.putIfAbsent("q", "two", 60_000, audited({ action: "x" }, `same-${name}`, "f2"))).rejects.toThrow(IdempotencyConflictError);
    });

    it("forgets a key after its own time: an automatic write's is not kept for a day", async () => {
      const map = h.a.map(freshName());
      await map.putIfAbsent("q", "one", 60_000, audited({ action: "short-key" }, `short-${name}`, "f1", 200));
      await expect(map.putIfAbsent("r", "one", 60_000, audited({ action: "x" }, `short-${name}`, "f2", 200))).rejects.toThrow(IdempotencyConflictError);
      await new Promise((resolve) => setTimeout(resolve, 400));
      await expect(map.putIfAbsent("r", "two", 60_000, audited({ action: "short-key-again" }, `short-${name}`, "f2", 200))).resolves.toMatchObject({ created: true, value: "two" });
    });

    it("rejects bad audited input before writing", async () => {
      const map = h.a.map(freshName());
      await expect(map.put("k", "v", 1000, audited({}, ""))).rejects.toThrow(TypeError);
      await expect(map.put("k", "v", 1000, audited({}, undefined, undefined, 0))).rejects.toThrow(TypeError);
      await expect(map.put("k", "v", 1000, { ...audited({}), retention: { maxEntries: 0, maxAgeMs: 1 } })).rejects.toThrow(TypeError);
      expect((await map.snapshot()).entries.size).toBe(0);
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
      await expect.poll(() => b.get("k")?.value, { timeout: 10_000 }).toBe("v");
      expect(await b.remove("k", "v")).toMatchObject({ removed: true });
      expect(b.get("k")).toBeUndefined();
      await expect.poll(() => a.get("k"), { timeout: 10_000 }).toBeUndefined();
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

    it("hands each entry appended after following to one follower of a group, and every group its own copy", async () => {
      const group = `g${++mapCounter}`;
      await h.a.audit.append({ warm: true }, RETENTION); // a fresh time to live for the stream
      const seen: Record<string, AuditEntry[]> = { a: [], b: [], other: [] };
      const follow = (backend: SharedBackend, groupName: string, who: string) =>
        backend.audit.follow(groupName, who, async (entries) => void seen[who]!.push(...entries.filter((e) => e.record.marker === group)));
      const followers = [await follow(h.a, group, "a"), await follow(h.b, group, "b"), await follow(h.a, `${group}-other`, "other")];
      try {
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) ids.push(await (i % 2 ? h.a : h.b).audit.append({ n: i, marker: group }, RETENTION));
        const handled = () => [...seen.a!, ...seen.b!].map((e) => e.id).sort(compareIds);
        await expect.poll(handled, { timeout: 10_000 }).toEqual(ids);
        await expect.poll(() => seen.other!.map((e) => e.id), { timeout: 10_000 }).toEqual(ids);
        expect(seen.other!.map((e) => e.record.n)).toEqual([0, 1, 2, 3, 4, 5]);
        // Once each, not again: a last entry is handed out after any second delivery of the
        // first six would have been (each follower reads in order), so wait for it, not a while.
        const last = await h.a.audit.append({ n: "last", marker: group }, RETENTION);
        await expect.poll(() => handled().includes(last), { timeout: 10_000 }).toBe(true);
        expect(handled()).toEqual([...ids, last]);
      } finally {
        await Promise.all(followers.map((f) => f.close()));
      }
    });

    it("keeps at most maxEntries, and nothing older than maxAge", async () => {
      const log = h.a.audit;
      for (let i = 0; i < 4; i++) await log.append({ n: i }, { maxEntries: 3, maxAgeMs: 60_000 });
      expect((await log.read({ count: 100, newestFirst: false })).map((e) => e.record.n)).toEqual([1, 2, 3]);
      await h.elapse(SHORT_MS + 10);
      const elapsed = sinceWrite();
      await log.append({ n: "fresh" }, { maxEntries: 100, maxAgeMs: SHORT_MS });
      await expectWhileRetained(elapsed, async () => (await log.read({ count: 100, newestFirst: false })).map((e) => e.record.n), ["fresh"]);
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
      const elapsed = sinceWrite();
      await h.a.stats.add(minute, { n: 1 }, { hourMs: SHORT_MS, minuteMs: SHORT_MS });
      const bucketCounts = async () => [(await h.a.stats.read("minute", minute, minute)).length, (await h.a.stats.read("hour", minute, minute)).length];
      await expectWhileRetained(elapsed, bucketCounts, [1, 1]);
      await h.elapse(SHORT_MS + 10);
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
      const elapsed = sinceWrite();
      await h.a.decisions.write([write(minute, 1)], { retentionMs: SHORT_MS, perMinute: 3 });
      await expectWhileRetained(elapsed, async () => (await h.a.decisions.get(minute, write(minute, 1).field, "o00000000000a")) !== undefined, true);
      await h.elapse(SHORT_MS + 10);
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
  let skipped = 0;
  const shared = new MemorySharedBackend({ clock: () => Date.now() + skipped });
  return { a: shared, b: shared, elapse: async (ms) => void (skipped += ms) };
});

let redis: RedisServerHandle;
let cluster: RedisServerHandle | undefined;
const opened: RedisSharedBackend[] = [];

async function openRedis(url: string): Promise<Harness> {
  // Ten seconds per command, not the one-second default: on a machine loaded twenty times over
  // a round trip took longer than a second and the contract failed on "Command timed out".
  const [a, b] = [createRedisSharedBackend(url, { commandTimeoutMs: 10_000 }), createRedisSharedBackend(url, { commandTimeoutMs: 10_000 })];
  opened.push(a, b);
  await Promise.all([a.waitUntilReady(20_000), b.waitUntilReady(20_000)]);
  return { a, b, elapse: sleep };
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
  it("carries over what an earlier version kept under its own keys, once, with ids and times to live", async () => {
    const admin = new Redis(redis.url);
    const { a } = await openRedis(redis.url);
    try {
      await admin.flushdb();
      const elapsed = sinceWrite();
      const [seconds, micros] = await admin.time();
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      await admin.hset("palisade:{map:quarantines}:e", "ip:old", '{"id":"q-old"}', "ip:gone", '{"id":"q-gone"}');
      await admin.zadd("palisade:{map:quarantines}:d", now + 60_000, "ip:old", now - 1_000, "ip:gone");
      await admin.hset("palisade:{map:quarantines}:m", "epoch", "legacy-epoch", "seq", "7");
      await admin.xadd("palisade:{audit}:log", "1700000000000-0", "r", '{"action":"quarantine.created"}');
      await admin.pexpire("palisade:{audit}:log", 90_000);
      const backend = a as RedisSharedBackend;
      expect(await backend.migrateLegacyKeys()).toBe(2); // one live entry, one record
      const snapshot = await a.map("quarantines").snapshot();
      expect([...snapshot.entries.keys()]).toEqual(["ip:old"]);
      expectFreshTtl(snapshot.entries.get("ip:old")!.ttlMs, 60_000, elapsed());
      expect(await a.audit.read({ count: 10, newestFirst: false })).toEqual([{ id: "1700000000000-0", record: { action: "quarantine.created" } }]);
      expectFreshTtl(await admin.pttl("palisade:{response}:audit"), 90_000, elapsed());
      await a.map("quarantines").remove("ip:old");
      expect(await backend.migrateLegacyKeys()).toBe(0); // the current keys are in use now
      expect((await a.map("quarantines").snapshot()).entries.size).toBe(0);
    } finally {
      admin.disconnect();
    }
  });

  it("finds out in the background that a write whose reply was lost was applied, and says so once", async () => {
    const client = new Redis(redis.url);
    const subscriber = new Redis(redis.url);
    const real = new RedisCommands(client, 1_000);
    // The script runs on Redis; only its reply goes missing, as when the caller's timer fires first.
    const lossy = {
      timeoutMs: real.timeoutMs,
      call: real.call.bind(real),
      script: async (name: ResponseScript, keys: readonly string[], args: readonly string[]) => {
        const reply = await real.script(name, keys, args);
        if (name === "palisadeMapAudited") throw new StoreUnavailableError("reply lost on the way back");
        return reply;
      },
    } as unknown as RedisCommands;
    try {
      const map = new RedisSharedMap(lossy, new RedisSubscriber(subscriber), "palisade", freshName());
      const told: string[] = [];
      let resolveApplied: (auditId: string) => void = () => {};
      const applied = new Promise<string>((resolve) => (resolveApplied = resolve));
      const onAppliedLater = ({ auditId }: { auditId: string }) => (told.push(auditId), resolveApplied(auditId));
      const audited = { record: { action: "lost-reply" }, retention: RETENTION, idempotencyKey: `lost-${Date.now()}`, idempotencyTtlMs: IDEMPOTENCY_TTL_MS, onAppliedLater };
      await expect(map.put("k", "v", 60_000, audited)).rejects.toThrow(WriteInDoubtError);
      const auditId = await applied;
      expect((await map.snapshot()).entries.get("k")?.value).toBe("v");
      const { a } = await openRedis(redis.url);
      const entries = await a.audit.read({ count: 1000, newestFirst: true });
      expect(entries.find((e) => e.id === auditId)?.record).toEqual({ action: "lost-reply" });
      await sleep(1_200);
      expect(told).toHaveLength(1);
    } finally {
      client.disconnect();
      subscriber.disconnect();
    }
  });

  it("gives every key a time to live and keeps the maps and the audit stream in one hash slot", async () => {
    const { a } = await openRedis(redis.url);
    const name = freshName();
    await a.map(name).put("k", "v", 30_000);
    await a.audit.append({ x: 1 }, { maxEntries: 10, maxAgeMs: 40_000 });
    const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const record = { action: "block" };
    await a.decisions.write([{ minuteMs: minute, field: "0123456789abcdef", overflowField: "o0123456789ab", record, overflowRecord: record, count: 1, lastMs: minute }], { retentionMs: 40_000, perMinute: 10 });
    const admin = new Redis(redis.url);
    try {
      const keys = [...(await admin.keys(`palisade:{response}:map:${name}:*`)), "palisade:{response}:audit", `palisade:{decisions}:m:${minute}`];
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
    await expect.poll(() => copy.get("before")?.value, { timeout: 10_000 }).toBe("1");
    const admin = new Redis(redis.url);
    try {
      // Cut every subscriber, then change the map before the copy's connection is back.
      await admin.client("KILL", "TYPE", "pubsub");
      await a.map(name).remove("before");
      await a.map(name).put("during", "2", 60_000);
    } finally {
      admin.disconnect();
    }
    await expect.poll(() => copy.entries().map((e) => e.key), { timeout: 10_000 }).toEqual(["during"]);
    expect(events).toContain("resync:reconnect");
    await copy.stop();
  });
});
