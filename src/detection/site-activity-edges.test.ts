import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { MemoryStore } from "../state/memory-store.js";
import type { Signal } from "./signal.js";
import { SiteActivity } from "./site-activity.js";

/**
 * Site-wide figures at their bounds (site-activity.test.ts and site-campaign.test.ts play the
 * common cases): the minimum volume, the failing cohort's ten failures and one-half share over
 * this minute and the last, the campaign share met exactly and only with a failure-ratio
 * anomaly, and who counts as having browsed the site. Event time only.
 */

const login = { name: "login", authentication: true } as CompiledEndpoint;
const product = { name: "product", authentication: false, resourceSegment: 2 } as CompiledEndpoint;
const other = { name: "other", authentication: false } as CompiledEndpoint;
/** Priors only (30 samples are never reached here): 60 ± 30 logins a minute, a failure ratio of 0.1 ± 0.05. */
const PRIORS = { attemptsPerMinute: 60, attemptsPerMinuteStddev: 30, failureRatio: 0.1, failureRatioStddev: 0.05 };
const ANOMALY = { zScore: 3, minSamples: 30, learningRate: 0.05, priors: PRIORS, minAttemptsPerMinute: 20, weight: 10, cohortWeight: 40 };
const signals: CompiledSignals = { siteAnomaly: { ...ANOMALY, campaign: { distinctFailingShare: 0.5, weight: 0 } }, cohorts: { windowMs: 600_000, sessionCookies: ["sid", "did"], minMembers: 3, browserWithoutSession: 40 } };
const policy = { signals, endpoints: [login, product, other] } as unknown as CompiledPolicy;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

function request(shape: string, headers: Record<string, string> = {}): NormalisedRequest {
  return { method: "POST", path: "/login", query: "", host: "", headers: new Map(Object.entries(headers)), headerShape: shape, timeMs: T0, anomalies: [], endpoint: "login" };
}
const codes = (found: Signal[]) => found.map((s) => s.code);

/** Logins of one shape: `failed` of `attempts` fail, each by another username unless `user` is given. */
function logins(site: SiteActivity, shape: string, attempts: number, failed: number, user?: string): void {
  for (let i = 0; i < attempts; i++) {
    site.recordAttempt("login", shape);
    site.recordOutcome("login", i < failed, shape, user ?? `${shape}-${i}`);
  }
}

describe("site activity: volume and merging", () => {
  it("judges a minute of exactly the minimum volume, and not one fewer", async () => {
    const at = new SiteActivity(new MemoryStore());
    logins(at, "s", 20, 20);
    await at.maybeFlush(policy, T0 + 30_000);
    expect(codes(at.signalsFor(request("x"), login, signals, []))).toContain("site.failure_ratio");
    const under = new SiteActivity(new MemoryStore());
    logins(under, "s", 19, 19);
    await under.maybeFlush(policy, T0 + 30_000);
    expect(under.signalsFor(request("x"), login, signals, [])).toEqual([]);
  });

  it("merges for a policy with only the catalogue's anomaly, and leaves endpoints without one unmerged", async () => {
    const store = new MemoryStore();
    const writes: string[] = [];
    const apply = store.apply.bind(store);
    store.apply = (entity, ops, nowMs) => (writes.push(entity), apply(entity, ops, nowMs));
    const catalogueOnly = { signals: { scraping: { siteAnomaly: ANOMALY } }, endpoints: [login, product, other] } as unknown as CompiledPolicy;
    await new SiteActivity(store).maybeFlush(catalogueOnly, T0);
    expect(writes).toEqual(["site:product"]);
  });
});

describe("site activity: the failing cohort", () => {
  it("takes a shape in from ten failures that are at least half its attempts, over this minute and the last", async () => {
    const site = new SiteActivity(new MemoryStore());
    await site.maybeFlush(policy, T0 + 1_000);
    logins(site, "loud", 100, 90);
    logins(site, "edge", 10, 6);
    await site.maybeFlush(policy, T0 + 59_000);
    // The next minute's first merge makes these last minute's counts.
    await site.maybeFlush(policy, T0 + 61_000);
    // Last minute 6 failures of 10 attempts, this minute 4 of 10: together 10 of 20.
    logins(site, "edge", 10, 4);
    logins(site, "few", 9, 9);
    logins(site, "half", 21, 10);
    const inCohort = (shape: string) => codes(site.signalsFor(request(shape), login, signals, [])).includes("cohort.anomalous");
    expect(inCohort("loud")).toBe(true);
    expect(inCohort("edge")).toBe(true);
    expect(inCohort("few")).toBe(false);
    expect(inCohort("half")).toBe(false);
  });

  it("keeps out a client with either of the site's cookies whose address loaded a page, found among other signals", async () => {
    const site = new SiteActivity(new MemoryStore());
    logins(site, "loud", 100, 90);
    await site.maybeFlush(policy, T0 + 30_000);
    const browsed: Signal[] = [{ code: "ip.page_views", value: 0, weight: 0, fired: false }, { code: "sequence.no_page_view", value: 2, threshold: 1, weight: 15, fired: false }];
    expect(codes(site.signalsFor(request("loud", { cookie: "did=1" }), login, signals, browsed))).not.toContain("cohort.anomalous");
    expect(codes(site.signalsFor(request("loud", { cookie: "did=1" }), login, signals, browsed.slice(0, 1)))).toContain("cohort.anomalous");
  });
});

describe("site activity: the campaign share", () => {
  /** `failures` failed logins by `usernames` usernames in turn, merged 59 s into the minute; then the next minute's first merge. */
  async function lastMinute(site: SiteActivity, failures: number, usernames: number): Promise<void> {
    await site.maybeFlush(policy, T0 + 1_000);
    for (let i = 0; i < failures; i++) {
      site.recordAttempt("login", "s");
      site.recordOutcome("login", true, "s", `u${i % usernames}`);
    }
    await site.maybeFlush(policy, T0 + 59_000);
    await site.maybeFlush(policy, T0 + 61_000);
  }

  it("fires at exactly the policy's share of distinct never-signed-in usernames, counting last minute's too", async () => {
    const site = new SiteActivity(new MemoryStore());
    await lastMinute(site, 24, 12);
    expect(site.signalsFor(request("s"), login, signals, []).find((s) => s.code === "site.campaign")).toMatchObject({ value: 0.5, fired: true });
    // This minute: 24 more failures by the same 12 usernames, each counted once: 12 of 48.
    for (let i = 0; i < 24; i++) {
      site.recordAttempt("login", "s");
      site.recordOutcome("login", true, "s", `u${i % 12}`);
    }
    expect(codes(site.signalsFor(request("s"), login, signals, []))).not.toContain("site.campaign");
    const exact = new SiteActivity(new MemoryStore());
    for (let i = 0; i < 40; i++) {
      exact.recordAttempt("login", "s");
      exact.recordOutcome("login", true, "s", `u${i % 20}`);
    }
    await exact.maybeFlush(policy, T0 + 30_000);
    expect(exact.signalsFor(request("s"), login, signals, []).find((s) => s.code === "site.campaign")).toMatchObject({ value: 0.5, threshold: 0.5, fired: true });
  });

  it("counts a username that failed last minute and signed in this minute as a person", async () => {
    const site = new SiteActivity(new MemoryStore());
    await lastMinute(site, 30, 30);
    expect(codes(site.signalsFor(request("s"), login, signals, []))).toContain("site.campaign");
    for (let i = 0; i < 30; i++) site.recordOutcome("login", false, "s", `u${i}`);
    expect(codes(site.signalsFor(request("s"), login, signals, []))).not.toContain("site.campaign");
  });

  it("is not judged during a rate anomaly alone", async () => {
    const site = new SiteActivity(new MemoryStore());
    for (let i = 0; i < 300; i++) {
      site.recordAttempt("login", "s");
      site.recordOutcome("login", i < 10, "s", `u${i}`);
    }
    await site.maybeFlush(policy, T0 + 30_000);
    const found = codes(site.signalsFor(request("s"), login, signals, []));
    expect(found).toContain("site.attempt_rate");
    expect(found).not.toContain("site.failure_ratio");
    expect(found).not.toContain("site.campaign");
  });
});
