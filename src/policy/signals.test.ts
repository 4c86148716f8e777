import { describe, expect, it } from "vitest";
import type { CompiledProbing } from "./probes.js";
import { policySchema, type SignalsSpec } from "./schema.js";
import { compileSignals } from "./signals.js";

/**
 * `spec.signals` as the detectors read it: every window, retention and gap in milliseconds,
 * absent blocks still absent (off), and every other setting as written.
 */

function signals(block: Record<string, unknown>): SignalsSpec {
  return policySchema.parse({ apiVersion: "palisade.dev/v1alpha1", kind: "Policy", metadata: { name: "signals" }, spec: { signals: block } }).spec.signals;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe("compileSignals", () => {
  it("leaves every block off when the policy names none", () => {
    const compiled = compileSignals(signals({}));
    expect(Object.entries(compiled).filter(([, value]) => value !== undefined)).toEqual([]);
  });

  it("converts the windows of the login signals, each block its own", () => {
    const compiled = compileSignals(
      signals({
        failures: { window: "1m", ip: { threshold: 5, weight: 11 }, username: { threshold: 6 } },
        failureRatio: { window: "2m", minAttempts: 7, threshold: 0.5, weight: 12 },
        distinctUsernames: { window: "3m", subnet: { threshold: 8, weight: 13 } },
        distinctIps: { window: "4m", username: { threshold: 9, weight: 14 } },
        spraying: { window: "5m", threshold: 10, weight: 15 },
        enumeration: { window: "6m", threshold: 11, weight: 16 },
        tokenReplay: { window: "7m", threshold: 12, weight: 17 },
        sequence: { window: "8m", weight: 18 },
        slowStuffing: { window: "9m", minUsernames: 3, minFailures: 2, weight: 19 },
      }),
    );
    expect(compiled).toMatchObject({
      failures: { windowMs: 1 * MIN, ip: { threshold: 5, weight: 11 }, username: { threshold: 6, weight: 30 } },
      failureRatio: { windowMs: 2 * MIN, minAttempts: 7, threshold: 0.5, weight: 12 },
      distinctUsernames: { windowMs: 3 * MIN, subnet: { threshold: 8, weight: 13 } },
      distinctIps: { windowMs: 4 * MIN, username: { threshold: 9, weight: 14 } },
      spraying: { windowMs: 5 * MIN, threshold: 10, weight: 15 },
      enumeration: { windowMs: 6 * MIN, threshold: 11, weight: 16 },
      tokenReplay: { windowMs: 7 * MIN, threshold: 12, weight: 17 },
      sequence: { windowMs: 8 * MIN, weight: 18 },
      slowStuffing: { windowMs: 9 * MIN, minUsernames: 3, minFailures: 2, weight: 19 },
    });
    for (const block of ["failures", "failureRatio", "distinctUsernames", "distinctIps", "spraying", "enumeration", "tokenReplay", "sequence", "slowStuffing"] as const) {
      expect(compiled[block], block).not.toHaveProperty("window");
    }
  });

  it("binds tokens with every window and the retention in milliseconds", () => {
    const { tokenBinding } = compileSignals(
      signals({
        tokenBinding: {
          companionCookies: ["device"],
          newDevice: 21,
          companionChanged: 22,
          companionMissing: 23,
          alternation: { window: "2m", weight: 24 },
          churn: { window: "3m", maxNetworks: 4, weight: 25 },
          rate: { window: "4m", max: 6, weight: 26 },
          handoff: { window: "30s", weight: 27 },
          retention: "2d",
        },
      }),
    );
    expect(tokenBinding).toEqual({
      companionCookies: ["device"],
      newDevice: 21,
      companionChanged: 22,
      companionMissing: 23,
      alternation: { windowMs: 2 * MIN, weight: 24, rememberMs: 2 * MIN },
      churn: { windowMs: 3 * MIN, maxNetworks: 4, weight: 25 },
      rate: { windowMs: 4 * MIN, max: 6, weight: 26 },
      handoff: { windowMs: 30_000, weight: 27 },
      retentionMs: 2 * DAY,
    });
  });

  it("remembers two networks taking turns with a token for `remember`, and never for less than the window", () => {
    const alternation = (spec: { window: string; remember?: string }) => compileSignals(signals({ tokenBinding: { alternation: spec } })).tokenBinding?.alternation;
    expect(alternation({ window: "10m", remember: "30d" })).toEqual({ windowMs: 10 * MIN, weight: 60, rememberMs: 30 * DAY });
    expect(alternation({ window: "10m", remember: "1m" })).toEqual({ windowMs: 10 * MIN, weight: 60, rememberMs: 10 * MIN });
    expect(alternation({ window: "10m" })).toEqual({ windowMs: 10 * MIN, weight: 60, rememberMs: 10 * MIN });
  });

  it("leaves the token hand-off check off unless it is configured", () => {
    const { tokenBinding } = compileSignals(signals({ tokenBinding: {} }));
    expect(tokenBinding).toEqual({
      companionCookies: [],
      newDevice: 60,
      companionChanged: 60,
      alternation: { windowMs: 5 * MIN, weight: 60, rememberMs: 5 * MIN },
      churn: { windowMs: 10 * MIN, maxNetworks: 3, weight: 60 },
      rate: { windowMs: 5 * MIN, max: 4, weight: 60 },
      handoff: undefined,
      retentionMs: 30 * DAY,
    });
  });

  it("converts the cohorts' window and the catalogue walk's reach", () => {
    expect(compileSignals(signals({ cohorts: { window: "2m", sessionCookies: ["sid"], minMembers: 4 } })).cohorts).toEqual({
      windowMs: 2 * MIN,
      sessionCookies: ["sid"],
      minMembers: 4,
      browserWithoutSession: 40,
    });
    expect(
      compileSignals(signals({ cohorts: { sessionCookies: ["sid"], sessionReads: { window: "20m", threshold: 3, weight: 41, cohortWeight: 42, cohortShare: 0.6 } } })).cohorts,
    ).toEqual({
      windowMs: 10 * MIN,
      sessionCookies: ["sid"],
      minMembers: 5,
      browserWithoutSession: 40,
      sessionReads: { windowMs: 20 * MIN, threshold: 3, weight: 41, cohortWeight: 42, cohortShare: 0.6 },
    });
    const walking = compileSignals(
      signals({
        cohorts: { sessionCookies: ["sid"], catalogueWalk: { maxStep: 2, within: "15s", minRun: 6, weight: 33 }, sessionAccounts: { threshold: 2 }, sessionReads: {} },
      }),
    ).cohorts;
    expect(walking).toEqual({
      windowMs: 10 * MIN,
      sessionCookies: ["sid"],
      minMembers: 5,
      browserWithoutSession: 40,
      sessionAccounts: { threshold: 2, weight: 30 },
      sessionReads: { windowMs: HOUR, threshold: 1, weight: 40, cohortWeight: 40, cohortShare: 0.5 },
      catalogueWalk: { maxStep: 2, withinMs: 15_000, minRun: 6, weight: 33 },
    });
  });

  it("converts the scraping window and the regularity's shortest gap", () => {
    const { scraping } = compileSignals(
      signals({
        scraping: {
          window: "3m",
          distinctResources: { ip: { threshold: 50, weight: 30 } },
          sequentialIds: { threshold: 10 },
          regularity: { minRequests: 8, maxVariation: 0.2, minGap: "400ms", weight: 26 },
        },
      }),
    );
    expect(scraping).toEqual({
      windowMs: 3 * MIN,
      distinctResources: { ip: { threshold: 50, weight: 30 } },
      sequentialIds: { threshold: 10, maxStep: 3, weight: 35 },
      regularity: { minRequests: 8, maxVariation: 0.2, minGapMs: 400, weight: 26 },
    });
    expect(compileSignals(signals({ scraping: {} })).scraping).toEqual({ windowMs: 10 * MIN, distinctResources: {}, regularity: undefined });
  });

  it("keeps the shared-address and account-history settings, with their durations converted", () => {
    const compiled = compileSignals(
      signals({
        failureRatio: {},
        sharedAddress: { window: "5m", cookies: ["sid"], minClients: 3, logins: { minSignedIn: 4, maxFailureRatio: 0.2 } },
        accountHistory: { retention: "90d", maxPerAccount: 7, newFingerprint: 1, newSubnet: 2, newCountry: 3 },
      }),
    );
    expect(compiled.sharedAddress).toEqual({ windowMs: 5 * MIN, cookies: ["sid"], minClients: 3, logins: { minSignedIn: 4, maxFailureRatio: 0.2 } });
    expect(compiled.accountHistory).toEqual({ retentionMs: 90 * DAY, maxPerAccount: 7, newFingerprint: 1, newSubnet: 2, newCountry: 3, deviceCookies: [], newDevice: 15 });
  });

  it("converts the impossible-travel retention and keeps the rest of geo", () => {
    expect(compileSignals(signals({ geo: { countryHeader: "CF-IPCountry", impossibleTravel: { retention: "10d", action: "none" } } })).geo).toEqual({
      countryHeader: "cf-ipcountry",
      impossibleTravel: { maxSpeedKmh: 900, minDistanceKm: 300, retention: "10d", retentionMs: 10 * DAY, weight: 20, action: "none" },
    });
    expect(compileSignals(signals({ geo: { hosting: { weight: 5 } } })).geo).toEqual({
      countryHeader: "x-geo-country",
      hosting: { weight: 5 },
      impossibleTravel: undefined,
    });
  });

  it("passes the blocks without durations through as written", () => {
    const compiled = compileSignals(
      signals({ newUsername: { weight: 9 }, breachedPassword: {}, automation: { tlsBrowserFingerprints: ["t13d"] }, siteAnomaly: { zScore: 4 } }),
    );
    expect(compiled.newUsername).toEqual({ weight: 9 });
    expect(compiled.breachedPassword).toEqual({ weight: 20 });
    expect(compiled.automation).toEqual({ weight: 20, libraryWeight: 30, tlsBrowserFingerprints: ["t13d"] });
    expect(compiled.siteAnomaly).toMatchObject({ zScore: 4, minSamples: 30 });
  });

  it("takes the probing block compiled, in place of the policy's text", () => {
    const probing: CompiledProbing = { windowMs: 1_000, lists: [] };
    expect(compileSignals(signals({ probing: { window: "1s" } }), probing).probing).toBe(probing);
    expect(compileSignals(signals({ probing: { window: "1s" } })).probing).toBeUndefined();
  });
});
