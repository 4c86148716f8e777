/**
 * The example policy's `campaign-unproven-login` rule on the reasons a login can carry: what a
 * first sign-in during a campaign gets with and without a page shown in its session, and when
 * the page stops counting (first logins after pages faster than shoppers make them).
 */
import { describe, expect, it } from "vitest";
import type { Signal } from "../../src/detection/signal.js";
import type { NormalisedRequest } from "../../src/domain/request.js";
import { decide } from "../../src/pipeline/decide.js";
import { examplePolicy } from "../support/policies.js";

const policy = examplePolicy();
const login = policy.endpoints.find((e) => e.name === "login")!;
const request: NormalisedRequest = { method: "POST", path: "/api/v1/login", query: "", host: "", headers: new Map(), headerShape: "", timeMs: 0, anomalies: [] };

/** The action and rule for a login carrying these reasons (each fired, with the weights the example gives the weighted ones). */
function answer(codes: string[]): [string, string | undefined] {
  const weights: Record<string, number> = { "username.never_succeeded": 10, "site.failure_ratio": 10, "account.new_device": 15, "account.new_subnet": 10 };
  const signals: Signal[] = codes.map((code) => ({ code, value: 1, weight: weights[code] ?? 0, fired: true }));
  const { decision } = decide({ policy, request, endpoint: login, signals, standing: undefined, degraded: false });
  return [decision.action, decision.rule];
}

const campaign = ["site.failure_ratio", "site.campaign"];

describe("campaign-unproven-login (examples/policy.yaml)", () => {
  it("asks a first sign-in during a campaign for a second factor when its session was shown no page", () => {
    expect(answer([...campaign, "username.never_succeeded"])).toEqual(["step_up", "campaign-unproven-login"]);
  });

  it("lets a first sign-in in when its session was shown a product page before the form", () => {
    expect(answer([...campaign, "username.never_succeeded", "session.page_shown"])).toEqual(["allow", undefined]);
  });

  it("asks again once first sign-ins after pages come faster than shoppers make them", () => {
    expect(answer([...campaign, "username.never_succeeded", "session.page_shown", "site.shown_first_logins"])).toEqual(["step_up", "campaign-unproven-login"]);
  });

  it("never lets a page stand in for an account's own history: a new device on a new network is asked, page or not", () => {
    // unfamiliar-login matches too (risk 35), and comes first; either asks for the second factor.
    expect(answer([...campaign, "account.new_device", "account.new_subnet", "session.page_shown"])[0]).toBe("step_up");
  });

  it("says nothing outside a campaign", () => {
    expect(answer(["username.never_succeeded"])).toEqual(["allow", undefined]);
  });
});
