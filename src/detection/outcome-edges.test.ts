import { describe, expect, it } from "vitest";
import { policyFrom } from "../../test/support/policies.js";
import type { AccessLogRecord } from "../domain/access-log.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { MemoryStore } from "../state/memory-store.js";
import type { EntityOp } from "../state/store.js";
import { packLogin } from "./geo.js";
import { defaultOutcome } from "../policy/schema.js";
import { classifyOutcome, LoginOutcomeRecorder, RecentAttempts, type AttemptContext } from "./login-outcomes.js";
import type { SiteActivity } from "./site-activity.js";

/**
 * The outcome path at its edges (outcome-recorder.test.ts runs the example policy): policies
 * that set only some of the login signals, the place another replica hands back for impossible
 * travel, a step-up, what the site-wide figures are told, probing responses attributed by
 * pseudonym or address, and a context whose endpoint the policy no longer has. Time comes from
 * the entries or from an injected clock.
 */

const T0 = Date.UTC(2026, 0, 5, 12);
const LOGIN = { name: "login", match: { methods: ["POST"], path: "/login" }, authentication: true, identity: { username: { jsonPointer: "/username" } } };
const PRODUCT = { name: "product", match: { methods: ["GET"], path: "/products/{id}" }, resource: { param: "id" } };

function policyWith(signals: Record<string, unknown>): CompiledPolicy {
  return policyFrom({ apiVersion: "palisade.dev/v1alpha1", kind: "Policy", metadata: { name: "edges", version: "e1" }, spec: { endpoints: [LOGIN, PRODUCT], signals } });
}

function recorder(policy: CompiledPolicy, listeners = true) {
  const store = new MemoryStore();
  const writes: { entity: string; ops: EntityOp[]; nowMs: number }[] = [];
  const apply = store.apply.bind(store);
  store.apply = (entity, ops, nowMs) => (writes.push({ entity, ops: [...ops], nowMs }), apply(entity, ops, nowMs));
  const site: unknown[][] = [];
  const recent = new RecentAttempts();
  const ignored: string[] = [];
  const outcomes = new LoginOutcomeRecorder({
    store,
    policy: () => policy,
    recent,
    // Only what the recorder tells the site-wide figures is looked at here.
    site: { recordOutcome: (...args: unknown[]) => site.push(args) } as unknown as SiteActivity,
    pseudonymiser: new HmacPseudonymiser({ current: Buffer.alloc(32, 5) }),
    clock: { now: () => T0 },
    ...(listeners ? { onIgnored: (reason: string) => ignored.push(reason) } : {}),
  });
  const opsOf = (prefix: string) => writes.filter((w) => w.entity.startsWith(prefix)).flatMap((w) => w.ops);
  return { outcomes, recent, writes, site, ignored, opsOf };
}

const context = (overrides: Partial<AttemptContext> = {}): AttemptContext => ({
  endpoint: "login", ipId: "ip-1", subnet: "198.51.100.0/24", usernameId: "user-1", fingerprintId: "fp-1", headerShape: "shape", timeMs: T0, allowed: true, ...overrides,
});
const entry = (overrides: Partial<AccessLogRecord> = {}): AccessLogRecord => ({
  requestId: "r-1", timeMs: T0 + 500, method: "POST", path: "/login", statusCode: 401, responseHeaders: new Map(), ...overrides,
});

describe("outcome path: policies with only some login signals", () => {
  it("counts failures in the ratio's window when the policy sets only the ratio, and attempts with it", async () => {
    const r = recorder(policyWith({ failureRatio: { window: "10m", minAttempts: 5, threshold: 0.8, weight: 20 } }));
    r.recent.remember("r-1", context());
    await r.outcomes.record(entry());
    expect(r.opsOf("ip:")).toEqual([
      { op: "window.add", name: "login.att", windowMs: 600_000, amount: 1 },
      { op: "window.add", name: "login.fail", windowMs: 600_000, amount: 1 },
    ]);
  });

  it("writes only what is configured: failures without a ratio, slow stuffing or a shared address", async () => {
    const r = recorder(policyWith({ failures: { window: "5m", ip: { threshold: 5, weight: 30 } } }));
    r.recent.remember("r-1", context());
    await r.outcomes.record(entry());
    r.recent.remember("r-2", context());
    await r.outcomes.record(entry({ requestId: "r-2", statusCode: 200 }));
    expect(r.opsOf("ip:")).toEqual([{ op: "window.add", name: "login.fail", windowMs: 300_000, amount: 1 }]);
    // Without account history or newUsername a success leaves the account alone too.
    expect(r.opsOf("user:")).toEqual([{ op: "window.add", name: "login.fail", windowMs: 300_000, amount: 1 }]);
  });

  it("keeps successes 180 days for newUsername alone, and remembers no history without accountHistory", async () => {
    const r = recorder(policyWith({ newUsername: { weight: 10 } }));
    r.recent.remember("r-1", context({ deviceId: "dev-1", country: "NZ" }));
    await r.outcomes.record(entry({ statusCode: 200 }));
    expect(r.opsOf("user:")).toEqual([{ op: "window.add", name: "login.ok", windowMs: 180 * 86_400_000, amount: 1 }]);
  });
});

describe("outcome path: the place of a login for impossible travel", () => {
  const policy = policyWith({ geo: { impossibleTravel: { weight: 40 } } });
  const attributed = (place: string | undefined, action: "allow" | "step_up" = "allow") =>
    entry({ requestId: "elsewhere", statusCode: 200, attribution: { endpoint: "login", action, ipId: "ip-9", usernameId: "user-9", ...(place !== undefined ? { place } : {}) } });
  const lastPlace = async (place: string | undefined, action: "allow" | "step_up" = "allow") => {
    const r = recorder(policy);
    await r.outcomes.record(attributed(place, action));
    return r.opsOf("user:").filter((op) => op.name === "hist.last");
  };

  it("keeps the place another replica handed back as the account's last login, at the entry's time", async () => {
    expect(await lastPlace("-36.85,174.76")).toEqual([
      { op: "value.swap", name: "hist.last", value: packLogin({ latitude: -36.85, longitude: 174.76 }, T0 + 500), retentionMs: 30 * 86_400_000 },
    ]);
    expect(await lastPlace("90,-180")).toEqual([{ op: "value.swap", name: "hist.last", value: packLogin({ latitude: 90, longitude: -180 }, T0 + 500), retentionMs: 30 * 86_400_000 }]);
    expect(await lastPlace("-90,180")).toHaveLength(1);
  });

  it("takes no place that is off the globe or not two plain decimals", async () => {
    for (const place of ["90.1,0", "0,180.5", "-91,0", "1234,5", "1,1234", "a,b", "1.,2", "1,2 ", " 1,2", "1;2", "", undefined]) {
      expect(await lastPlace(place), String(place)).toEqual([]);
    }
  });

  it("keeps a success after a step-up out of the last place, and no place without one", async () => {
    expect(await lastPlace("-36.85,174.76", "step_up")).toEqual([]);
    const r = recorder(policy);
    await r.outcomes.apply("success", context({ location: { latitude: 1, longitude: 2 }, steppedUp: true }), policy);
    await r.outcomes.apply("success", context({ location: undefined }), policy);
    expect(r.opsOf("user:").filter((op) => op.name === "hist.last")).toEqual([]);
  });

  it("dates an attributed entry without a time by the clock", async () => {
    const r = recorder(policy);
    await r.outcomes.record({ ...attributed("10,10"), timeMs: undefined });
    expect(r.writes.every((w) => w.nowMs === T0)).toBe(true);
  });
});

describe("outcome path: what the site-wide figures are told", () => {
  const policy = policyWith({ failures: { window: "5m", ip: { threshold: 5, weight: 30 } }, scraping: { window: "5m", notFoundRatio: { minRequests: 5, threshold: 0.5, weight: 10 } } });

  it("tells a login's outcome as failed or not, with its header set, account and time", async () => {
    const r = recorder(policy);
    await r.outcomes.apply("failure", context(), policy);
    await r.outcomes.apply("unknown_user", context(), policy);
    await r.outcomes.apply("success", context(), policy);
    expect(r.site).toEqual([
      ["login", true, "shape", "user-1", T0, undefined],
      ["login", true, "shape", "user-1", T0, undefined],
      ["login", false, "shape", "user-1", T0, undefined],
    ]);
  });

  it("says when the login carried none of the site's session cookies, for the early campaign call", async () => {
    const r = recorder(policy);
    await r.outcomes.apply("failure", context({ sessionless: true }), policy);
    expect(r.site).toEqual([["login", true, "shape", "user-1", T0, "sessionless"]]);
  });

  it("says when the login's session showed nothing before it (session.bare_login), for the slow campaign call", async () => {
    const r = recorder(policy);
    await r.outcomes.apply("failure", context({ bareSession: true }), policy);
    expect(r.site).toEqual([["login", true, "shape", "user-1", T0, "bare"]]);
  });

  it("tells a catalogue answer as failed when it was a 404", async () => {
    const r = recorder(policy);
    r.recent.remember("a", context({ endpoint: "product" }));
    await r.outcomes.record(entry({ requestId: "a", method: "GET", path: "/products/1", statusCode: 404 }));
    r.recent.remember("b", context({ endpoint: "product", ipId: undefined }));
    await r.outcomes.record(entry({ requestId: "b", method: "GET", path: "/products/2", statusCode: 200 }));
    expect(r.site).toEqual([["product", true, "shape"], ["product", false, "shape"]]);
    // Without an address nothing is counted for the client.
    expect(r.writes.map((w) => w.entity)).toEqual(["ip:ip-1"]);
  });

  it("takes a catalogue entry without a status as no answer, and writes nothing where no 404 ratio is kept", async () => {
    const r = recorder(policy);
    r.recent.remember("a", context({ endpoint: "product" }));
    await r.outcomes.record(entry({ requestId: "a", method: "GET", path: "/products/1", statusCode: undefined }));
    expect(r.site).toEqual([]);
    const plain = recorder(policyWith({ failures: { window: "5m", ip: { threshold: 5, weight: 30 } } }));
    plain.recent.remember("b", context({ endpoint: "product" }));
    await plain.outcomes.record(entry({ requestId: "b", method: "GET", path: "/products/2", statusCode: 404 }));
    expect(plain.site).toEqual([["product", true, "shape"]]);
    expect(plain.writes).toEqual([]);
  });
});

describe("outcome path: probing responses", () => {
  const policy = policyWith({ probing: { window: "10m", missingPaths: { threshold: 10, weight: 40 } } });

  it("counts a 404 against the pseudonym the deciding replica saw, else against the logged address", async () => {
    const r = recorder(policy);
    await r.outcomes.record(entry({ requestId: undefined, method: "GET", path: "/wp-admin/setup.php", statusCode: 404, attribution: { endpoint: "default", action: "allow", ipId: "ip-7" } }));
    await r.outcomes.record(entry({ requestId: undefined, method: "GET", path: "/.env", statusCode: 404, clientAddress: "203.0.113.9", timeMs: undefined }));
    const probing = r.writes.filter((w) => w.ops.some((op) => op.name !== "login.fail"));
    expect(probing.map((w) => w.entity)).toEqual(["ip:ip-7", expect.stringMatching(/^ip:/)]);
    // The address's pseudonym is the one the Check path gives it, so both count on one key.
    expect(probing[1]!.entity).toBe(`ip:${new HmacPseudonymiser({ current: Buffer.alloc(32, 5) }).pseudonymise("ip", "203.0.113.9")}`);
    expect(probing.map((w) => w.nowMs)).toEqual([T0 + 500, T0]);
  });

  it("counts nothing Palisade denied, nothing without a status, and nothing without an address", async () => {
    const r = recorder(policy);
    await r.outcomes.record(entry({ requestId: undefined, method: "GET", path: "/.env", statusCode: 404, clientAddress: "203.0.113.9", deniedByAuthz: true }));
    await r.outcomes.record(entry({ requestId: undefined, method: "GET", path: "/.env", statusCode: undefined, clientAddress: "203.0.113.9" }));
    await r.outcomes.record(entry({ requestId: undefined, method: "GET", path: "/.env", statusCode: 404, clientAddress: "not an address" }));
    await r.outcomes.record(entry({ requestId: undefined, method: "GET", path: "/.env", statusCode: 200, clientAddress: "203.0.113.9" }));
    expect(r.writes).toEqual([]);
  });
});

describe("outcome path: records it cannot place", () => {
  it("ignores a context whose endpoint the reloaded policy no longer has, and an entry without a method", async () => {
    const policy = policyWith({ failures: { window: "5m", ip: { threshold: 5, weight: 30 } } });
    const r = recorder(policy);
    r.recent.remember("gone", context({ endpoint: "old-login" }));
    await r.outcomes.record(entry({ requestId: "gone" }));
    await r.outcomes.record(entry({ requestId: undefined, method: undefined, clientAddress: "203.0.113.9" }));
    expect(r.ignored).toEqual(["not_a_login", "no_context"]);
    expect(r.writes).toEqual([]);
  });

  it("records and ignores without listeners", async () => {
    const policy = policyWith({ failures: { window: "5m", ip: { threshold: 5, weight: 30 } } });
    const r = recorder(policy, false);
    r.recent.remember("r-1", context());
    await r.outcomes.record(entry());
    await r.outcomes.record(entry({ requestId: "none", path: "/elsewhere", clientAddress: "203.0.113.9" }));
    expect(r.writes.map((w) => w.entity).sort()).toEqual(["fp:fp-1", "ip:ip-1", "net:198.51.100.0/24", "user:user-1"]);
  });
});

describe("classifyOutcome: statuses that mean an unknown username", () => {
  it("reads them before failures and successes", () => {
    const spec = { ...defaultOutcome(), unknownUserStatus: [404, 200] };
    expect(classifyOutcome(spec, 404, new Map())).toBe("unknown_user");
    expect(classifyOutcome(spec, 200, new Map())).toBe("unknown_user");
    expect(classifyOutcome(defaultOutcome(), 404, new Map())).toBeUndefined();
  });
});


describe("outcome path: a challenged login from a client that kept no session", () => {
  const policy = policyWith({ slowStuffing: { window: "2h", minUsernames: 2, minFailures: 1, weight: 40 }, failures: { window: "5m", ip: { threshold: 5, weight: 30 } } });
  const denied = (requestId: string) => entry({ requestId, statusCode: 401, deniedByAuthz: true });
  const slowFailure = { op: "window.add", name: "login.fail.slow", windowMs: 7_200_000, amount: 1 };

  it("counts as its address's failed login for slow stuffing, and for nothing else", async () => {
    const r = recorder(policy);
    r.recent.remember("c", context({ allowed: false, challenged: true, sessionless: true }));
    await r.outcomes.record(denied("c"));
    expect(r.writes).toEqual([{ entity: "ip:ip-1", ops: [slowFailure], nowMs: T0 }]);
    expect(r.site).toEqual([]);
    expect(r.ignored).toEqual(["mitigated"]);
  });

  it("leaves a challenged client that kept the site's cookies, other denials and logins without an account alone", async () => {
    const r = recorder(policy);
    r.recent.remember("browser", context({ allowed: false, challenged: true }));
    r.recent.remember("held", context({ allowed: false, sessionless: true }));
    r.recent.remember("anonymous", context({ allowed: false, challenged: true, sessionless: true, usernameId: undefined }));
    for (const id of ["browser", "held", "anonymous"]) await r.outcomes.record(denied(id));
    // Another replica's challenge: whether that client kept a session is not handed back, so it counts as one that did.
    await r.outcomes.record(entry({ requestId: "x", statusCode: 401, deniedByAuthz: true, attribution: { endpoint: "login", action: "challenge", ipId: "ip-9", usernameId: "user-9" } }));
    const plain = recorder(policyWith({ failures: { window: "5m", ip: { threshold: 5, weight: 30 } } }));
    plain.recent.remember("c", context({ allowed: false, challenged: true, sessionless: true }));
    await plain.outcomes.record(denied("c"));
    expect([...r.writes, ...plain.writes]).toEqual([]);
    expect(r.ignored).toEqual(["mitigated", "mitigated", "mitigated", "mitigated"]);
  });
});

describe("outcome path: a header set's sessionless logins (slowStuffing.fingerprint)", () => {
  const policy = policyWith({ slowStuffing: { window: "2h", minUsernames: 2, minFailures: 1, weight: 40, fingerprint: { minUsernames: 3, weight: 20 } } });
  const failedAccount = (member: string) => ({ op: "distinct.add", name: "nosess.fail.users", windowMs: 7_200_000, member, count: false });

  it("keeps the accounts that failed, or were challenged, from clients without the site's cookies, and their successes", async () => {
    const r = recorder(policy);
    r.recent.remember("failed", context({ sessionless: true }));
    r.recent.remember("challenged", context({ allowed: false, challenged: true, sessionless: true, usernameId: "user-2" }));
    r.recent.remember("in", context({ sessionless: true, usernameId: "user-3" }));
    await r.outcomes.record(entry({ requestId: "failed" }));
    await r.outcomes.record(entry({ requestId: "challenged", deniedByAuthz: true }));
    await r.outcomes.record(entry({ requestId: "in", statusCode: 200 }));
    expect(r.opsOf("fp:")).toEqual([failedAccount("user-1"), failedAccount("user-2"), { op: "window.add", name: "nosess.ok", windowMs: 7_200_000, amount: 1 }]);
  });

  it("writes nothing for clients that kept the site's cookies, nor without the setting", async () => {
    const r = recorder(policy);
    r.recent.remember("browser", context());
    r.recent.remember("browser-in", context({ usernameId: "user-3" }));
    await r.outcomes.record(entry({ requestId: "browser" }));
    await r.outcomes.record(entry({ requestId: "browser-in", statusCode: 200 }));
    const plain = recorder(policyWith({ slowStuffing: { window: "2h", minUsernames: 2, minFailures: 1, weight: 40 } }));
    plain.recent.remember("failed", context({ sessionless: true }));
    await plain.outcomes.record(entry({ requestId: "failed" }));
    expect([...r.opsOf("fp:"), ...plain.opsOf("fp:")]).toEqual([]);
  });
});
