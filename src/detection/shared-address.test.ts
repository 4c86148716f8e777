import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import type { Signal } from "./signal.js";
import { perClient, planSharedAddress } from "./shared-address.js";

const signals: CompiledSignals = { sharedAddress: { windowMs: 600_000, cookies: ["sid", "did"], minClients: 5 } };
const catalogue = { name: "product", authentication: false, velocity: {} } as unknown as CompiledEndpoint;
const login = { name: "login", authentication: true, velocity: { ip: { windowMs: 60_000, threshold: 10, weight: 40 } } } as unknown as CompiledEndpoint;

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
    const [withCookie] = planSharedAddress(request("theme=dark; sid=abc123"), catalogue, signals).ops;
    expect(withCookie).toMatchObject({ entity: "ip:ip-1", op: { op: "distinct.add", name: "clients", windowMs: 600_000 } });
    const member = (withCookie!.op as { member?: string }).member!;
    expect(member).toMatch(/^[\w-]{22}$/);
    expect(member).not.toContain("abc123");
    expect((planSharedAddress(request("theme=dark"), catalogue, signals).ops[0]!.op as { member?: string }).member).toBeUndefined();
    expect(planSharedAddress(request("sid=x"), catalogue, {}).ops).toEqual([]);
  });

  it("turns per-address catalogue counts into per-client averages behind a shared address, and says so", () => {
    const shared = planSharedAddress(request("sid=x"), catalogue, signals).evaluate([200]);
    expect(shared).toEqual([expect.objectContaining({ code: "ip.shared_by", value: 200, fired: true, weight: 0 })]);
    const [v, r] = perClient([...shared, velocity, resources], catalogue).slice(1);
    expect(v).toMatchObject({ value: 3, fired: false });
    expect(r).toMatchObject({ value: 2, fired: false });
    expect(v!.detail).toContain("per client of 200 behind a shared address");
  });

  it("leaves counts alone below the minimum crowd and on login endpoints", () => {
    const few = planSharedAddress(request("sid=x"), catalogue, signals).evaluate([3]);
    expect(perClient([...few, velocity], catalogue)[1]).toBe(velocity);
    const many = planSharedAddress(request("sid=x"), catalogue, signals).evaluate([200]);
    expect(perClient([...many, velocity], login)[1]).toBe(velocity);
  });

  it("keeps a shared address's login counts as reasons but takes their risk away, so a CGNAT is never held for everyone's logins", () => {
    const failures: Signal = { code: "login.failures.ip", value: 40, threshold: 8, weight: 30, fired: true };
    const accounts: Signal = { code: "ip.distinct_usernames", value: 90, threshold: 4, weight: 30, fired: true };
    const many = planSharedAddress(request("sid=x"), catalogue, signals).evaluate([200]);
    const [f, a] = perClient([...many, failures, accounts], login).slice(1);
    expect(f).toMatchObject({ fired: true, weight: 0, value: 40 });
    expect(a).toMatchObject({ fired: true, weight: 0, value: 90 });
    expect(a!.detail).toContain("shared address of 200 clients");
    const few = planSharedAddress(request("sid=x"), catalogue, signals).evaluate([3]);
    expect(perClient([...few, failures], login)[1]).toBe(failures);
  });

  describe("logins behind an address proved a crowd", () => {
    const crowd: CompiledSignals = { sharedAddress: { ...signals.sharedAddress!, logins: { minSignedIn: 5, maxFailureRatio: 0.3 } } };
    const burst: Signal = { code: "velocity.ip", value: 14, threshold: 10, weight: 40, fired: true, windowMs: 60_000 };
    const ratio = (value: number): Signal => ({ code: "login.failure_ratio.ip", value, threshold: 0.7, weight: 20, fired: value > 0.7 });
    /** ops: clients, accounts signed in, this client's attempts. */
    const judged = (results: number[], extra: Signal[], cookie = "sid=x") =>
      perClient([...planSharedAddress(request(cookie), login, crowd).evaluate(results), burst, ...extra], login, crowd.sharedAddress);

    it("reads the accounts signed in from the address and counts this client's attempts under its own key", () => {
      const { ops } = planSharedAddress(request("sid=abc123"), login, crowd);
      expect(ops.map((o) => [o.entity.split("/")[0], o.op.op, o.op.name])).toEqual([
        ["ip:ip-1", "distinct.add", "clients"],
        ["ip:ip-1", "distinct.add", "login.users.ok"],
        ["client:ip-1", "window.add", "ep:login"],
      ]);
      expect(ops[2]!.entity).not.toContain("abc123");
      // No cookie of its own: nothing to count it by, so no per-client pass either.
      expect(planSharedAddress(request(), login, crowd).ops.map((o) => o.op.name)).toEqual(["clients", "login.users.ok"]);
      // Without `logins`, nothing more than the client count.
      expect(planSharedAddress(request("sid=x"), login, signals).ops).toHaveLength(1);
    });

    it("judges the login burst per client where accounts sign in and few logins fail", () => {
      const out = judged([60, 40, 2], [ratio(0.1)]);
      const velocity = out.find((s) => s.code === "velocity.ip")!;
      expect(velocity).toMatchObject({ value: 2, fired: false, threshold: 10, weight: 40, windowMs: 60_000 });
      expect(velocity.detail).toContain("this client's attempts behind a shared address of 60 clients (the address made 14)");
      expect(out.find((s) => s.code === "ip.signed_in")).toMatchObject({ value: 40, fired: true, weight: 0 });
      // The client's own count is the measurement, never a reason of its own.
      expect(out.some((s) => s.code === "velocity.client")).toBe(false);
      // One client hammering the login behind the crowd is still a burst.
      expect(judged([60, 40, 12], [ratio(0.1)]).find((s) => s.code === "velocity.ip")).toMatchObject({ value: 12, fired: true });
    });

    it("keeps counting per address what has not proved a crowd: few sign-ins, a failing address, no measured ratio, no cookie", () => {
      const velocityOf = (out: Signal[]) => out.find((s) => s.code === "velocity.ip");
      expect(velocityOf(judged([60, 4, 2], [ratio(0.1)]))).toBe(burst); // invented cookies make clients, not accounts
      expect(velocityOf(judged([60, 40, 2], [ratio(0.5)]))).toBe(burst); // a valid-credential list fails too often
      expect(velocityOf(judged([60, 40, 2], []))).toBe(burst);
      expect(velocityOf(perClient([...planSharedAddress(request(), login, crowd).evaluate([60, 40]), burst, ratio(0.1)], login, crowd.sharedAddress))).toBe(burst);
      expect(velocityOf(judged([3, 40, 2], [ratio(0.1)]))).toBe(burst); // not a shared address at all
    });
  });
});
