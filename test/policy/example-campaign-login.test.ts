/**
 * The example policy's `campaign-login-challenge` and `campaign-unproven-login` rules on the
 * reasons a login can carry: what a first sign-in during a campaign gets with and without a page
 * shown in its session, when the page stops counting (first logins after pages faster than
 * shoppers make them), and what a login that passed the challenge meets next.
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

describe("campaign-login-challenge and campaign-unproven-login (examples/policy.yaml)", () => {
  it("challenges a first sign-in during a campaign when its session was shown no page, before the password is checked", () => {
    expect(answer([...campaign, "username.never_succeeded"])).toEqual(["challenge", "campaign-login-challenge"]);
  });

  it("challenges the same logins from the campaign's first seconds (the early call), not only once the merged figures call it", () => {
    expect(answer(["site.campaign_early", "username.never_succeeded"])).toEqual(["challenge", "campaign-login-challenge"]);
    expect(answer(["site.campaign_early", "username.never_succeeded", "challenge.passed"])).toEqual(["step_up", "campaign-unproven-login"]);
    expect(answer(["site.campaign_early", "username.never_succeeded", "session.page_shown"])).toEqual(["allow", undefined]);
  });

  it("asks the login that comes back with the challenge's pass for a second factor: solving it never lets a password alone in", () => {
    expect(answer([...campaign, "username.never_succeeded", "challenge.passed"])).toEqual(["step_up", "campaign-unproven-login"]);
    expect(answer([...campaign, "username.never_succeeded", "relief.challenge"])).toEqual(["step_up", "campaign-unproven-login"]);
  });

  it("lets a first sign-in in when its session was shown a product page before the form", () => {
    expect(answer([...campaign, "username.never_succeeded", "session.page_shown"])).toEqual(["allow", undefined]);
  });

  it("challenges again once first sign-ins after pages come faster than shoppers make them", () => {
    expect(answer([...campaign, "username.never_succeeded", "session.page_shown", "site.shown_first_logins"])).toEqual(["challenge", "campaign-login-challenge"]);
  });

  it("never lets a page stand in for an account's own history: a new device on a new network is challenged, page or not, then asked", () => {
    expect(answer([...campaign, "account.new_device", "account.new_subnet", "session.page_shown"])).toEqual(["challenge", "campaign-login-challenge"]);
    // With the pass, unfamiliar-login matches too (risk 35) and comes first; either asks for the second factor.
    expect(answer([...campaign, "account.new_device", "account.new_subnet", "session.page_shown", "challenge.passed"])[0]).toBe("step_up");
  });

  it("leaves a device the account signed in with alone, and a login whose owner passed MFA", () => {
    expect(answer([...campaign, "account.known_device", "account.new_subnet"])).toEqual(["allow", undefined]);
    expect(answer([...campaign, "username.never_succeeded", "relief.mfa"])[1]).not.toBe("campaign-login-challenge");
  });

  it("says nothing outside a campaign", () => {
    expect(answer(["username.never_succeeded"])).toEqual(["allow", undefined]);
  });
});
