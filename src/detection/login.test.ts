import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { claimsBrowser, planLogin } from "./login.js";
import type { Signal } from "./signal.js";

/**
 * The login detector on its own: which counters one attempt reads from the store, and which
 * signals the counts it gets back make. The store is played by a table of counts per entity and
 * counter name, so every threshold can be set exactly at, under and over its limit.
 */

const BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";
const login = { name: "login", authentication: true } as CompiledEndpoint;

function attempt(overrides: Partial<NormalisedRequest> = {}): NormalisedRequest {
  return {
    method: "POST", path: "/login", query: "", host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [],
    ipId: "ip-1", subnet: "198.51.100.0/24", usernameId: "user-1", fingerprintId: "fp-1",
    ...overrides,
  };
}

type Counts = Record<string, number>;

/** Plans the attempt and answers each op from `counts` (key: entity and counter name), 0 when absent. */
function judge(signals: CompiledSignals, counts: Counts = {}, request = attempt(), endpoint = login): Signal[] {
  const plan = planLogin(request, endpoint, signals);
  return plan.evaluate(plan.ops.map(({ entity, op }) => counts[`${entity} ${op.name}`] ?? 0));
}

const byCode = (signals: Signal[]) => Object.fromEntries(signals.map((s) => [s.code, s]));

describe("login detector: what one attempt asks the store", () => {
  it("reads the failure counters of every entity the request has, without counting the attempt itself", () => {
    const signals: CompiledSignals = { failures: { windowMs: 300_000, ip: { threshold: 5, weight: 30 } } };
    const { ops } = planLogin(attempt(), login, signals);
    expect(ops).toEqual(
      ["ip:ip-1", "net:198.51.100.0/24", "user:user-1", "fp:fp-1"].map((entity) => ({
        entity, op: { op: "window.add", name: "login.fail", windowMs: 300_000, amount: 0 },
      })),
    );
    // An entity the request does not have (no username, no fingerprint) is not asked about.
    const anonymous = planLogin(attempt({ usernameId: undefined, fingerprintId: undefined }), login, signals).ops.map((o) => o.entity);
    expect(anonymous).toEqual(["ip:ip-1", "net:198.51.100.0/24"]);
  });

  it("takes the failure window from the ratio when only the ratio is configured, and asks nothing when neither is", () => {
    const ratioOnly: CompiledSignals = { failureRatio: { windowMs: 600_000, minAttempts: 10, threshold: 0.8, weight: 20 } };
    const ops = planLogin(attempt(), login, ratioOnly).ops;
    expect(ops.filter((o) => o.op.name === "login.fail").map((o) => (o.op as { windowMs: number }).windowMs)).toEqual([600_000, 600_000, 600_000, 600_000]);
    expect(ops).toContainEqual({ entity: "ip:ip-1", op: { op: "window.add", name: "login.att", windowMs: 600_000, amount: 0 } });
    expect(planLogin(attempt(), login, {}).ops).toEqual([]);
  });

  it("adds the username to the distinct sets of its address, network and device, and the address to the username's", () => {
    const signals: CompiledSignals = {
      distinctUsernames: { windowMs: 600_000, ip: { threshold: 3, weight: 25 } },
      distinctIps: { windowMs: 3_600_000, username: { threshold: 4, weight: 20 } },
    };
    expect(planLogin(attempt(), login, signals).ops).toEqual([
      { entity: "ip:ip-1", op: { op: "distinct.add", name: "login.users", windowMs: 600_000, member: "user-1" } },
      { entity: "net:198.51.100.0/24", op: { op: "distinct.add", name: "login.users", windowMs: 600_000, member: "user-1" } },
      { entity: "fp:fp-1", op: { op: "distinct.add", name: "login.users", windowMs: 600_000, member: "user-1" } },
      { entity: "user:user-1", op: { op: "distinct.add", name: "login.ips", windowMs: 3_600_000, member: "ip-1" } },
    ]);
    // Without a username there is nothing to add to a set of usernames, nor a username to key on.
    expect(planLogin(attempt({ usernameId: undefined }), login, signals).ops).toEqual([]);
  });
});

describe("login detector: signals from the counts", () => {
  it("fires a count only above its threshold, rounded to hundredths, naming the window", () => {
    const signals: CompiledSignals = {
      failures: { windowMs: 300_000, ip: { threshold: 5, weight: 30 }, username: { threshold: 3, weight: 40 } },
    };
    const at = byCode(judge(signals, { "ip:ip-1 login.fail": 5, "user:user-1 login.fail": 3.456 }));
    expect(at["login.failures.ip"]).toEqual({ code: "login.failures.ip", value: 5, threshold: 5, weight: 30, fired: false, detail: "failed logins per 300s" });
    expect(at["login.failures.username"]).toMatchObject({ value: 3.46, threshold: 3, weight: 40, fired: true });
    // Scopes without a limit are read but make no signal.
    expect(at["login.failures.subnet"]).toBeUndefined();
    expect(byCode(judge(signals, { "ip:ip-1 login.fail": 6 }))["login.failures.ip"]!.fired).toBe(true);
  });

  it("measures usernames per address, addresses per username and unknown usernames against their limits", () => {
    const signals: CompiledSignals = {
      distinctUsernames: { windowMs: 600_000, ip: { threshold: 3, weight: 25 }, fingerprint: { threshold: 5, weight: 15 } },
      distinctIps: { windowMs: 3_600_000, username: { threshold: 4, weight: 20 } },
      enumeration: { windowMs: 600_000, threshold: 10, weight: 35 },
    };
    const found = byCode(judge(signals, { "ip:ip-1 login.users": 4, "fp:fp-1 login.users": 5, "user:user-1 login.ips": 9, "ip:ip-1 login.unknown": 11 }));
    expect(found["ip.distinct_usernames"]).toMatchObject({ value: 4, threshold: 3, weight: 25, fired: true, detail: "usernames tried" });
    expect(found["fingerprint.distinct_usernames"]).toMatchObject({ value: 5, fired: false });
    expect(found["username.distinct_ips"]).toMatchObject({ value: 9, threshold: 4, weight: 20, fired: true, detail: "IPs this username was tried from" });
    expect(found["ip.username_enumeration"]).toMatchObject({ value: 11, threshold: 10, weight: 35, fired: true, detail: "logins for unknown usernames" });
  });

  it("judges the failure ratio only from enough attempts, capped at 1 and rounded", () => {
    const signals: CompiledSignals = { failureRatio: { windowMs: 600_000, minAttempts: 10, threshold: 0.8, weight: 20 } };
    const ratio = (attempts: number, failures: number) => byCode(judge(signals, { "ip:ip-1 login.att": attempts, "ip:ip-1 login.fail": failures }))["login.failure_ratio.ip"];
    expect(ratio(9, 9)).toBeUndefined();
    expect(ratio(10, 8)).toEqual({ code: "login.failure_ratio.ip", value: 0.8, threshold: 0.8, weight: 20, fired: false });
    expect(ratio(12, 11)).toMatchObject({ value: 0.92, fired: true });
    // Failures counted before their attempts (outcomes arrive out of order) never make it over 1.
    expect(ratio(10, 15)).toMatchObject({ value: 1, fired: true });
  });

  it("calls an address slow stuffing once it tried enough accounts, failed enough and never got in", () => {
    const signals: CompiledSignals = { slowStuffing: { windowMs: 6 * 3_600_000, minUsernames: 3, minFailures: 3, weight: 45 } };
    const slow = (users: number, failures: number, successes: number) =>
      byCode(judge(signals, { "ip:ip-1 login.users.slow": users, "ip:ip-1 login.fail.slow": failures, "ip:ip-1 login.ok.slow": successes }))["ip.slow_stuffing"]!;
    expect(slow(3, 3, 0)).toEqual({
      code: "ip.slow_stuffing", value: 3, threshold: 3, weight: 45, fired: true, detail: "3 failed and no successful login from this address within 360 min",
    });
    expect(slow(2, 5, 0).fired).toBe(false);
    expect(slow(5, 2, 0).fired).toBe(false);
    expect(slow(5, 5, 1).fired).toBe(false);
    expect(planLogin(attempt(), login, signals).ops.map((o) => o.op)).toEqual([
      { op: "distinct.add", name: "login.users.slow", windowMs: 6 * 3_600_000, member: "user-1" },
      { op: "window.add", name: "login.fail.slow", windowMs: 6 * 3_600_000, amount: 0 },
      { op: "window.add", name: "login.ok.slow", windowMs: 6 * 3_600_000, amount: 0 },
    ]);
    expect(planLogin(attempt({ usernameId: undefined }), login, signals).ops).toEqual([]);
  });

  it("calls a header set slow stuffing once enough accounts failed from its sessionless clients and none of them got in", () => {
    const signals: CompiledSignals = { slowStuffing: { windowMs: 7_200_000, minUsernames: 2, minFailures: 1, weight: 40, fingerprint: { minUsernames: 3, weight: 20 } } };
    const header = (users: number, successes: number) =>
      byCode(judge(signals, { "fp:fp-1 nosess.fail.users": users, "fp:fp-1 nosess.ok": successes }))["fingerprint.slow_stuffing"]!;
    expect(header(3, 0)).toMatchObject({ code: "fingerprint.slow_stuffing", value: 3, threshold: 3, weight: 20, fired: true });
    expect(header(2, 0).fired).toBe(false);
    expect(header(9, 1).fired).toBe(false);
    // Read only: the outcome path writes them, for logins without the site's cookies.
    expect(planLogin(attempt(), login, signals).ops.filter((o) => o.entity === "fp:fp-1")).toEqual([
      { entity: "fp:fp-1", op: { op: "distinct.add", name: "nosess.fail.users", windowMs: 7_200_000 } },
      { entity: "fp:fp-1", op: { op: "window.add", name: "nosess.ok", windowMs: 7_200_000, amount: 0 } },
    ]);
    const addressOnly: CompiledSignals = { slowStuffing: { ...signals.slowStuffing!, fingerprint: undefined } };
    expect(byCode(judge(addressOnly))["fingerprint.slow_stuffing"]).toBeUndefined();
    expect(planLogin(attempt({ fingerprintId: undefined }), login, signals).ops.map((o) => o.entity)).toEqual(["ip:ip-1", "ip:ip-1", "ip:ip-1"]);
  });

  it("flags a username that never succeeded, and only when the policy asks", () => {
    expect(judge({ newUsername: { weight: 10 } })).toEqual([{ code: "username.never_succeeded", value: 1, weight: 10, fired: true }]);
    expect(judge({ newUsername: { weight: 10 } }, { "user:user-1 login.ok": 2 })).toEqual([]);
    // The success counter is kept 180 days unless the account history says otherwise.
    expect(planLogin(attempt(), login, { newUsername: { weight: 10 } }).ops).toEqual([
      { entity: "user:user-1", op: { op: "window.add", name: "login.ok", windowMs: 180 * 86_400_000, amount: 0 } },
    ]);
  });

  it("compares an account that has logged in before with its history: device, network and country", () => {
    const signals: CompiledSignals = {
      accountHistory: { retentionMs: 30 * 86_400_000, maxPerAccount: 20, newFingerprint: 15, newSubnet: 10, newCountry: 20, newDevice: 15, deviceCookies: [] },
    };
    const request = attempt({ country: "NZ" });
    expect(planLogin(request, login, signals).ops).toEqual([
      { entity: "user:user-1", op: { op: "window.add", name: "login.ok", windowMs: 30 * 86_400_000, amount: 0 } },
      { entity: "user:user-1", op: { op: "member.check", name: "hist.fp", member: "fp-1" } },
      { entity: "user:user-1", op: { op: "member.check", name: "hist.net", member: "198.51.100.0/24" } },
      { entity: "user:user-1", op: { op: "member.check", name: "hist.cc", member: "NZ" } },
    ]);
    const known = { "user:user-1 login.ok": 4, "user:user-1 hist.fp": 1, "user:user-1 hist.net": 1, "user:user-1 hist.cc": 1 };
    expect(judge(signals, known, request)).toEqual([]);
    const novel = judge(signals, { ...known, "user:user-1 hist.fp": 0, "user:user-1 hist.cc": 0 }, request);
    expect(novel).toEqual([
      { code: "account.new_fingerprint", value: 1, weight: 15, fired: true, detail: "not seen in this account's history" },
      { code: "account.new_country", value: 1, weight: 20, fired: true, detail: "not seen in this account's history" },
    ]);
    // An account with no success yet has no history to differ from.
    expect(judge(signals, {}, request)).toEqual([]);
    // Without a country the country is neither asked nor judged.
    expect(judge(signals, { "user:user-1 login.ok": 4 }, attempt()).map((s) => s.code)).toEqual(["account.new_fingerprint", "account.new_subnet"]);
  });

  it("recognises a device cookie this account signed in with before, and asks nothing without one", () => {
    const signals: CompiledSignals = {
      accountHistory: { retentionMs: 30 * 86_400_000, maxPerAccount: 20, newFingerprint: 15, newSubnet: 10, newCountry: 20, newDevice: 15, deviceCookies: ["did"] },
    };
    const cookies = new Map([["cookie", "did=abc; sid=1"]]);
    const request = attempt({ deviceId: "dev-1", headers: cookies });
    const ops = planLogin(request, login, signals).ops;
    expect(ops).toContainEqual({ entity: "user:user-1", op: { op: "member.check", name: "hist.dev", member: "dev-1" } });
    expect(ops).toContainEqual({ entity: "user:user-1", op: { op: "window.add", name: "login.ok.dev", windowMs: 30 * 86_400_000, amount: 0 } });
    const seen = { "user:user-1 login.ok": 2, "user:user-1 login.ok.dev": 2, "user:user-1 hist.fp": 0, "user:user-1 hist.net": 0, "user:user-1 hist.dev": 1 };
    // Known as a device, new as a header set and a network: both still said, the rules weigh them.
    expect(judge(signals, seen, request).map((s) => s.code)).toEqual(["account.known_device", "account.new_fingerprint", "account.new_subnet"]);
    expect(judge(signals, seen, request)[0]).toMatchObject({ weight: 0, fired: true });
    // Another device cookie, or none, from an account that signs in with one: a new device.
    const other = judge(signals, { ...seen, "user:user-1 hist.dev": 0 }, request);
    expect(other.map((s) => s.code)).toEqual(["account.new_device", "account.new_fingerprint", "account.new_subnet"]);
    expect(other[0]).toMatchObject({ weight: 15, detail: "a device cookie this account never signed in with" });
    const none = judge(signals, seen, attempt({ headers: new Map([["cookie", "sid=1"]]) }));
    expect(none[0]).toMatchObject({ code: "account.new_device", detail: "no device cookie, for an account that signs in with one" });
    // An account that never signed in with a device cookie (history from before the cookie) is not judged by one.
    expect(judge(signals, { ...seen, "user:user-1 login.ok.dev": 0, "user:user-1 hist.dev": 0 }, request).map((s) => s.code)).toEqual(["account.new_fingerprint", "account.new_subnet"]);
    // A log that never recorded cookies says nothing about devices (unknown is not absent).
    const unrecorded = attempt({ deviceId: undefined, recordedHeaders: new Set(["user-agent"]) });
    expect(judge(signals, seen, unrecorded).map((s) => s.code)).toEqual(["account.new_fingerprint", "account.new_subnet"]);
    // An account with no success has no device to recognise.
    expect(judge(signals, { "user:user-1 hist.dev": 1 }, request)).toEqual([]);
  });

  it("notices a browser that posts the form without having loaded a page, and measures it when it did", () => {
    const signals: CompiledSignals = { sequence: { windowMs: 600_000, weight: 20 } };
    const browser = attempt({ headers: new Map([["user-agent", BROWSER]]) });
    expect(judge(signals, {}, browser)).toEqual([{ code: "sequence.no_page_view", value: 0, threshold: 1, weight: 20, fired: true }]);
    expect(judge(signals, { "ip:ip-1 pages": 1 }, browser)).toEqual([{ code: "sequence.no_page_view", value: 1, threshold: 1, weight: 20, fired: false }]);
    // A client that does not claim to be a browser, or an endpoint that is itself a page, is not judged.
    expect(judge(signals, {}, attempt({ headers: new Map([["user-agent", "okhttp/4.12"]]) }))).toEqual([]);
    expect(judge(signals, {}, browser, { ...login, pageView: true } as CompiledEndpoint)).toEqual([]);
    expect(planLogin(attempt({ ipId: undefined }), login, signals).ops).toEqual([]);
  });

  it("claims a browser only for a Mozilla/5.0 user agent", () => {
    expect(claimsBrowser(attempt({ headers: new Map([["user-agent", BROWSER]]) }))).toBe(true);
    expect(claimsBrowser(attempt({ headers: new Map([["user-agent", "curl/8.5"]]) }))).toBe(false);
    expect(claimsBrowser(attempt())).toBe(false);
  });
});
