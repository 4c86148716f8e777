import { describe, expect, it } from "vitest";
import type { Decision } from "../domain/decision.js";
import { MemoryDecisionRecordStore, type DecisionRecordStore } from "../state/decision-records.js";
import { StoreUnavailableError } from "../state/store.js";
import { DecisionRecords, recordAddressOf } from "./decision-records.js";

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
});
