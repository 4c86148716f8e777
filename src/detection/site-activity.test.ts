import { describe, expect, it } from "vitest";
import { policyFrom } from "../../test/support/policies.js";
import type { NormalisedRequest } from "../domain/request.js";
import { MemoryStore } from "../state/memory-store.js";
import type { Signal } from "./signal.js";
import { SiteActivity } from "./site-activity.js";

/**
 * Site-wide anomalies on a fresh service (priors only, no baseline yet): a minute with far more
 * login attempts and failures than the priors allow is anomalous, and requests that look like
 * the failing traffic join its cohort while people who browsed the site stay out.
 */

const ANOMALY = {
  zScore: 3,
  priors: { attemptsPerMinute: 60, attemptsPerMinuteStddev: 30, failureRatio: 0.15, failureRatioStddev: 0.1 },
  minAttemptsPerMinute: 20,
  weight: 10,
  cohortWeight: 35,
};

const policy = policyFrom({
  apiVersion: "palisade.dev/v1alpha1",
  kind: "Policy",
  metadata: { name: "site", version: "s1" },
  spec: {
    endpoints: [
      { name: "login", match: { methods: ["POST"], path: "/login" }, authentication: true, identity: { username: { jsonPointer: "/username" } } },
      { name: "product", match: { methods: ["GET"], path: "/products/{id}" }, resource: { param: "id" } },
    ],
    signals: {
      siteAnomaly: ANOMALY,
      scraping: { siteAnomaly: { ...ANOMALY, weight: 0, cohortWeight: 40 } },
      cohorts: { sessionCookies: ["sid"] },
    },
  },
});
const login = policy.endpoints.find((e) => e.name === "login")!;
const product = policy.endpoints.find((e) => e.name === "product")!;

/** A minute boundary, and ten seconds into that minute. */
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const NOW = T0 + 10_000;

function request(endpoint: string, headerShape: string, headers: Record<string, string> = {}): NormalisedRequest {
  return { method: "POST", path: "/", query: "", host: "", headers: new Map(Object.entries(headers)), headerShape, timeMs: NOW, anomalies: [], endpoint };
}

/** A store that counts its calls. */
function countingStore() {
  const store = new MemoryStore();
  const apply = store.apply.bind(store);
  const calls = { apply: 0 };
  store.apply = (...args) => (calls.apply++, apply(...args));
  return { store, calls };
}

async function stuffedMinute() {
  const { store, calls } = countingStore();
  const site = new SiteActivity(store);
  // 200 attempts in one header shape, 180 of them failing; 20 from people, one mistyped.
  for (let i = 0; i < 200; i++) site.recordAttempt("login", "stuffer");
  for (let i = 0; i < 180; i++) site.recordOutcome("login", true, "stuffer");
  for (let i = 0; i < 20; i++) site.recordAttempt("login", "people");
  site.recordOutcome("login", true, "people");
  site.recordOutcome("login", false, "people");
  await site.maybeFlush(policy, NOW);
  return { site, calls };
}

const codes = (signals: Signal[]) => signals.map((s) => s.code);

describe("site activity", () => {
  it("calls a minute anomalous against the priors: mean plus z standard deviations, for rate and failure ratio", async () => {
    const { site } = await stuffedMinute();
    const found = site.signalsFor(request("login", "people"), login, policy.signals, []);
    expect(found).toEqual([
      { code: "site.attempt_rate", value: 220, threshold: 150, weight: 10, fired: true, detail: "login, threshold from prior" },
      { code: "site.failure_ratio", value: 0.823, threshold: 0.45, weight: 10, fired: true, detail: "login, threshold from prior" },
    ]);
  });

  it("puts the failing header shape in the cohort, and a client that browsed the site with its cookie out of it", async () => {
    const { site } = await stuffedMinute();
    expect(codes(site.signalsFor(request("login", "stuffer"), login, policy.signals, []))).toContain("cohort.anomalous");
    expect(site.signalsFor(request("login", "stuffer"), login, policy.signals, []).at(-1)).toEqual({
      code: "cohort.anomalous", value: 1, weight: 35, fired: true, detail: "looks like the anomalous traffic",
    });
    const browsed: Signal = { code: "sequence.no_page_view", value: 2, threshold: 1, weight: 15, fired: false };
    expect(codes(site.signalsFor(request("login", "stuffer", { cookie: "sid=abc" }), login, policy.signals, [browsed]))).not.toContain("cohort.anomalous");
    // The cookie alone, or pages alone, is not enough to be counted as a person who browsed.
    expect(codes(site.signalsFor(request("login", "stuffer", { cookie: "other=1" }), login, policy.signals, [browsed]))).toContain("cohort.anomalous");
    expect(codes(site.signalsFor(request("login", "stuffer", { cookie: "sid=abc" }), login, policy.signals, [{ ...browsed, value: 0 }]))).toContain("cohort.anomalous");
    // Automation is in the cohort whatever its shape.
    const automation: Signal = { code: "client.automation", value: 1, weight: 25, fired: true };
    expect(codes(site.signalsFor(request("login", "people"), login, policy.signals, [automation]))).toContain("cohort.anomalous");
    expect(codes(site.signalsFor(request("login", "people"), login, policy.signals, []))).not.toContain("cohort.anomalous");
  });

  it("calls nothing before the first merge, below the minimum volume, or on an endpoint without the signal", async () => {
    const fresh = new SiteActivity(new MemoryStore());
    for (let i = 0; i < 19; i++) {
      fresh.recordAttempt("login", "s");
      fresh.recordOutcome("login", true, "s");
    }
    expect(fresh.signalsFor(request("login", "s"), login, policy.signals, [])).toEqual([]);
    await fresh.maybeFlush(policy, NOW);
    expect(fresh.signalsFor(request("login", "s"), login, policy.signals, [])).toEqual([]);
    const { site } = await stuffedMinute();
    expect(site.signalsFor(request("login", "stuffer"), login, {}, [])).toEqual([]);
  });

  it("merges into the store at most once a second of event time", async () => {
    const { site, calls } = await stuffedMinute();
    const after = calls.apply;
    expect(after).toBeGreaterThan(0);
    await site.maybeFlush(policy, NOW + 999);
    expect(calls.apply).toBe(after);
    await site.maybeFlush(policy, NOW + 1_000);
    expect(calls.apply).toBeGreaterThan(after);
    // A policy without either anomaly signal never merges.
    const { store, calls: none } = countingStore();
    const quiet = new SiteActivity(store);
    quiet.recordAttempt("login", "s");
    await quiet.maybeFlush({ ...policy, signals: {} }, NOW);
    expect(none.apply).toBe(0);
  });

  it("on the catalogue, puts browsers that never loaded a page in the cohort, and not the storefront's apps", async () => {
    const site = new SiteActivity(new MemoryStore());
    for (let i = 0; i < 300; i++) site.recordAttempt("product", "s");
    await site.maybeFlush(policy, NOW);
    const browser = { "user-agent": "Mozilla/5.0 Firefox/128.0" };
    const noPages: Signal = { code: "ip.page_views", value: 0, weight: 0, fired: false };
    const found = site.signalsFor(request("product", "s", browser), product, policy.signals, [noPages]);
    expect(found).toEqual([
      { code: "site.attempt_rate", value: 300, threshold: 150, weight: 0, fired: true, detail: "product, threshold from prior" },
      { code: "cohort.anomalous", value: 1, weight: 40, fired: true, detail: "looks like the anomalous traffic" },
    ]);
    expect(codes(site.signalsFor(request("product", "s", browser), product, policy.signals, [{ ...noPages, value: 3 }]))).not.toContain("cohort.anomalous");
    expect(codes(site.signalsFor(request("product", "s", { "user-agent": "ShopApp/5.1" }), product, policy.signals, [noPages]))).not.toContain("cohort.anomalous");
    expect(codes(site.signalsFor(request("product", "s"), product, policy.signals, [{ code: "client.library", value: 1, weight: 30, fired: true }]))).toContain("cohort.anomalous");
  });
});
