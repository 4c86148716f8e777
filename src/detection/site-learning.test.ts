import { describe, expect, it } from "vitest";
import { policyFrom } from "../../test/support/policies.js";
import type { NormalisedRequest } from "../domain/request.js";
import { MemoryStore } from "../state/memory-store.js";
import type { Store } from "../state/store.js";
import { SiteActivity } from "./site-activity.js";

/**
 * Site-wide figures learned over minutes (site-activity.test.ts judges against the priors
 * only): a baseline is trusted from `minSamples` minutes on, a minute with an anomaly in force
 * is not learned, and a store that fails leaves the priors or the last baseline in charge.
 * Event time only: each minute is flushed once, 59.9 s into it.
 */

/** Priors of 60 ± 30 logins a minute; a baseline is trusted after three minutes (the schema's learning rate, 0.05). */
const PRIORS = { attemptsPerMinute: 60, attemptsPerMinuteStddev: 30, failureRatio: 0.15, failureRatioStddev: 0.1 };
const ANOMALY = { zScore: 3, priors: PRIORS, minAttemptsPerMinute: 20, minSamples: 3, weight: 10, cohortWeight: 35 };
const LOGIN = { name: "login", match: { methods: ["POST"], path: "/login" }, authentication: true, identity: { username: { jsonPointer: "/username" } } };
const policy = policyFrom({ apiVersion: "palisade.dev/v1alpha1", kind: "Policy", metadata: { name: "learning", version: "l1" }, spec: { endpoints: [LOGIN], signals: { siteAnomaly: ANOMALY } } });
const login = policy.endpoints[0]!;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const request: NormalisedRequest = { method: "POST", path: "/login", query: "", host: "", headers: new Map(), headerShape: "s", timeMs: T0, anomalies: [], endpoint: "login" };

/** One minute of logins, a tenth failing, merged `atMs` into minute `m`. */
async function minute(site: SiteActivity, m: number, attempts: number, atMs = 59_900): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    site.recordAttempt("login", "s");
    site.recordOutcome("login", i % 10 === 0, "s");
  }
  await site.maybeFlush(policy, T0 + m * 60_000 + atMs);
}
const rate = (site: SiteActivity) => site.signalsFor(request, login, policy.signals, []).find((s) => s.code === "site.attempt_rate");

describe("site activity: learned baselines", () => {
  it("judges against the learned baseline from minSamples minutes on, and against the priors before", async () => {
    const trusted = new SiteActivity(new MemoryStore());
    await minute(trusted, 0, 100);
    await minute(trusted, 1, 100);
    await minute(trusted, 2, 140);
    // 140 logins a minute is under the priors' 150 but well over a steady 100's baseline.
    const found = rate(trusted);
    expect(found).toMatchObject({ fired: true, detail: "login, threshold from baseline" });
    expect(found!.threshold).toBeGreaterThan(130);
    expect(found!.threshold).toBeLessThan(135);
    const early = new SiteActivity(new MemoryStore());
    await minute(early, 0, 100);
    await minute(early, 1, 140);
    expect(rate(early)).toBeUndefined();
  });

  it("learns nothing while an anomaly is in force: the threshold stays where the attack found it", async () => {
    const site = new SiteActivity(new MemoryStore());
    for (const m of [0, 1, 2]) await minute(site, m, 100);
    await minute(site, 3, 1_000, 30_000);
    const first = rate(site);
    expect(first?.fired).toBe(true);
    await minute(site, 4, 1_000, 30_000);
    await minute(site, 5, 1_000, 30_000);
    expect(rate(site)?.threshold).toBe(first!.threshold);
  });

  it("keeps the priors when the baseline cannot be read, and calls nothing when the counts cannot be merged", async () => {
    const store = new MemoryStore();
    store.observeBaseline = () => Promise.reject(new Error("store down"));
    const unread = new SiteActivity(store);
    for (const m of [0, 1, 2]) await minute(unread, m, 100);
    await minute(unread, 3, 200);
    expect(rate(unread)).toMatchObject({ fired: true, threshold: 150, detail: "login, threshold from prior" });
    const down = new MemoryStore();
    down.apply = (() => Promise.reject(new Error("store down"))) as Store["apply"];
    const unmerged = new SiteActivity(down);
    await minute(unmerged, 0, 1_000);
    expect(unmerged.signalsFor(request, login, policy.signals, [])).toEqual([]);
  });
});
