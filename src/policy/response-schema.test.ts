import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { minimalPolicyDocument, policyIssues } from "../../test/support/policies.js";
import { parsePolicyText } from "./loader.js";

/**
 * `spec.response` and a rule's adaptive `limit` as the response engine reads them: every
 * duration in milliseconds, each one in its own field.
 */

const compile = (spec: Record<string, unknown>) => parsePolicyText(stringify(minimalPolicyDocument(spec)), "p.yaml");

const issuesOf = (spec: Record<string, unknown>) => policyIssues(() => compile(spec));

describe("compileResponse", () => {
  it("applies the documented defaults", () => {
    expect(compile({}).response).toEqual({
      quarantine: { durationMs: 15 * 60_000, escalation: { factor: 2, maxMs: 24 * 3_600_000, memoryMs: 7 * 86_400_000 } },
      friction: { reliefMs: 30 * 60_000 },
      audit: { maxAgeMs: 30 * 86_400_000, maxEntries: 100_000 },
      decisions: { retentionMs: 7 * 86_400_000, perMinute: 500 },
      overrides: { maxDurationMs: 30 * 86_400_000 },
      history: { versions: 10 },
    });
  });

  it("puts each configured duration in its own field", () => {
    const response = compile({
      response: {
        quarantine: { duration: "1m", escalation: { factor: 3, max: "2h", memory: "3d" } },
        friction: { relief: "4m" },
        audit: { retention: "5d", maxEntries: 600 },
        decisions: { retention: "6h", perMinute: 70 },
        overrides: { maxDuration: "8h" },
        history: { versions: 9 },
      },
    }).response;
    expect(response).toEqual({
      quarantine: { durationMs: 60_000, escalation: { factor: 3, maxMs: 7_200_000, memoryMs: 3 * 86_400_000 } },
      friction: { reliefMs: 240_000 },
      audit: { maxAgeMs: 5 * 86_400_000, maxEntries: 600 },
      decisions: { retentionMs: 6 * 3_600_000, perMinute: 70 },
      overrides: { maxDurationMs: 8 * 3_600_000 },
      history: { versions: 9 },
    });
  });

  it("keeps the defaults of the parts a partial block leaves out", () => {
    const response = compile({ response: { quarantine: { escalation: { factor: 1.5 } } } }).response;
    expect(response.quarantine).toEqual({ durationMs: 15 * 60_000, escalation: { factor: 1.5, maxMs: 24 * 3_600_000, memoryMs: 7 * 86_400_000 } });
  });
});

describe("compileLimit", () => {
  const rule = (limit: Record<string, unknown>) => ({ rules: [{ id: "adaptive", when: "risk > 10", action: "throttle", limit }] });

  it("turns the window into milliseconds and keeps requests and floor", () => {
    expect(compile(rule({ requests: 100, window: "2m", floor: 5 })).rules[0]!.limit).toEqual({ requests: 100, windowMs: 120_000, floor: 5 });
  });

  it("defaults to a one-minute window and a floor of one request", () => {
    expect(compile(rule({ requests: 20 })).rules[0]!.limit).toEqual({ requests: 20, windowMs: 60_000, floor: 1 });
  });

  it("accepts a floor equal to requests (a fixed limit) and refuses one above it", () => {
    expect(compile(rule({ requests: 7, floor: 7 })).rules[0]!.limit?.floor).toBe(7);
    expect(issuesOf(rule({ requests: 7, floor: 8 }))).toEqual(["spec.rules[0].limit: floor must not exceed requests"]);
  });

  it("leaves a rule without a limit unlimited", () => {
    expect(compile({ rules: [{ id: "plain", when: "risk > 10", action: "block" }] }).rules[0]!.limit).toBeUndefined();
  });
});
