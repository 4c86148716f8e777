import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import type { Signal } from "./signal.js";
import { perClient, planSharedAddress } from "./shared-address.js";

const signals: CompiledSignals = { sharedAddress: { windowMs: 600_000, cookies: ["sid", "did"], minClients: 5 } };
const catalogue = { authentication: false } as CompiledEndpoint;
const login = { authentication: true } as CompiledEndpoint;

function request(cookie?: string): NormalisedRequest {
  return {
    method: "GET", path: "/api/v1/products/1", query: "", host: "", headerShape: "s", timeMs: 0, anomalies: [],
    headers: new Map(cookie ? [["cookie", cookie]] : []), ipId: "ip-1", fingerprintId: "fp-1",
  };
}

const velocity: Signal = { code: "velocity.ip", value: 600, threshold: 120, weight: 30, fired: true };
const resources: Signal = { code: "ip.distinct_resources", value: 400, threshold: 60, weight: 25, fired: true };

describe("shared addresses", () => {
  it("counts a client by its fingerprint and named cookies, as a digest; a request without them adds nobody", () => {
    const [withCookie] = planSharedAddress(request("theme=dark; sid=abc123"), signals).ops;
    expect(withCookie).toMatchObject({ entity: "ip:ip-1", op: { op: "distinct.add", name: "clients", windowMs: 600_000 } });
    const member = (withCookie!.op as { member?: string }).member!;
    expect(member).toMatch(/^[\w-]{22}$/);
    expect(member).not.toContain("abc123");
    expect((planSharedAddress(request("theme=dark"), signals).ops[0]!.op as { member?: string }).member).toBeUndefined();
    expect(planSharedAddress(request("sid=x"), {}).ops).toEqual([]);
  });

  it("turns per-address catalogue counts into per-client averages behind a shared address, and says so", () => {
    const shared = planSharedAddress(request("sid=x"), signals).evaluate([200]);
    expect(shared).toEqual([expect.objectContaining({ code: "ip.shared_by", value: 200, fired: true, weight: 0 })]);
    const [v, r] = perClient([...shared, velocity, resources], catalogue).slice(1);
    expect(v).toMatchObject({ value: 3, fired: false });
    expect(r).toMatchObject({ value: 2, fired: false });
    expect(v!.detail).toContain("per client of 200 behind a shared address");
  });

  it("leaves counts alone below the minimum crowd and on login endpoints", () => {
    const few = planSharedAddress(request("sid=x"), signals).evaluate([3]);
    expect(perClient([...few, velocity], catalogue)[1]).toBe(velocity);
    const many = planSharedAddress(request("sid=x"), signals).evaluate([200]);
    expect(perClient([...many, velocity], login)[1]).toBe(velocity);
  });

  it("keeps a shared address's login counts as reasons but takes their risk away, so a CGNAT is never held for everyone's logins", () => {
    const failures: Signal = { code: "login.failures.ip", value: 40, threshold: 8, weight: 30, fired: true };
    const accounts: Signal = { code: "ip.distinct_usernames", value: 90, threshold: 4, weight: 30, fired: true };
    const many = planSharedAddress(request("sid=x"), signals).evaluate([200]);
    const [f, a] = perClient([...many, failures, accounts], login).slice(1);
    expect(f).toMatchObject({ fired: true, weight: 0, value: 40 });
    expect(a).toMatchObject({ fired: true, weight: 0, value: 90 });
    expect(a!.detail).toContain("shared address of 200 clients");
    const few = planSharedAddress(request("sid=x"), signals).evaluate([3]);
    expect(perClient([...few, failures], login)[1]).toBe(failures);
  });
});
