import { afterEach, describe, expect, it } from "vitest";
import { quarantinesOver, sampleDecision } from "../../test/support/response.js";
import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { ReplicatedMap } from "../state/replicated-map.js";
import { MemorySharedBackend } from "../state/shared-backend.js";
import { QUARANTINE_COPY, type QuarantineMark } from "./quarantine-record.js";

/**
 * Which quarantine holds a request, at the edges of expiry, judged by the request's event time.
 * The map's own clock stays at T0 so that only the event time decides.
 */
const T0 = Date.UTC(2026, 11, 6, 12);
const policy = {
  rules: [
    { id: "short", retryAfterMs: 60_000 },
    { id: "long", retryAfterMs: 120_000 },
  ],
  response: { quarantine: { durationMs: 900_000, escalation: { factor: 2, maxMs: 3_600_000, memoryMs: 86_400_000 } } },
} as unknown as CompiledPolicy;
const decision = (rule: string, scope: Decision["scope"]): Decision => sampleDecision({ action: "quarantine", risk: 80, rule, scope, reasons: [{ code: "probe.path", value: 1, weight: 80 }] });
const request = (timeMs: number, ids: Partial<NormalisedRequest>) => ({ ...ids, timeMs }) as NormalisedRequest;

const maps: ReplicatedMap<QuarantineMark>[] = [];
afterEach(async () => {
  await Promise.all(maps.splice(0).map((m) => m.stop()));
});

async function quarantines() {
  const backend = new MemorySharedBackend({ clock: () => T0 });
  const map = new ReplicatedMap({ store: backend.map("quarantines"), ...QUARANTINE_COPY, clock: () => T0 });
  maps.push(map);
  await map.start();
  return quarantinesOver(map, backend, () => T0).q;
}

describe("quarantines at the edges of expiry", () => {
  it("holds a request by the quarantine that lasts longest of its scopes, until the moment it expires", async () => {
    const q = await quarantines();
    const both = { ipId: "ip-1", usernameId: "user-1" };
    const byIp = await q.impose(decision("long", "ip"), request(T0, both), policy);
    const byUser = await q.impose(decision("short", "username"), request(T0, both), policy);
    expect([byIp?.expiresMs, byUser?.expiresMs]).toEqual([T0 + 120_000, T0 + 60_000]);
    // The IP's comes first among the scopes and lasts longer: it is the one named.
    expect((await q.find(request(T0 + 1, both)))?.id).toBe(byIp!.id);
    expect((await q.find(request(T0 + 1, { usernameId: "user-1" })))?.id).toBe(byUser!.id);
    expect((await q.find(request(T0 + 59_999, { usernameId: "user-1" })))?.id).toBe(byUser!.id);
    expect(await q.find(request(T0 + 60_000, { usernameId: "user-1" }))).toBeUndefined();
    expect((await q.find(request(T0 + 119_999, both)))?.id).toBe(byIp!.id);
    expect(await q.find(request(T0 + 120_000, both))).toBeUndefined();
    expect(await q.find(request(T0 + 1, { ipId: "ip-2" }))).toBeUndefined();
  });

  it("names the longer of two when the longer comes later among the scopes", async () => {
    const q = await quarantines();
    const both = { ipId: "ip-1", usernameId: "user-1" };
    await q.impose(decision("short", "ip"), request(T0, both), policy);
    const byUser = await q.impose(decision("long", "username"), request(T0, both), policy);
    expect((await q.find(request(T0 + 1, both)))?.id).toBe(byUser!.id);
  });

  it("imposes afresh once the standing quarantine is over by the request's time, though the store still holds its key", async () => {
    // A replay's event time outruns the wall clock the store's TTL runs on (here it stands still):
    // the client's next offence must not find the spent quarantine and go unheld.
    const q = await quarantines();
    const first = await q.impose(decision("short", "ip"), request(T0, { ipId: "ip-1" }), policy);
    const again = await q.impose(decision("short", "ip"), request(T0 + 60_000, { ipId: "ip-1" }), policy);
    expect(again?.id).not.toBe(first!.id);
    expect(again?.expiresMs).toBeGreaterThan(T0 + 60_000);
    expect((await q.find(request(T0 + 60_001, { ipId: "ip-1" })))?.id).toBe(again!.id);
    // Still running: the same one answers, no second is made.
    expect((await q.impose(decision("short", "ip"), request(T0 + 60_001, { ipId: "ip-1" }), policy))?.id).toBe(again!.id);
  });
});
