import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { noSessionSignal } from "./cohorts.js";
import type { Signal } from "./signal.js";
import { perClient, planSharedAddress } from "./shared-address.js";

/**
 * Shared addresses and the no-session evidence at their bounds (shared-address.test.ts and
 * no-session.test.ts play the common cases): the crowd, sign-in and failure-ratio limits met
 * exactly, per-client averages at the threshold, signals perClient must leave alone, the
 * fingerprint in a client's key, and the exact answers of noSessionSignal.
 */

const crowd = { windowMs: 600_000, cookies: ["sid"], minClients: 5, logins: { minSignedIn: 5, maxFailureRatio: 0.3 } };
const signals: CompiledSignals = { sharedAddress: crowd };
const catalogue = { name: "product", authentication: false, velocity: {} } as unknown as CompiledEndpoint;
const login = { name: "login", authentication: true, velocity: { ip: { windowMs: 60_000, threshold: 10, weight: 40 } } } as unknown as CompiledEndpoint;
const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

function request(cookie?: string, fingerprintId = "fp-1", userAgent = CHROME): NormalisedRequest {
  const headers = new Map([["user-agent", userAgent]]);
  if (cookie) headers.set("cookie", cookie);
  return { method: "GET", path: "/", query: "", host: "", headerShape: "s", timeMs: 0, anomalies: [], headers, ipId: "ip-1", fingerprintId };
}

const ratio = (value: number): Signal => ({ code: "login.failure_ratio.ip", value, threshold: 0.7, weight: 20, fired: value > 0.7 });
const burst: Signal = { code: "velocity.ip", value: 14, threshold: 10, weight: 40, fired: true };

describe("shared addresses at their bounds", () => {
  it("is shared from exactly minClients clients, and proved a crowd from exactly minSignedIn accounts", () => {
    const [atMin] = planSharedAddress(request("sid=x"), catalogue, signals).evaluate([5]);
    expect(atMin).toMatchObject({ code: "ip.shared_by", value: 5, threshold: 5, weight: 0, fired: true });
    expect(planSharedAddress(request("sid=x"), catalogue, signals).evaluate([4])[0]?.fired).toBe(false);
    const signedIn = planSharedAddress(request("sid=x"), login, signals).evaluate([60, 5, 1]);
    expect(signedIn.find((s) => s.code === "ip.signed_in")).toMatchObject({ value: 5, threshold: 5, weight: 0, fired: true });
    expect(planSharedAddress(request("sid=x"), login, signals).evaluate([60, 4, 1]).find((s) => s.code === "ip.signed_in")?.fired).toBe(false);
    // The client's own count is a measurement for the pass, never fired.
    expect(signedIn.find((s) => s.code === "velocity.client")).toMatchObject({ value: 1, fired: false, weight: 0 });
  });

  it("gives the pass at exactly the highest failure ratio, and a burst of exactly the threshold stays unfired", () => {
    const judged = (results: number[], failureRatio: number) =>
      perClient([...planSharedAddress(request("sid=x"), login, signals).evaluate(results), burst, ratio(failureRatio)], login, crowd).find((s) => s.code === "velocity.ip");
    expect(judged([60, 40, 10], 0.3)).toMatchObject({ value: 10, fired: false });
    expect(judged([60, 40, 11], 0.3)).toMatchObject({ value: 11, fired: true });
    expect(judged([60, 40, 2], 0.31)).toBe(burst);
    // Without `logins` in the policy there is no pass, whatever the signals say.
    const noLogins = { ...crowd, logins: undefined };
    expect(perClient([...planSharedAddress(request("sid=x"), login, signals).evaluate([60, 40, 2]), burst, ratio(0.1)], login, noLogins).find((s) => s.code === "velocity.ip")).toBe(burst);
  });

  it("says nothing of sign-ins on a login endpoint where the policy has no logins setting", () => {
    const plain: CompiledSignals = { sharedAddress: { ...crowd, logins: undefined } };
    expect(planSharedAddress(request("sid=x"), login, plain).evaluate([60, 40]).map((s) => s.code)).toEqual(["ip.shared_by"]);
  });

  it("averages per client up to the threshold unfired, and leaves other signals and unthresholded ones alone", () => {
    const shared = planSharedAddress(request("sid=x"), catalogue, signals).evaluate([10]);
    const resources: Signal = { code: "ip.distinct_resources", value: 600, threshold: 60, weight: 25, fired: true };
    const unthresholded: Signal = { code: "velocity.ip", value: 900, weight: 30, fired: true };
    const other: Signal = { code: "fingerprint.distinct_resources", value: 900, threshold: 60, weight: 25, fired: true };
    const [r, u, o] = perClient([...shared, resources, unthresholded, other], catalogue).slice(1);
    expect(r).toMatchObject({ value: 60, fired: false });
    expect(r!.detail).toBe("ip.distinct_resources, per client of 10 behind a shared address");
    expect(u).toBe(unthresholded);
    expect(o).toBe(other);
    // Nothing measured the address: every signal passes through.
    expect(perClient([resources], catalogue)).toEqual([resources]);
  });

  it("names a login count's own code when it has no detail", () => {
    const shared = planSharedAddress(request("sid=x"), catalogue, signals).evaluate([10]);
    const failures: Signal = { code: "login.failures.ip", value: 40, threshold: 8, weight: 30, fired: true };
    expect(perClient([...shared, failures], login)[1]!.detail).toBe("login.failures.ip, everyone behind a shared address of 10 clients: a reason, no risk");
    const out = perClient([...planSharedAddress(request("sid=x"), login, signals).evaluate([60, 40, 2]), burst, ratio(0.1)], login, crowd);
    expect(out.find((s) => s.code === "velocity.ip")!.detail).toBe("velocity.ip, this client's attempts behind a shared address of 60 clients (the address made 14)");
  });

  it("tells clients apart by fingerprint as well as cookie", () => {
    const member = (req: NormalisedRequest) => (planSharedAddress(req, catalogue, signals).ops[0]!.op as { member?: string }).member;
    expect(member(request("sid=x", "fp-1"))).toBe(member(request("sid=x", "fp-1")));
    expect(member(request("sid=x", "fp-1"))).not.toBe(member(request("sid=x", "fp-2")));
    expect(member({ ...request("sid=x"), fingerprintId: undefined })).not.toBe(member(request("sid=x", "fp-1")));
  });

  it("plans nothing and says nothing without the setting or an address", () => {
    const none = planSharedAddress(request("sid=x"), catalogue, {});
    expect(none.ops).toEqual([]);
    expect(none.evaluate([])).toEqual([]);
    expect(planSharedAddress({ ...request("sid=x"), ipId: undefined }, catalogue, signals).evaluate([])).toEqual([]);
  });
});

describe("client.no_session: exact answers", () => {
  const cohorts: CompiledSignals = { cohorts: { windowMs: 600_000, sessionCookies: ["sid", "did"], minMembers: 5, browserWithoutSession: 40 } };
  const pages = (count: number): Signal => ({ code: "sequence.no_page_view", value: count, threshold: 1, weight: 15, fired: count < 1 });
  const other: Signal = { code: "ip.page_views", value: 7, weight: 0, fired: false };

  it("answers with no signal at all where it says nothing", () => {
    expect(noSessionSignal(request("sid=1"), {}, [])).toEqual([]);
    expect(noSessionSignal(request("did=1"), cohorts, [])).toEqual([]);
    expect(noSessionSignal({ ...request(), recordedHeaders: new Set(["user-agent"]) }, cohorts, [])).toEqual([]);
    expect(noSessionSignal(request(), cohorts, [pages(2)])).toEqual([]);
  });

  it("reads the login's own page-view check, not another signal that comes first, and judges a cookie header that was recorded", () => {
    expect(noSessionSignal(request(), cohorts, [other, pages(0)])).toEqual([
      { code: "client.no_session", value: 1, weight: 0, fired: true, detail: "a browser without the site's cookies whose address loaded no page" },
    ]);
    expect(noSessionSignal(request(), cohorts, [other])).toHaveLength(1);
    expect(noSessionSignal({ ...request(), recordedHeaders: new Set(["cookie"]) }, cohorts, [])).toHaveLength(1);
    expect(noSessionSignal(request(undefined, "fp", "okhttp/4.12"), cohorts, [pages(3)])).toEqual([
      { code: "client.no_session", value: 1, weight: 0, fired: true, detail: "a client that is no browser and carries none of the site's cookies" },
    ]);
  });
});
