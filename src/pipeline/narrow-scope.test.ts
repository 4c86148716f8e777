import { describe, expect, it } from "vitest";
import { minimalPolicy } from "../../test/support/policies.js";
import type { Signal } from "../detection/signal.js";
import type { NormalisedRequest } from "../domain/request.js";
import { decide } from "./decide.js";

const request: NormalisedRequest = { method: "POST", path: "/oauth/token", query: "", host: "", headers: new Map(), headerShape: "", timeMs: 0, anomalies: [], ipId: "ip-1", sessionId: "token-1" };

/** The example's two rules that both quarantine a flagged refresh: the address one is declared first. */
const policy = minimalPolicy({
  rules: [
    { id: "login-high-risk", when: "risk >= 80", action: "quarantine", scope: "ip", retryAfter: "15m" },
    { id: "token-two-networks", when: '"session.handoff" in reasons', action: "quarantine", scope: "session", retryAfter: "30m" },
  ],
});

const signal = (code: string, weight: number, value = 1): Signal => ({ code, value, weight, fired: true });
const handoff = [signal("session.handoff", 60), signal("session.concurrent_networks", 60)];
const crowd = signal("ip.shared_by", 0, 12);

function decided(signals: Signal[], on: Partial<NormalisedRequest> = {}) {
  return decide({ policy, request: { ...request, ...on }, endpoint: undefined, signals, standing: undefined, degraded: false }).decision;
}

describe("a quarantine aimed at the client whose evidence it is, not at its address", () => {
  it("aims a token's flags at the token, for as long as the token's own rule holds it: its owner's home address is not held", () => {
    const decision = decided(handoff);
    expect(decision).toMatchObject({ action: "quarantine", rule: "token-two-networks", scope: "session", retryAfterSeconds: 1800 });
    expect(decision.reasons).toContainEqual(expect.objectContaining({ code: "scope.narrowed", weight: 0, detail: "login-high-risk's ip quarantine narrowed to the session: evidence about the token only" }));
  });

  it("narrows the address rule itself when no rule aims at the session", () => {
    const decision = decided([signal("session.use_rate", 60), signal("session.network_churn", 60)]);
    expect(decision).toMatchObject({ action: "quarantine", rule: "login-high-risk", scope: "session", retryAfterSeconds: 900 });
  });

  it("denies a flagged token with no session alone: there is nothing narrower to hold", () => {
    const decision = decided(handoff, { sessionId: undefined });
    expect(decision.scope).toBe("session");
    expect(decision.reasons).toContainEqual(expect.objectContaining({ code: "scope.narrowed", detail: "login-high-risk's ip quarantine narrowed to this request alone (no session to hold): evidence about the token only" }));
  });

  it("keeps the address for one client's other evidence behind a crowd: a crowd is cheap to fake with invented cookies", () => {
    const decision = decided([crowd, signal("account.new_device", 40), signal("client.library", 50)]);
    expect(decision.scope).toBe("ip");
    expect(decision.reasons.map((r) => r.code)).not.toContain("scope.narrowed");
  });

  it("keeps the address when the address itself is part of the evidence, shared or not", () => {
    expect(decided([crowd, ...handoff, signal("login.failure_ratio.ip", 30)]).scope).toBe("ip");
    expect(decided([crowd, signal("ip.slow_stuffing", 50), signal("client.library", 40)]).scope).toBe("ip");
  });

  it("keeps the address of one client's evidence when nobody else is behind it", () => {
    const decision = decided([signal("account.new_device", 40), signal("client.library", 50)]);
    expect(decision.scope).toBe("ip");
    expect(decision.reasons.map((r) => r.code)).not.toContain("scope.narrowed");
  });

  it("narrows quarantines only: other actions keep the scope they act on", () => {
    const challenge = minimalPolicy({ rules: [{ id: "ask", when: "risk >= 80", action: "challenge", scope: "ip" }] });
    const decision = decide({ policy: challenge, request, endpoint: undefined, signals: handoff, standing: undefined, degraded: false }).decision;
    expect(decision.scope).toBe("ip");
  });
});
