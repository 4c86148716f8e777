import { describe, expect, it } from "vitest";
import { minimalPolicy } from "../../test/support/policies.js";
import { decide } from "./decide.js";
import type { NormalisedRequest } from "../domain/request.js";

const request: NormalisedRequest = { method: "GET", path: "/", query: "", host: "", headers: new Map(), headerShape: "", timeMs: 0, anomalies: [] };

describe("the per-Check rule evaluation budget", () => {
  const policy = minimalPolicy({
    rules: [
      { id: "first", when: "risk >= 0", action: "challenge" },
      { id: "second", when: "risk >= 0", action: "block" },
      { id: "third", when: "risk >= 0", action: "block" },
    ],
  });

  it("stops evaluating past the budget: the rest count as not matching, and the decision says so", () => {
    let now = 0;
    let exceeded = 0;
    // Each reading of the clock advances it 15 ms: the first rule runs, the second finds the budget spent.
    const verdict = decide({
      policy,
      request,
      endpoint: undefined,
      signals: [],
      standing: undefined,
      degraded: false,
      ruleBudget: { now: () => (now += 15), ms: 20, onBudgetExceeded: () => exceeded++ },
    });
    expect(verdict.decision.action).toBe("challenge");
    expect(verdict.decision.reasons).toContainEqual({ code: "policy.evaluation_budget", value: 2, weight: 0 });
    expect(exceeded).toBe(1);
  });

  it("evaluates every rule within the budget", () => {
    const verdict = decide({ policy, request, endpoint: undefined, signals: [], standing: undefined, degraded: false, ruleBudget: { now: () => 0, ms: 20 } });
    expect(verdict.decision.action).toBe("block");
    expect(verdict.decision.reasons).toEqual([]);
  });
});
