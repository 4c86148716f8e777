import { describe, expect, it } from "vitest";
import { examplePolicy } from "../../test/support/policies.js";
import type { AccessLogRecord } from "../domain/access-log.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { MemoryStore } from "../state/memory-store.js";
import type { EntityOp } from "../state/store.js";
import { LoginOutcomeRecorder, RecentAttempts, type AttemptContext, type IgnoredReason, type LoginOutcome, type SignUpOutcome } from "./login-outcomes.js";
import { SiteActivity } from "./site-activity.js";

/**
 * The outcome path under the bundled example policy: which counters an access-log record of a
 * login or catalogue request adds to, and which records it leaves alone. The store is the
 * in-memory one, with every apply() call noted.
 */

const policy = examplePolicy();
const T0 = Date.UTC(2026, 0, 5, 12);

function recorder() {
  const store = new MemoryStore();
  const writes: { entity: string; ops: EntityOp[]; nowMs: number }[] = [];
  const apply = store.apply.bind(store);
  store.apply = (entity, ops, nowMs) => (writes.push({ entity, ops: [...ops], nowMs }), apply(entity, ops, nowMs));
  const recent = new RecentAttempts();
  const ignored: IgnoredReason[] = [];
  const recorded: LoginOutcome[] = [];
  const signUps: SignUpOutcome[] = [];
  const outcomes = new LoginOutcomeRecorder({
    store,
    policy: () => policy,
    recent,
    site: new SiteActivity(store),
    pseudonymiser: new HmacPseudonymiser({ current: Buffer.alloc(32, 5) }),
    clock: { now: () => T0 },
    onIgnored: (reason) => ignored.push(reason),
    onRecorded: (outcome) => recorded.push(outcome),
    onSignUp: (outcome) => signUps.push(outcome),
  });
  /** What was written, per entity, as "name+amount" (or the op and member). */
  const summary = () =>
    writes.map(({ entity, ops }) => `${entity} ${ops.map((op) => ("amount" in op ? `${op.name}+${op.amount}` : `${op.op} ${op.name}`)).join(" ")}`);
  return { outcomes, recent, writes, summary, ignored, recorded, signUps };
}

const context = (overrides: Partial<AttemptContext> = {}): AttemptContext => ({
  endpoint: "login", ipId: "ip-1", subnet: "198.51.100.0/24", usernameId: "user-1", fingerprintId: "fp-1", timeMs: T0, allowed: true, ...overrides,
});

/** The example storefront's mark on a sign-up that created the account (its signup `outcome.createdHeader`). */
const created = () => new Map([["x-signup-result", "created"]]);

const entry = (overrides: Partial<AccessLogRecord> = {}): AccessLogRecord => ({
  requestId: "r-1", timeMs: T0 + 500, method: "POST", path: "/api/v1/login", statusCode: 401, responseHeaders: new Map(), ...overrides,
});

describe("login outcomes", () => {
  it("counts a failed login against address, network, account and device, with the attempt's time", async () => {
    const r = recorder();
    r.recent.remember("r-1", context());
    await r.outcomes.record(entry());
    expect(r.summary().sort()).toEqual([
      "fp:fp-1 login.fail+1",
      "ip:ip-1 login.att+1 login.fail+1 login.fail.slow+1",
      "net:198.51.100.0/24 login.fail+1",
      "user:user-1 login.fail+1",
    ]);
    expect(r.writes.every((w) => w.nowMs === T0)).toBe(true);
    expect(r.recorded).toEqual(["failure"]);
  });

  it("counts an unknown username as a failure and an enumeration probe", async () => {
    const r = recorder();
    r.recent.remember("r-1", context());
    await r.outcomes.record(entry({ statusCode: 200, responseHeaders: new Map([["x-auth-result", "unknown-user"]]) }));
    expect(r.summary().find((line) => line.startsWith("ip:"))).toBe("ip:ip-1 login.att+1 login.fail+1 login.fail.slow+1 login.unknown+1");
    expect(r.recorded).toEqual(["unknown_user"]);
  });

  it("remembers a success in the account's history and counts no failure", async () => {
    const r = recorder();
    r.recent.remember("r-1", context({ country: "NZ" }));
    await r.outcomes.record(entry({ statusCode: 200 }));
    expect(r.summary().sort()).toEqual([
      "ip:ip-1 login.att+1 login.ok.slow+1 distinct.add login.users.ok",
      "user:user-1 login.ok+1 member.add hist.fp member.add hist.net member.add hist.cc",
    ]);
    const history = r.writes.find((w) => w.entity === "user:user-1")!.ops;
    expect(history[0]).toEqual({ op: "window.add", name: "login.ok", windowMs: 180 * 86_400_000, amount: 1 });
    expect(history.slice(1)).toEqual([
      { op: "member.add", name: "hist.fp", member: "fp-1", maxMembers: expect.any(Number), retentionMs: 180 * 86_400_000 },
      { op: "member.add", name: "hist.net", member: "198.51.100.0/24", maxMembers: expect.any(Number), retentionMs: 180 * 86_400_000 },
      { op: "member.add", name: "hist.cc", member: "NZ", maxMembers: expect.any(Number), retentionMs: 180 * 86_400_000 },
    ]);
  });

  it("keeps a success after a step-up out of the account's history: it proves the password, not the device", async () => {
    const r = recorder();
    r.recent.remember("r-1", context({ country: "NZ", deviceId: "dev-1", steppedUp: true }));
    await r.outcomes.record(entry({ statusCode: 200 }));
    expect(r.summary().find((line) => line.startsWith("user:"))).toBe("user:user-1 login.ok+1");
  });

  it("learns an imported earlier sign-in into the account's history only: no address, site or outcome count moves", async () => {
    const r = recorder();
    await r.outcomes.learnHistory(context({ country: "NZ", deviceId: "dev-1" }), policy);
    expect(r.summary()).toEqual(["user:user-1 login.ok+1 member.add hist.fp member.add hist.dev login.ok.dev+1 member.add hist.net member.add hist.cc"]);
    expect(r.writes.every((w) => w.nowMs === T0)).toBe(true);
    expect(r.recorded).toEqual([]);
  });

  it("learns a registration marked as created into the new account's history only, as a sign-in's device and network", async () => {
    const r = recorder();
    r.recent.remember("signup", context({ endpoint: "signup", country: "NZ", deviceId: "dev-1" }));
    await r.outcomes.record(entry({ requestId: "signup", path: "/api/v1/register", statusCode: 201, responseHeaders: created() }));
    expect(r.summary()).toEqual([
      "user:user-1 login.ok+0",
      "ip:ip-1 signup+1",
      "user:user-1 login.ok+1 member.add hist.fp member.add hist.dev login.ok.dev+1 member.add hist.net member.add hist.cc",
    ]);
    expect(r.ignored).toEqual([]);
    expect(r.recorded).toEqual([]);
    expect(r.signUps).toEqual(["created"]);
  });

  it("teaches nothing from a successful sign-up without the creation marker: a site may answer one for a dormant account as for a new one", async () => {
    const r = recorder();
    r.recent.remember("signup", context({ endpoint: "signup", deviceId: "thief" }));
    await r.outcomes.record(entry({ requestId: "signup", path: "/api/v1/register", statusCode: 201 }));
    r.recent.remember("other-value", context({ endpoint: "signup", deviceId: "thief" }));
    await r.outcomes.record(entry({ requestId: "other-value", path: "/api/v1/register", statusCode: 200, responseHeaders: new Map([["x-signup-result", "check-your-mail"]]) }));
    expect(r.writes).toEqual([]);
    expect(r.signUps).toEqual(["unmarked", "unmarked"]);
  });

  it("teaches nothing from a marked sign-up when the endpoint's answer is a failure, whatever the header says", async () => {
    const r = recorder();
    r.recent.remember("taken", context({ endpoint: "signup", deviceId: "dev-1" }));
    await r.outcomes.record(entry({ requestId: "taken", path: "/api/v1/register", statusCode: 409, responseHeaders: created() }));
    expect(r.writes).toEqual([]);
    expect(r.signUps).toEqual(["refused"]);
  });

  it("teaches nothing from a sign-up for an account that has signed in before: a site may answer one for an existing account as for a new one", async () => {
    const r = recorder();
    r.recent.remember("login", context());
    await r.outcomes.record(entry({ requestId: "login", statusCode: 200 }));
    r.recent.remember("signup", context({ endpoint: "signup", ipId: "ip-2", deviceId: "thief" }));
    await r.outcomes.record(entry({ requestId: "signup", path: "/api/v1/register", statusCode: 201, responseHeaders: created() }));
    expect(r.summary().filter((line) => line.includes("hist.dev"))).toHaveLength(0);
    expect(r.summary().slice(-2)).toEqual(["user:user-1 login.ok+0", "ip:ip-2 signup+1"]);
    expect(r.signUps).toEqual(["held"]);
  });

  it("teaches nothing from an address's third sign-up within the hour: a person registers one account, a script many", async () => {
    const r = recorder();
    for (const user of ["user-1", "user-2", "user-3"]) {
      r.recent.remember(user, context({ endpoint: "signup", usernameId: user, deviceId: `dev-${user}` }));
      await r.outcomes.record(entry({ requestId: user, path: "/api/v1/register", statusCode: 201, responseHeaders: created() }));
    }
    const taught = r.summary().filter((line) => line.includes("member.add hist.dev")).map((line) => line.split(" ")[0]);
    expect(taught).toEqual(["user:user-1", "user:user-2"]);
    expect(r.signUps).toEqual(["created", "created", "held"]);
  });

  it("learns nothing from a registration that failed (the address already has an account) or that Palisade denied", async () => {
    const r = recorder();
    r.recent.remember("taken", context({ endpoint: "signup", deviceId: "dev-1" }));
    await r.outcomes.record(entry({ requestId: "taken", path: "/api/v1/register", statusCode: 409 }));
    r.recent.remember("denied", context({ endpoint: "signup", deviceId: "dev-1", allowed: false }));
    await r.outcomes.record(entry({ requestId: "denied", path: "/api/v1/register", statusCode: 201, responseHeaders: created() }));
    expect(r.writes).toEqual([]);
    expect(r.recorded).toEqual([]);
    expect(r.signUps).toEqual(["refused"]);
    expect(r.ignored).toEqual(["mitigated"]);
  });

  it("leaves alone what Palisade denied, what is not an outcome, and what is not a login", async () => {
    const r = recorder();
    r.recent.remember("denied", context({ allowed: false }));
    await r.outcomes.record(entry({ requestId: "denied" }));
    r.recent.remember("authz", context());
    await r.outcomes.record(entry({ requestId: "authz", deniedByAuthz: true }));
    r.recent.remember("5xx", context());
    await r.outcomes.record(entry({ requestId: "5xx", statusCode: 503 }));
    r.recent.remember("search", context({ endpoint: "search" }));
    await r.outcomes.record(entry({ requestId: "search", statusCode: 200, path: "/api/v1/search" }));
    await r.outcomes.record(entry({ requestId: "unknown", path: "/nowhere", clientAddress: "203.0.113.9" }));
    expect(r.ignored).toEqual(["mitigated", "mitigated", "not_an_outcome", "not_a_login", "no_context"]);
    expect(r.writes).toEqual([]);
    expect(r.recorded).toEqual([]);
  });

  it("attributes an outcome another replica decided to the pseudonyms it handed back", async () => {
    const r = recorder();
    await r.outcomes.record(entry({
      requestId: "elsewhere",
      attribution: { endpoint: "login", action: "allow", ipId: "ip-9", subnet: "203.0.113.0/24", usernameId: "user-9" },
    }));
    expect(r.summary().sort()).toEqual([
      "ip:ip-9 login.att+1 login.fail+1 login.fail.slow+1",
      "net:203.0.113.0/24 login.fail+1",
      "user:user-9 login.fail+1",
    ]);
    // The other replica denied it: the application never answered, nothing is counted.
    const denied = recorder();
    await denied.outcomes.record(entry({ requestId: "x", attribution: { endpoint: "login", action: "block", ipId: "ip-9" } }));
    expect(denied.ignored).toEqual(["mitigated"]);
  });

  it("falls back to the logged client address when no Check context is left, on the entry's time or the clock's", async () => {
    const r = recorder();
    await r.outcomes.record(entry({ requestId: undefined, clientAddress: "203.0.113.9", timeMs: undefined }));
    expect(r.writes.map((w) => w.entity.split(":")[0]).sort()).toEqual(["ip", "net"]);
    expect(r.writes.every((w) => w.nowMs === T0)).toBe(true);
    expect(r.writes.find((w) => w.entity.startsWith("ip:"))!.entity).not.toContain("203.0.113.9");
  });

  it("feeds a catalogue answer to the client's 404 ratio", async () => {
    const r = recorder();
    r.recent.remember("p", context({ endpoint: "product" }));
    await r.outcomes.record(entry({ requestId: "p", method: "GET", path: "/api/v1/products/77", statusCode: 404 }));
    expect(r.summary()).toContain("ip:ip-1 resp+1 nf+1");
    r.recent.remember("q", context({ endpoint: "product" }));
    await r.outcomes.record(entry({ requestId: "q", method: "GET", path: "/api/v1/products/78", statusCode: 200 }));
    expect(r.summary()).toContain("ip:ip-1 resp+1 nf+0");
    expect(r.ignored).toEqual([]);
  });

  it("keeps a Check's context by request id, and none without one", () => {
    const recent = new RecentAttempts();
    recent.remember(undefined, context());
    expect(recent.take(undefined)).toBeUndefined();
    recent.remember("r", context());
    expect(recent.take("r")).toMatchObject({ endpoint: "login", ipId: "ip-1" });
    expect(recent.take("other")).toBeUndefined();
  });
});
