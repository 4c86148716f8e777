import { describe, expect, it } from "vitest";
import type { Decision } from "../domain/decision.js";
import { MemoryDecisionRecordStore, type DecisionRecordStore } from "../state/decision-records.js";
import { StoreUnavailableError } from "../state/store.js";
import { DecisionRecords, isRecorded, recordAddressOf } from "./decision-records.js";

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
