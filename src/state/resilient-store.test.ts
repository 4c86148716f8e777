import { describe, expect, it } from "vitest";
import { MemoryStore } from "./memory-store.js";
import { applyBatchWithStatus, applyWithStatus, isStoreDegraded, ResilientStore, type DegradationChange } from "./resilient-store.js";
import {
  StoreUnavailableError,
  type BaselineObservation,
  type BaselineState,
  type EntityBatch,
  type EntityOp,
  type Publication,
  type Store,
  type WindowAdd,
} from "./store.js";
import type { BindingRecord, BindingRules, BindingUse } from "./token-binding-record.js";

const T0 = 1_699_999_980_000;
const hits = (amount: number): WindowAdd => ({ op: "window.add", name: "hits", windowMs: 1_000, amount });

/** A primary that can be switched off; it counts the calls that reached it. */
class SwitchablePrimary implements Store {
  readonly kind = "redis";
  readonly inner = new MemoryStore();
  up = true;
  calls = 0;
  failure: Error = new StoreUnavailableError("connection refused");

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    this.calls++;
    if (!this.up) throw this.failure;
    return this.inner.apply(entity, ops, nowMs);
  }
  async observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    this.calls++;
    if (!this.up) throw this.failure;
    return this.inner.observeBaseline(entity, name, observation);
  }
  async observeBinding(entity: string, use: BindingUse, rules: BindingRules): Promise<BindingRecord | undefined> {
    this.calls++;
    if (!this.up) throw this.failure;
    return this.inner.observeBinding(entity, use, rules);
  }
  async exchange(entity: string, publication: Publication, nowMs: number): Promise<string[]> {
    this.calls++;
    if (!this.up) throw this.failure;
    return this.inner.exchange(entity, publication, nowMs);
  }
  async ping(): Promise<boolean> {
    return this.up;
  }
  async close(): Promise<void> {}
}

/** Degrades on the first failure unless told otherwise: most tests here are about the back-off. */
function setUp(retryAfterMs = 1_000, failuresToDegrade = 1) {
  let now = 0;
  const primary = new SwitchablePrimary();
  const store = new ResilientStore(primary, new MemoryStore(), { retryAfterMs, failuresToDegrade, clock: () => now });
  const changes: DegradationChange[] = [];
  store.onStateChange((change) => changes.push(change));
  return { primary, store, changes, advance: (ms: number) => void (now += ms) };
}

describe("ResilientStore", () => {
  it("answers one failed call locally without degrading; a run of failures degrades, one success recovers", async () => {
    const { primary, store, changes } = setUp(1_000, 3);
    primary.up = false;
    expect((await store.applyWithStatus("ip1", [hits(1)], T0)).degraded).toBe(true);
    primary.up = true;
    expect((await store.applyWithStatus("ip1", [hits(1)], T0)).degraded).toBe(false);
    expect(changes).toEqual([]);
    primary.up = false;
    for (let i = 0; i < 3; i++) await store.apply("ip1", [hits(1)], T0);
    expect(store.isDegraded()).toBe(true);
    expect(changes.map((c) => c.degraded)).toEqual([true]);
  });

  it("serves from the primary while it answers, mirroring into local state", async () => {
    const { primary, store } = setUp();
    expect(await store.applyWithStatus("ip1", [hits(2)], T0)).toEqual({ results: [2], degraded: false });
    primary.up = false;
    expect(await store.applyWithStatus("ip1", [hits(1)], T0)).toEqual({ results: [3], degraded: true });
  });

  it("applies a batch in one primary call, mirrored; from local state when the primary fails", async () => {
    const { primary, store } = setUp();
    const batches = [
      { entity: "ip1", ops: [hits(2)] },
      { entity: "ip2", ops: [hits(1)] },
    ];
    expect(await store.applyBatchWithStatus(batches, T0)).toEqual({ results: [[2], [1]], degraded: false });
    expect(primary.calls).toBe(2); // this primary has no applyBatch: apply() per entity
    primary.up = false;
    expect(await store.applyBatchWithStatus(batches, T0)).toEqual({ results: [[4], [2]], degraded: true });
  });

  it("leaves a batch with invalid ops without results and marks the outcome degraded, applying the others", async () => {
    const { store } = setUp();
    const batches = [
      { entity: "ip{1}", ops: [hits(2)] },
      { entity: "ip2", ops: [hits(1)] },
    ];
    expect(await store.applyBatchWithStatus(batches, T0)).toEqual({ results: [undefined, [1]], degraded: true });
    expect(await applyBatchWithStatus(new MemoryStore(), batches, T0)).toEqual({ results: [undefined, [1]], degraded: true });
  });

  it("mirrors only the writes of a call: reads leave the local copy as it was", async () => {
    const mirrored: EntityOp[][] = [];
    const local = new (class extends MemoryStore {
      override apply(entity: string, ops: readonly EntityOp[], nowMs: number) {
        mirrored.push([...ops]);
        return super.apply(entity, ops, nowMs);
      }
    })();
    const store = new ResilientStore(new SwitchablePrimary(), local);
    const check: EntityOp = { op: "member.check", name: "seen", member: "fp" };
    await store.applyWithStatus("ip1", [hits(0), check, hits(2), { op: "value.swap", name: "last" }], T0);
    await store.applyWithStatus("ip1", [hits(0), check], T0);
    expect(mirrored).toEqual([[hits(2)]]);
  });

  it("mirrors only the writes of a batch, all entities in one call to the local store", async () => {
    const calls: { entity: string; ops: EntityOp[] }[][] = [];
    const local = new (class extends MemoryStore {
      override applyBatch(batches: readonly EntityBatch[], nowMs: number) {
        calls.push(batches.map((batch) => ({ entity: batch.entity, ops: [...batch.ops] })));
        return super.applyBatch(batches, nowMs);
      }
    })();
    const store = new ResilientStore(new SwitchablePrimary(), local);
    const check: EntityOp = { op: "member.check", name: "seen", member: "fp" };
    const batches = [
      { entity: "ip1", ops: [hits(0), check, hits(2)] },
      { entity: "ip2", ops: [check] },
      { entity: "ip3", ops: [hits(1)] },
    ];
    expect((await store.applyBatchWithStatus(batches, T0)).degraded).toBe(false);
    expect(calls).toEqual([[{ entity: "ip1", ops: [hits(2)] }, { entity: "ip3", ops: [hits(1)] }]]);
    expect(await local.apply("ip1", [hits(0)], T0)).toEqual([2]);
  });

  it("skips the primary during the back-off, then probes it once", async () => {
    const { primary, store, advance } = setUp(1_000);
    primary.up = false;
    await store.apply("ip1", [hits(1)], T0);
    await store.apply("ip1", [hits(1)], T0);
    expect(primary.calls).toBe(1);
    advance(1_000);
    await store.apply("ip1", [hits(1)], T0);
    expect(primary.calls).toBe(2);
  });

  it("lets one probe through at a time; the others stay local", async () => {
    const { primary, store, advance } = setUp(1_000);
    primary.up = false;
    await store.apply("ip1", [hits(1)], T0);
    advance(1_000);
    primary.up = true;
    const [probe, other] = await Promise.all([
      store.applyWithStatus("ip1", [hits(0)], T0),
      store.applyWithStatus("ip1", [hits(0)], T0),
    ]);
    expect(primary.calls).toBe(2);
    expect(probe?.degraded).toBe(false);
    expect(other?.degraded).toBe(true);
    expect(store.isDegraded()).toBe(false);
  });

  it("reports each transition once, with the cause", async () => {
    const { primary, store, changes, advance } = setUp();
    primary.up = false;
    await store.apply("ip1", [hits(1)], T0);
    advance(1_000);
    await store.apply("ip1", [hits(1)], T0);
    primary.up = true;
    advance(1_000);
    await store.apply("ip1", [hits(1)], T0);
    expect(changes.map((c) => c.degraded)).toEqual([true, false]);
    expect(changes[0]?.cause).toBeInstanceOf(StoreUnavailableError);
    expect(changes[0]?.store).toBe("redis");
  });

  it("notices recovery through ping when there is no traffic", async () => {
    const { primary, store } = setUp();
    primary.up = false;
    await store.apply("ip1", [hits(1)], T0);
    expect(isStoreDegraded(store)).toBe(true);
    primary.up = true;
    expect(await store.ping()).toBe(true);
    expect(isStoreDegraded(store)).toBe(false);
  });

  it("does not hide errors that are not unavailability", async () => {
    const { primary, store } = setUp();
    primary.up = false;
    primary.failure = new RangeError("a bug");
    await expect(store.apply("ip1", [hits(1)], T0)).rejects.toThrow(RangeError);
    expect(store.isDegraded()).toBe(false);
  });

  it("rejects invalid input itself, even while degraded", async () => {
    const { primary, store } = setUp();
    primary.up = false;
    await store.apply("ip1", [hits(1)], T0);
    await expect(store.apply("ip1", [hits(-1)], T0)).rejects.toThrow(TypeError);
  });

  it("keeps serving when a listener throws", async () => {
    const { primary, store } = setUp();
    store.onStateChange(() => {
      throw new Error("broken logger");
    });
    primary.up = false;
    expect(await store.applyWithStatus("ip1", [hits(1)], T0)).toEqual({ results: [1], degraded: true });
  });
});

describe("ResilientStore baselines", () => {
  const observe = (period: number, value: number): BaselineObservation => ({ period, value, alpha: 0.5, retentionMs: 60_000 });

  it("learns on the primary and mirrors into local state, which carries on while the primary is down", async () => {
    const { primary, store } = setUp();
    expect(await store.observeBaseline("site:login", "rate", observe(1, 10))).toMatchObject({ mean: 10, samples: 1 });
    expect(await store.observeBaseline("site:login", "rate", observe(2, 20))).toMatchObject({ mean: 15, samples: 2 });
    primary.up = false;
    expect(await store.observeBaseline("site:login", "rate", observe(3, 30))).toEqual({ mean: 22.5, variance: 68.75, samples: 3, lastPeriod: 3 });
    expect(store.isDegraded()).toBe(true);
  });

  it("answers with the primary's baseline, which other replicas may have taught", async () => {
    const { primary, store } = setUp();
    await primary.inner.observeBaseline("site:login", "rate", observe(1, 100)); // another replica, first
    expect(await store.observeBaseline("site:login", "rate", observe(1, 10))).toMatchObject({ mean: 100, samples: 1 });
  });

  it("skips the primary during the back-off, as apply does", async () => {
    const { primary, store } = setUp();
    primary.up = false;
    await store.observeBaseline("site:login", "rate", observe(1, 10));
    await store.observeBaseline("site:login", "rate", observe(2, 10));
    expect(primary.calls).toBe(1);
  });

  it("rejects invalid observations itself, even while degraded", async () => {
    const { primary, store } = setUp();
    primary.up = false;
    await store.apply("ip1", [hits(1)], T0);
    await expect(store.observeBaseline("site:login", "rate", { ...observe(1, 10), alpha: 0 })).rejects.toThrow(TypeError);
    expect(primary.calls).toBe(1);
  });
});

describe("ResilientStore token bindings", () => {
  const rules: BindingRules = { retentionMs: 60_000, alternationMs: 10_000 };
  const use = (atMs: number, network: string, device = "phone"): BindingUse => ({ device, companion: "", network, nowMs: T0 + atMs, missing: false });

  it("answers with the primary's binding, which another replica may have made, and mirrors it for an outage", async () => {
    const { primary, store } = setUp();
    await primary.inner.observeBinding("tok", use(0, "victim"), rules); // another replica, first
    expect(await store.observeBinding("tok", use(1, "thief", "laptop"), rules)).toMatchObject({ device: "phone" });
    primary.up = false;
    // Locally the token is bound as the primary bound it, with the use this replica saw.
    expect(await store.observeBinding("tok", use(2, "victim"), rules)).toMatchObject({ device: "phone", networks: [["victim", T0], ["thief", T0 + 1]] });
    expect(store.isDegraded()).toBe(true);
  });

  it("an absent binding on the primary is an answer, not an outage", async () => {
    const { primary, store } = setUp();
    expect(await store.observeBinding("new", use(0, "home"), rules)).toBeUndefined();
    expect(store.isDegraded()).toBe(false);
    expect(await primary.inner.observeBinding("new", use(1, "home"), rules)).toMatchObject({ device: "phone" });
  });

  it("rejects a use no binding can hold before asking the primary", async () => {
    const { primary, store } = setUp();
    await expect(store.observeBinding("tok", { ...use(0, "home"), device: "d".repeat(65) }, rules)).rejects.toThrow(TypeError);
    expect(primary.calls).toBe(0);
  });
});

describe("ResilientStore publications", () => {
  const publish = (replica: string, evidence: string): Publication => ({ name: "early", replica, evidence, ttlMs: 10_000 });

  it("gives the other replicas' publications from the primary, and none while it is away: they are only there", async () => {
    const { primary, store } = setUp();
    await primary.inner.exchange("site:login", publish("other", "theirs"), T0); // another replica
    expect(await store.exchange("site:login", publish("this", "ours"), T0 + 1_000)).toEqual(["theirs"]);
    primary.up = false;
    expect(await store.exchange("site:login", publish("this", "ours"), T0 + 2_000)).toEqual([]);
    expect(store.isDegraded()).toBe(true);
  });
});

describe("applyWithStatus", () => {
  it("treats a plain store as never degraded", async () => {
    const store = new MemoryStore();
    expect(await applyWithStatus(store, "ip1", [hits(1)], T0)).toEqual({ results: [1], degraded: false });
    expect(isStoreDegraded(store)).toBe(false);
  });
});
