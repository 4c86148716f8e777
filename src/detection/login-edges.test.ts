import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { packLogin } from "./geo.js";
import { planLogin } from "./login.js";
import { RecentCounts } from "./recent-counts.js";
import type { Signal } from "./signal.js";

/**
 * The login detector at its edges (login.test.ts covers the common paths): the device cookie's
 * one earlier sign-in, what an attempt with no address says, the counter names the outcome path
 * writes under, and the impossible-travel read. The store is a table of counts per entity and
 * counter name, as in login.test.ts.
 */

const BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";
const login = { name: "login", authentication: true } as CompiledEndpoint;
const HISTORY = { retentionMs: 30 * 86_400_000, maxPerAccount: 20, newFingerprint: 15, newSubnet: 10, newCountry: 20, newDevice: 15 };

function attempt(overrides: Partial<NormalisedRequest> = {}): NormalisedRequest {
  return {
    method: "POST", path: "/login", query: "", host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [],
    ipId: "ip-1", subnet: "198.51.100.0/24", usernameId: "user-1", fingerprintId: "fp-1",
    ...overrides,
  };
}

function judge(signals: CompiledSignals, counts: Record<string, number> = {}, request = attempt()): Signal[] {
  const plan = planLogin(request, login, signals);
  return plan.evaluate(plan.ops.map(({ entity, op }) => counts[`${entity} ${op.name}`] ?? 0));
}

describe("login detector: the device cookie", () => {
  const signals: CompiledSignals = { accountHistory: { ...HISTORY, deviceCookies: ["did"] } };
  const withDevice = attempt({ deviceId: "dev-1", headers: new Map([["cookie", "did=abc"]]) });
  /** An account that signed in before, never from this fingerprint or network. */
  const seen = { "user:user-1 login.ok": 3, "user:user-1 hist.fp": 1, "user:user-1 hist.net": 1 };

  it("calls a device new from the account's first sign-in with a device cookie on, and not before", () => {
    const once = judge(signals, { ...seen, "user:user-1 login.ok.dev": 1 }, withDevice);
    expect(once).toEqual([{ code: "account.new_device", value: 1, weight: 15, fired: true, detail: "a device cookie this account never signed in with" }]);
    expect(judge(signals, { ...seen, "user:user-1 login.ok.dev": 0.9 }, withDevice)).toEqual([]);
  });

  it("judges devices where the log recorded cookies, and not where the policy names no device cookie", () => {
    const recorded = attempt({ deviceId: "dev-1", headers: new Map([["cookie", "did=abc"]]), recordedHeaders: new Set(["cookie", "user-agent"]) });
    expect(judge(signals, { ...seen, "user:user-1 login.ok.dev": 2, "user:user-1 hist.dev": 1 }, recorded).map((s) => s.code)).toEqual(["account.known_device"]);
    const none: CompiledSignals = { accountHistory: { ...HISTORY, deviceCookies: [] } };
    expect(judge(none, { ...seen, "user:user-1 hist.dev": 1 }, withDevice)).toEqual([]);
  });
});

describe("login detector: an attempt without an address", () => {
  const noAddress = attempt({ ipId: undefined, subnet: undefined, headers: new Map([["user-agent", BROWSER]]) });

  it("says nothing about the address's failures, ratio, slow stuffing or page views it could not count", () => {
    const signals: CompiledSignals = {
      failures: { windowMs: 300_000, ip: { threshold: 5, weight: 30 } },
      failureRatio: { windowMs: 600_000, minAttempts: 10, threshold: 0.8, weight: 20 },
      slowStuffing: { windowMs: 6 * 3_600_000, minUsernames: 3, minFailures: 3, weight: 45 },
      sequence: { windowMs: 600_000, weight: 20 },
    };
    expect(judge(signals, {}, noAddress)).toEqual([]);
  });
});

describe("login detector: counter names shared with the outcome path", () => {
  it("reads unknown usernames and page views under the names the outcome and page paths write", () => {
    const signals: CompiledSignals = { enumeration: { windowMs: 600_000, threshold: 10, weight: 35 }, sequence: { windowMs: 600_000, weight: 20 } };
    expect(planLogin(attempt(), login, signals).ops).toEqual([
      { entity: "ip:ip-1", op: { op: "window.add", name: "login.unknown", windowMs: 600_000, amount: 0 } },
      { entity: "ip:ip-1", op: { op: "window.add", name: "pages", windowMs: 600_000, amount: 0 } },
    ]);
  });
});

describe("login detector: impossible travel", () => {
  const travel = { maxSpeedKmh: 900, minDistanceKm: 500, retentionMs: 30 * 86_400_000, weight: 40, action: "step_up" };
  const signals: CompiledSignals = { geo: { countryHeader: "x-geo-country", impossibleTravel: travel } };
  const T = Date.UTC(2026, 0, 5, 12);
  const auckland = { latitude: -36.8, longitude: 174.8, accuracyKm: 10 };

  it("reads the account's last login place and flags a login too far from it too soon", () => {
    const request = attempt({ location: auckland, timeMs: T });
    expect(planLogin(request, login, signals).ops).toEqual([{ entity: "user:user-1", op: { op: "value.swap", name: "hist.last" } }]);
    const london = packLogin({ latitude: 51.5, longitude: -0.1 }, T - 3_600_000);
    const found = judge(signals, { "user:user-1 hist.last": london }, request);
    expect(found).toMatchObject([{ code: "account.impossible_travel", threshold: 900, weight: 40, fired: true }]);
  });

  it("reads nothing for an attempt without a place or a username", () => {
    expect(planLogin(attempt({ timeMs: T }), login, signals).ops).toEqual([]);
    expect(planLogin(attempt({ location: auckland, usernameId: undefined, timeMs: T }), login, signals).ops).toEqual([]);
  });
});

describe("login detector: a recent copy of the fingerprint's count", () => {
  const T = 1_800_000_000_000 - (1_800_000_000_000 % 600_000) + 10;
  const at = (timeMs: number, user: string) => attempt({ timeMs, usernameId: user });
  const opOf = (plan: ReturnType<typeof planLogin>, entity: string) => plan.ops.find((o) => o.entity === entity)?.op;

  it("stands in for the fingerprint only: the address and network count afresh and are judged by their own counts", () => {
    const signals: CompiledSignals = { distinctUsernames: { windowMs: 600_000, ip: { threshold: 3, weight: 25 }, fingerprint: { threshold: 60, weight: 25 } } };
    const recent = new RecentCounts();
    const first = planLogin(at(T, "u-1"), login, signals, recent);
    first.evaluate(first.ops.map((o) => (o.entity === "fp:fp-1" ? 75 : 1)));
    const next = planLogin(at(T + 300, "u-2"), login, signals, recent);
    expect(opOf(next, "fp:fp-1")).toMatchObject({ count: false });
    expect(opOf(next, "ip:ip-1")).not.toHaveProperty("count");
    expect(opOf(next, "net:198.51.100.0/24")).not.toHaveProperty("count");
    const found = next.evaluate(next.ops.map((o) => (o.entity === "fp:fp-1" ? 0 : 2)));
    expect(found.find((s) => s.code === "ip.distinct_usernames")).toMatchObject({ value: 2, fired: false });
    expect(found.find((s) => s.code === "fingerprint.distinct_usernames")).toMatchObject({ value: 75, fired: true });
    // Using the copy does not replace it with the uncounted answer: the next login uses it too.
    expect(opOf(planLogin(at(T + 600, "u-3"), login, signals, recent), "fp:fp-1")).toMatchObject({ count: false });
  });

  it("is never used without a limit on the fingerprint: every login counts there", () => {
    const signals: CompiledSignals = { distinctUsernames: { windowMs: 600_000, ip: { threshold: 3, weight: 25 } } };
    const recent = new RecentCounts();
    const first = planLogin(at(T, "u-1"), login, signals, recent);
    first.evaluate(first.ops.map(() => 75));
    expect(opOf(planLogin(at(T + 300, "u-2"), login, signals, recent), "fp:fp-1")).not.toHaveProperty("count");
  });
});
