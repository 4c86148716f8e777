import { describe, expect, it, vi } from "vitest";
import type { Decision } from "../domain/decision.js";
import { MemoryDecisionRecordStore, type DecisionRecordStore } from "../state/decision-records.js";
import { StoreUnavailableError } from "../state/store.js";
import { DecisionRecords, isRecorded, RECORD_FLUSH_BATCH, recordAddressOf } from "./decision-records.js";

const quiet = { info() {}, warn() {}, error() {} };
const T0 = Date.UTC(2026, 10, 24, 9, 0, 0);

function throttle(overrides: Partial<Decision> = {}): Decision {
  return {
    decisionId: "raw-uuid",
    action: "throttle",
    risk: 40,
    reasons: [{ code: "velocity.ip", value: 31, threshold: 30, weight: 40, detail: "60s" }],
    rule: "burst",
    scope: "ip",
    policyVersion: "v1",
    endpoint: "login",
    degraded: false,
    shadowed: [],
    eventTimeMs: T0,
    ...overrides,
  };
}

function harness(store: DecisionRecordStore = new MemoryDecisionRecordStore({ clock: () => now })) {
  const limits = { retentionMs: 3_600_000, perMinute: 100 };
  const records = new DecisionRecords({ store, limits: () => limits, clock: () => now, log: quiet });
  return { records, store, limits };
}
let now = T0;

describe("decision records", () => {
  it("gives a recorded decision an id that finds its aggregate, and never shows the subject in it", async () => {
    now = T0 + 1_234;
    const { records } = harness();
    const id = records.record(throttle(), "ip:pseudonym-1");
    expect(id).not.toContain("pseudonym");
    expect(recordAddressOf(id)).toMatchObject({ minuteMs: T0 });
    await records.flush();
    expect(await records.find(id)).toMatchObject({
      firstDecisionId: "raw-uuid",
      action: "throttle",
      rule: "burst",
      subject: "ip:pseudonym-1",
      count: 1,
      reasons: [{ code: "velocity.ip", value: 31, threshold: 30 }],
      eventTime: new Date(T0).toISOString(),
      first: new Date(T0 + 1_234).toISOString(),
      overflow: false,
    });
  });

  it("keeps a flood from one subject to one record per minute, each of its ids finding it", async () => {
    now = T0;
    const { records, store } = harness();
    const ids = Array.from({ length: 10_000 }, () => records.record(throttle(), "ip:flooder"));
    expect(new Set(ids).size).toBe(10_000);
    await records.flush();
    const all = await store.list({ fromMs: T0, toMs: T0 + 59_999, limit: 100 });
    expect(all).toHaveLength(1);
    expect(all[0]!.count).toBe(10_000);
    expect((await records.find(ids[9_999]!))?.count).toBe(10_000);
  });

  it("stops writing new clients one by one once the store says the minute is full", async () => {
    now = T0;
    const memory = new MemoryDecisionRecordStore({ clock: () => now });
    let writes = 0;
    const counting: DecisionRecordStore = {
      write: (batch, limits) => ((writes += batch.length), memory.write(batch, { ...limits, perMinute: 3 })),
      get: (...args) => memory.get(...args),
      list: (query) => memory.list(query),
    };
    const { records } = harness(counting);
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(records.record(throttle(), `ip:${i}`));
    await records.flush(); // the fourth came back folded: the minute is full
    for (let i = 4; i < 1_000; i++) ids.push(records.record(throttle(), `ip:${i}`));
    await records.flush();
    expect(writes).toBe(5); // four first writes and one overflow count
    const listed = await memory.list({ fromMs: T0, toMs: T0, limit: 100 });
    expect(listed.map((r) => [r.overflow, r.count])).toEqual(expect.arrayContaining([[false, 1], [true, 997]]));
    expect(listed).toHaveLength(4);
    expect(await records.find(ids[999]!)).toMatchObject({ overflow: true, count: 997, subject: undefined });
    expect(await records.find(ids[0]!)).toMatchObject({ overflow: false, subject: "ip:0" });
  });

  it("keeps the memory store to its total bound, dropping the oldest minutes first", async () => {
    now = T0;
    const store = new MemoryDecisionRecordStore({ clock: () => now, maxRecords: 10 });
    const { records } = harness(store);
    const ids: string[] = [];
    for (let minute = 0; minute < 3; minute++) {
      now = T0 + minute * 60_000;
      for (let i = 0; i < 6; i++) ids.push(records.record(throttle(), `ip:${i}`));
      await records.flush();
    }
    const held = await store.list({ fromMs: T0, toMs: T0 + 3 * 60_000, limit: 100 });
    expect(held).toHaveLength(6); // 18 written, the oldest two minutes dropped to stay at 10 or fewer
    expect(await records.find(ids[0]!)).toBeUndefined();
    expect(await records.find(ids.at(-1)!)).toMatchObject({ subject: "ip:5" });
  });

  it("answers ids of other shapes with nothing, without asking the store", async () => {
    const { records } = harness({ get: () => Promise.reject(new Error("asked")) } as unknown as DecisionRecordStore);
    for (const id of ["", "raw-uuid", "d-zz", `d${"z".repeat(12)}-0123456789abcdef-0123456789ab-0123456789ab`]) expect(await records.find(id)).toBeUndefined();
  });

  it("keeps counts while the store is away and writes them once it is back", async () => {
    now = T0;
    const memory = new MemoryDecisionRecordStore({ clock: () => now });
    let down = true;
    const flaky: DecisionRecordStore = {
      write: (writes, limits) => (down ? Promise.reject(new StoreUnavailableError("down")) : memory.write(writes, limits)),
      get: (...args) => memory.get(...args),
      list: (query) => memory.list(query),
    };
    const { records } = harness(flaky);
    const id = records.record(throttle(), "ip:x");
    records.record(throttle(), "ip:x");
    await records.flush();
    down = false;
    await records.flush();
    expect((await records.find(id))?.count).toBe(2);
  });

  it("records every action but allow", () => {
    expect(["allow", "step_up", "challenge", "throttle", "quarantine", "block"].map((a) => isRecorded(a as Decision["action"]))).toEqual([false, true, true, true, true, true]);
  });

  it("lists the records of a range that match, as the API shows them, newest first", async () => {
    now = T0 + 5_000;
    const { records } = harness();
    records.record(throttle({ degraded: true }), "ip:a", "192.0.2.0/24");
    records.record(throttle({ action: "block", rule: "deny", endpoint: undefined }), "ip:b");
    now = T0 + 65_000;
    records.record(throttle(), "ip:c");
    records.record(throttle(), "ip:c");
    await records.flush();
    const all = await records.list({ fromMs: T0, toMs: T0 + 120_000, limit: 10 });
    expect(all[0]).toMatchObject({ subject: "ip:c", count: 2, minute: new Date(T0 + 60_000).toISOString() });
    expect(all.map((r) => r.subject).sort()).toEqual(["ip:a", "ip:b", "ip:c"]);
    const a = all.find((r) => r.subject === "ip:a")!;
    expect(a).toEqual({
      firstDecisionId: "raw-uuid",
      action: "throttle",
      rule: "burst",
      scope: "ip",
      subject: "ip:a",
      network: "192.0.2.0/24",
      endpoint: "login",
      policyVersion: "v1",
      risk: 40,
      reasons: throttle().reasons,
      degraded: true,
      eventTime: new Date(T0).toISOString(),
      first: new Date(T0 + 5_000).toISOString(),
      last: new Date(T0 + 5_000).toISOString(),
      minute: new Date(T0).toISOString(),
      count: 1,
      overflow: false,
    });
    const c = all.find((r) => r.subject === "ip:c")!;
    expect(c).toMatchObject({ count: 2, first: new Date(T0 + 65_000).toISOString(), last: new Date(T0 + 65_000).toISOString(), degraded: false });
    expect((await records.list({ fromMs: T0, toMs: T0 + 120_000, limit: 10, match: (r) => r.action === "block" })).map((r) => r.subject)).toEqual(["ip:b"]);
    expect(await records.list({ fromMs: T0 + 120_000, toMs: T0 + 180_000, limit: 10 })).toEqual([]);
  });

  it("reads ids of recorded decisions only, and no minute past what a date can hold", () => {
    expect(recordAddressOf(`d${(T0 / 60_000).toString(36)}-0123456789abcdef-0123456789ab-0123456789ab`)).toEqual({ minuteMs: T0, field: "0123456789abcdef", overflowField: "o0123456789ab" });
    expect(recordAddressOf("dzzzzzzzzzzz-0123456789abcdef-0123456789ab-0123456789ab")).toBeUndefined();
    expect(recordAddressOf("x1-0123456789abcdef-0123456789ab-0123456789ab")).toBeUndefined();
    expect(recordAddressOf("d1-0123456789abcdef-0123456789ab-0123456789ab-extra")).toBeUndefined();
  });
});

describe("decision records, in detail", () => {
  /** A memory store whose writes can fail on demand, and that counts the writes it was given. */
  function switchable() {
    const memory = new MemoryDecisionRecordStore({ clock: () => now });
    const state = { down: false, batches: [] as number[][] };
    const store: DecisionRecordStore = {
      write: (writes, limits) => {
        state.batches.push(writes.map((w) => w.count));
        return state.down ? Promise.reject(new StoreUnavailableError("down")) : memory.write(writes, limits);
      },
      get: (...args) => memory.get(...args),
      list: (query) => memory.list(query),
    };
    return { memory, store, state };
  }

  it("writes the first decision of an aggregate at once, and later ones only on a flush", async () => {
    now = T0;
    const { store, state } = switchable();
    const { records } = harness(store);
    const id = records.record(throttle(), "ip:a");
    await Promise.resolve();
    expect(state.batches).toEqual([[1]]);
    records.record(throttle(), "ip:a");
    records.record(throttle(), "ip:a");
    expect(state.batches).toEqual([[1]]);
    await records.flush();
    expect(state.batches).toEqual([[1], [2]]);
    // Nothing new: a flush writes nothing at all.
    await records.flush();
    expect(state.batches).toHaveLength(2);
    expect((await records.find(id))?.count).toBe(3);
  });

  it("gives every decision of an aggregate an id of the same record, and other aggregates others", () => {
    now = T0;
    const { records } = harness();
    const field = (id: string) => recordAddressOf(id)!.field;
    const first = records.record(throttle(), "ip:a");
    expect(field(records.record(throttle(), "ip:a"))).toBe(field(first));
    for (const other of [
      records.record(throttle(), "ip:b"),
      records.record(throttle({ action: "block" }), "ip:a"),
      records.record(throttle({ rule: "other" }), "ip:a"),
      records.record(throttle({ scope: "subnet" }), "ip:a"),
      records.record(throttle({ endpoint: "search" }), "ip:a"),
    ])
      expect(field(other)).not.toBe(field(first));
    // The overflow part leaves the subject out: the same for every client of the rule.
    expect(recordAddressOf(records.record(throttle(), "ip:b"))!.overflowField).toBe(recordAddressOf(first)!.overflowField);
    now = T0 + 60_000;
    expect(recordAddressOf(records.record(throttle(), "ip:a"))).toMatchObject({ minuteMs: T0 + 60_000, field: field(first) });
  });

  it("keeps the time of the last decision an aggregate counted", async () => {
    now = T0 + 1_000;
    const { records } = harness();
    const id = records.record(throttle(), "ip:a");
    now = T0 + 42_000;
    records.record(throttle(), "ip:a");
    await records.flush();
    expect(await records.find(id)).toMatchObject({ first: new Date(T0 + 1_000).toISOString(), last: new Date(T0 + 42_000).toISOString(), count: 2 });
  });

  it("writes the counts of an aggregate pushed out of memory on the next flush", async () => {
    now = T0;
    const { store, state } = switchable();
    const records = new DecisionRecords({ store, limits: () => ({ retentionMs: 3_600_000, perMinute: 100 }), clock: () => now, log: quiet, capacity: 1 });
    const a = records.record(throttle(), "ip:a");
    records.record(throttle(), "ip:a");
    records.record(throttle(), "ip:a");
    records.record(throttle(), "ip:b"); // pushes ip:a out, with 2 decisions not yet written
    await records.flush();
    expect((await records.find(a))?.count).toBe(3);
    expect(state.batches.at(-1)).toEqual([2]);
    // An aggregate pushed out with nothing left to write adds nothing: ip:c's first write is all.
    const before = state.batches.length;
    records.record(throttle(), "ip:c");
    await records.flush();
    expect(state.batches.slice(before)).toEqual([[1]]);
  });

  it("puts a failed flush's counts back, or keeps them aside when their aggregate has gone, and logs the outage once", async () => {
    now = T0;
    const { store, state } = switchable();
    const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const records = new DecisionRecords({ store, limits: () => ({ retentionMs: 3_600_000, perMinute: 100 }), clock: () => now, log, capacity: 2 });
    const a = records.record(throttle(), "ip:a");
    const b = records.record(throttle(), "ip:b");
    await records.flush();
    state.down = true;
    records.record(throttle(), "ip:a");
    records.record(throttle(), "ip:b");
    await records.flush(); // fails: both counts go back to their aggregates
    records.record(throttle(), "ip:a");
    await records.flush(); // fails again
    records.record(throttle(), "ip:c"); // its first write fails too; ip:b is pushed out, its count kept aside
    await records.flush();
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(log.info).not.toHaveBeenCalled();
    state.down = false;
    await records.flush();
    expect(log.info).toHaveBeenCalledTimes(1);
    expect((await records.find(a))?.count).toBe(3);
    expect((await records.find(b))?.count).toBe(2);
    expect((await records.list({ fromMs: T0, toMs: T0, limit: 10 })).map((r) => [r.subject, r.count]).sort()).toEqual([
      ["ip:a", 3],
      ["ip:b", 2],
      ["ip:c", 1],
    ]);
    await records.flush();
    expect((await records.find(a))?.count).toBe(3);
  });

  it("counts the overflow of a full minute here, and writes it again after a failed flush", async () => {
    now = T0;
    const memory = new MemoryDecisionRecordStore({ clock: () => now });
    let down = false;
    const store: DecisionRecordStore = {
      write: (writes, limits) => (down ? Promise.reject(new StoreUnavailableError("down")) : memory.write(writes, { ...limits, perMinute: 1 })),
      get: (...args) => memory.get(...args),
      list: (query) => memory.list(query),
    };
    const { records } = harness(store);
    records.record(throttle(), "ip:0");
    records.record(throttle(), "ip:1");
    await records.flush(); // ip:1 came back folded: the minute is full
    now = T0 + 30_000;
    const late = records.record(throttle(), "ip:2");
    records.record(throttle(), "ip:3");
    down = true;
    await records.flush();
    down = false;
    await records.flush();
    expect(await records.find(late)).toMatchObject({ overflow: true, count: 3, subject: undefined, network: undefined, last: new Date(T0 + 30_000).toISOString() });
    // The next minute is not full: its first client gets its own record again.
    now = T0 + 60_000;
    const next = records.record(throttle(), "ip:4");
    await records.flush();
    expect(await records.find(next)).toMatchObject({ overflow: false, subject: "ip:4" });
  });

  it("leaves nothing unwritten on stop, first writes under way included", async () => {
    now = T0;
    const memory = new MemoryDecisionRecordStore({ clock: () => now });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const store: DecisionRecordStore = {
      write: async (writes, limits) => (await gate, memory.write(writes, limits)),
      get: (...args) => memory.get(...args),
      list: (query) => memory.list(query),
    };
    const { records } = harness(store);
    const id = records.record(throttle(), "ip:a");
    records.record(throttle(), "ip:a");
    records.start();
    records.start();
    const stopped = records.stop();
    release();
    await stopped;
    expect((await records.find(id))?.count).toBe(2);
  });

  it("shows a stored record it cannot fully read with defaults, never failing", async () => {
    const stored = { minuteMs: T0, field: "0123456789abcdef", count: 4, lastMs: Number.NaN, overflow: false };
    const reading = (record: Record<string, unknown>) =>
      harness({ get: async () => ({ ...stored, record }) } as unknown as DecisionRecordStore).records.find(`d${(T0 / 60_000).toString(36)}-0123456789abcdef-0123456789ab-0123456789ab`);
    expect(await reading({ risk: "high", reasons: "none", degraded: "yes", eventTimeMs: 9e15, firstMs: "soon", action: 3 })).toEqual({
      firstDecisionId: "",
      action: "block",
      rule: undefined,
      scope: undefined,
      subject: undefined,
      network: undefined,
      endpoint: undefined,
      policyVersion: "",
      risk: 0,
      reasons: [],
      degraded: false,
      eventTime: new Date(T0).toISOString(),
      first: new Date(T0).toISOString(),
      last: new Date(T0).toISOString(),
      minute: new Date(T0).toISOString(),
      count: 4,
      overflow: false,
    });
    expect(await reading({ eventTimeMs: -8.6e15, firstMs: T0 + 5 })).toMatchObject({ eventTime: new Date(-8.6e15).toISOString(), first: new Date(T0 + 5).toISOString() });
    expect(await reading({ eventTimeMs: Number.POSITIVE_INFINITY })).toMatchObject({ eventTime: new Date(T0).toISOString() });
    // 8.64e15 ms is the last instant a Date holds; the reader stops short of it.
    expect(await reading({ eventTimeMs: 8.64e15, firstMs: 8.64e15 - 1 })).toMatchObject({ eventTime: new Date(T0).toISOString(), first: new Date(8.64e15 - 1).toISOString() });
  });
});

describe("decision records, bounds and timing", () => {
  const wide = { retentionMs: 3_600_000, perMinute: 100_000 };

  /** Records over a store whose minutes hold one record, the minute T0 already full. */
  async function fullMinute() {
    now = T0;
    const memory = new MemoryDecisionRecordStore({ clock: () => now });
    const store: DecisionRecordStore = { write: (writes, limits) => memory.write(writes, { ...limits, perMinute: 1 }), get: (...a) => memory.get(...a), list: (q) => memory.list(q) };
    const { records } = harness(store);
    records.record(throttle(), "ip:0");
    records.record(throttle(), "ip:1");
    await records.flush(); // the second came back folded: the minute is full
    return { records, memory };
  }

  it("folds each rule's decisions of a full minute into that rule's own overflow record", async () => {
    const { records } = await fullMinute();
    const a = [records.record(throttle({ rule: "a" }), "ip:2"), records.record(throttle({ rule: "a" }), "ip:3")];
    const b = records.record(throttle({ rule: "b" }), "ip:4");
    await records.flush();
    expect(await records.find(a[1]!)).toMatchObject({ rule: "a", overflow: true, count: 2 });
    expect(await records.find(b)).toMatchObject({ rule: "b", overflow: true, count: 1 });
  });

  it("writes the overflow counts of more rules than it keeps at hand", async () => {
    const { records, memory } = await fullMinute();
    // 1,001 rules' overflow aggregates: one more than are kept at hand, the first pushed out.
    for (let i = 0; i < 1_001; i++) records.record(throttle({ rule: `r${i}` }), `ip:x${i}`);
    await records.flush();
    const overflow = (await memory.list({ fromMs: T0, toMs: T0, limit: 5_000 })).filter((r) => r.overflow && String(r.record.rule).startsWith("r"));
    expect(overflow).toHaveLength(1_001);
    expect(overflow.every((r) => r.count === 1)).toBe(true);
  });

  it("keeps at most 10,000 pushed-out aggregates waiting for a flush; the counts of more are lost", async () => {
    now = T0;
    const memory = new MemoryDecisionRecordStore({ clock: () => now, maxRecords: 50_000 });
    const records = new DecisionRecords({ store: memory, limits: () => wide, clock: () => now, log: quiet, capacity: 1 });
    for (let i = 0; i < 10_002; i++) {
      records.record(throttle(), `ip:${i}`);
      records.record(throttle(), `ip:${i}`); // a second decision, counted here until the flush
      if (i % 1_000 === 999) await Promise.resolve();
    }
    await records.flush();
    const all = await memory.list({ fromMs: T0, toMs: T0, limit: 20_000 });
    // 10,002 first writes, the last aggregate's pending count, and 10,000 of the 10,001 pushed out.
    expect(all.reduce((sum, r) => sum + r.count, 0)).toBe(10_002 + 1 + 10_000);
  });

  /** A memory store that notes each write's size, whether the event loop turned since the previous write, and can fail one write. */
  function batchWatching(failWrite?: number) {
    const memory = new MemoryDecisionRecordStore({ clock: () => now, maxRecords: 50_000 });
    const writes: { size: number; loopTurned: boolean }[] = [];
    let loopTurned = true;
    const store: DecisionRecordStore = {
      write: (batch, limits) => {
        writes.push({ size: batch.length, loopTurned });
        loopTurned = false;
        setImmediate(() => (loopTurned = true));
        return writes.length === failWrite ? Promise.reject(new StoreUnavailableError("down")) : memory.write(batch, limits);
      },
      get: (...args) => memory.get(...args),
      list: (query) => memory.list(query),
    };
    return { memory, store, writes };
  }

  it("writes a flood's aggregates in batches, letting the event loop turn between them", async () => {
    now = T0;
    const { memory, store, writes } = batchWatching();
    const records = new DecisionRecords({ store, limits: () => wide, clock: () => now, log: quiet });
    const clients = 3 * RECORD_FLUSH_BATCH + 1;
    for (let i = 0; i < clients; i++) records.record(throttle(), `ip:${i}`); // the first writes, one each
    await records.flush();
    for (let i = 0; i < clients; i++) records.record(throttle(), `ip:${i}`);
    const before = writes.length;
    await records.flush();
    const flushed = writes.slice(before);
    expect(flushed.map((w) => w.size)).toEqual([RECORD_FLUSH_BATCH, RECORD_FLUSH_BATCH, RECORD_FLUSH_BATCH, 1]);
    expect(flushed.slice(1).every((w) => w.loopTurned)).toBe(true);
    const stored = await memory.list({ fromMs: T0, toMs: T0, limit: 5_000 });
    expect(stored).toHaveLength(clients);
    expect(stored.every((r) => r.count === 2)).toBe(true);
  });

  it("keeps the counts of a failed batch and of the batches after it for the next flush", async () => {
    now = T0;
    const clients = 3 * RECORD_FLUSH_BATCH;
    // Write 1..clients are the first writes; the flush's second batch fails.
    const { memory, store } = batchWatching(clients + 2);
    const records = new DecisionRecords({ store, limits: () => wide, clock: () => now, log: quiet });
    for (let i = 0; i < clients; i++) records.record(throttle(), `ip:${i}`);
    await records.flush();
    for (let i = 0; i < clients; i++) records.record(throttle(), `ip:${i}`);
    await records.flush();
    const counted = async () => (await memory.list({ fromMs: T0, toMs: T0, limit: 5_000 })).reduce((sum, r) => sum + r.count, 0);
    expect(await counted()).toBe(clients + RECORD_FLUSH_BATCH);
    await records.flush();
    expect(await counted()).toBe(2 * clients);
  });

  it("flushes every two seconds once started, and not before", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      now = T0;
      const { records } = harness();
      const id = records.record(throttle(), "ip:a");
      records.record(throttle(), "ip:a");
      records.start();
      await vi.advanceTimersByTimeAsync(1_999);
      expect((await records.find(id))?.count).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect((await records.find(id))?.count).toBe(2);
      await records.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
