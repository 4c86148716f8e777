import { afterEach, describe, expect, it } from "vitest";
import { quarantinesOver, sampleDecision } from "../../test/support/response.js";
import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { ReplicatedMap } from "../state/replicated-map.js";
import { MemorySharedBackend } from "../state/shared-backend.js";
import type { SharedMapStore } from "../state/shared-map.js";
import { StoreUnavailableError } from "../state/store.js";
import { QUARANTINE_COPY, type QuarantineMark } from "./quarantine-record.js";

/**
 * A replica's quarantines through a store outage: what it lists while the store cannot answer,
 * and how the quarantines it made meanwhile reach the store once it is back.
 */
const T0 = Date.UTC(2026, 11, 6, 21);
const policy = {
  rules: [{ id: "trap", retryAfterMs: 600_000 }],
  response: { quarantine: { durationMs: 900_000, escalation: { factor: 2, maxMs: 3_600_000, memoryMs: 86_400_000 } } },
} as unknown as CompiledPolicy;
const reasons = [{ code: "probe.path", value: 1, weight: 80 }];
const decision = (): Decision => sampleDecision({ action: "quarantine", risk: 80, rule: "trap", scope: "ip", reasons });
const request = (ipId: string, timeMs = T0) => ({ ipId, timeMs }) as NormalisedRequest;

const maps: ReplicatedMap<QuarantineMark>[] = [];
afterEach(async () => {
  await Promise.all(maps.splice(0).map((m) => m.stop()));
});

async function replica() {
  const clock = { now: T0 };
  const backend = new MemorySharedBackend({ clock: () => clock.now });
  const outage = { down: false, shared: backend.map("quarantines") };
  const unavailable = () => Promise.reject(new StoreUnavailableError("store down"));
  // The shared map as a store that stops answering while `outage.down` holds, and can be
  // swapped for an empty one (a Redis restarted without its data).
  const store: SharedMapStore = {
    put: (...args) => (outage.down ? unavailable() : outage.shared.put(...args)),
    putIfAbsent: (...args) => (outage.down ? unavailable() : outage.shared.putIfAbsent(...args)),
    remove: (...args) => (outage.down ? unavailable() : outage.shared.remove(...args)),
    snapshot: () => (outage.down ? unavailable() : outage.shared.snapshot()),
    read: (keys) => (outage.down ? unavailable() : outage.shared.read(keys)),
    version: () => (outage.down ? unavailable() : outage.shared.version()),
    subscribe: (...args) => outage.shared.subscribe(...args),
  };
  const map = new ReplicatedMap({ store, ...QUARANTINE_COPY, clock: () => clock.now });
  maps.push(map);
  await map.start();
  const { q, seen } = quarantinesOver(map, backend, () => clock.now);
  return { q, map, outage, clock, seen, shared: () => outage.shared };
}

describe("quarantines through a store outage", () => {
  it("lists from its copy while the store is down: its own in full, the others' without their reasons, none expired", async () => {
    const { q, outage, clock } = await replica();
    const before = await q.impose(decision(), request("ip-shared"), policy);
    outage.down = true;
    const during = await q.impose(decision(), request("ip-local"), policy);
    expect(during).toBeDefined();
    const listed = await q.list();
    expect(listed.map((e) => [e.key, e.value.id, e.value.reasons.length]).sort()).toEqual(
      [
        ["ip:ip-local", during!.id, 1],
        ["ip:ip-shared", before!.id, 0],
      ].sort(),
    );
    expect(listed.every((e) => e.ttlMs === 600_000)).toBe(true);
    // Once both have run their course, neither is listed.
    clock.now = T0 + 600_000;
    expect(await q.list()).toEqual([]);
  });

  it("shares what it made during the outage once the store is back, announced once and kept in full", async () => {
    const { q, map, outage, clock, seen, shared } = await replica();
    outage.down = true;
    const made = await q.impose(decision(), request("ip-local"), policy);
    expect(seen.filter((e) => e.type === "quarantine.created")).toEqual([expect.objectContaining({ shared: false })]);
    expect((await shared().snapshot()).entries.size).toBe(0);

    outage.down = false;
    clock.now = T0 + 60_000;
    await map.resync("resync:reconnect");
    await new Promise((resolve) => setImmediate(resolve));
    const stored = await shared().snapshot();
    expect([...stored.entries.keys()]).toEqual(["ip:ip-local"]);
    expect(JSON.parse(stored.entries.get("ip:ip-local")!.value)).toMatchObject({ id: made!.id, reasons });
    expect(seen.filter((e) => e.type === "quarantine.created")).toEqual([expect.objectContaining({ shared: false }), expect.objectContaining({ shared: true })]);
    // Shared once: another reload writes nothing and announces nothing more.
    await map.resync("resync:check");
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.filter((e) => e.type === "quarantine.created")).toHaveLength(2);
    expect((await q.list()).map((e) => e.value.reasons.length)).toEqual([1]);
  });

  it("does not share one that expired before the store came back", async () => {
    const { q, map, outage, clock, shared } = await replica();
    outage.down = true;
    await q.impose(decision(), request("ip-local"), policy);
    outage.down = false;
    clock.now = T0 + 600_000;
    await map.resync("resync:reconnect");
    await new Promise((resolve) => setImmediate(resolve));
    expect((await shared().snapshot()).entries.size).toBe(0);
  });

  it("writes back what the store lost with its data, rebuilt from the compact copy, and announces it as restored", async () => {
    const { q, map, outage, clock, seen, shared } = await replica();
    const made = await q.impose(decision(), request("ip-lost"), policy);
    outage.shared = new MemorySharedBackend({ clock: () => clock.now }).map("quarantines");
    clock.now = T0 + 60_000;
    await map.resync("resync:epoch");
    await new Promise((resolve) => setImmediate(resolve));
    const stored = (await shared().snapshot()).entries.get("ip:ip-lost");
    expect(stored?.ttlMs).toBe(540_000);
    expect(JSON.parse(stored!.value)).toMatchObject({ id: made!.id, subject: "ip-lost", reasons: [] });
    expect(seen.filter((e) => e.type === "quarantine.restored")).toEqual([expect.objectContaining({ quarantine: expect.objectContaining({ id: made!.id }) })]);
    expect((await q.find(request("ip-lost", T0 + 60_000)))?.id).toBe(made!.id);
  });
});
