import { describe, expect, it } from "vitest";
import { attackLabel } from "../lines.js";
import { ScenarioStats } from "./stats.js";
import type { Verdict } from "./target.js";

const login = (verdict: Verdict) => ({ scenario: "s", label: attackLabel("credential_stuffing"), path: "/api/v1/login", verdict, login: true });

describe("accounts taken over", () => {
  it("counts an attacker's successful login let through, not one asked for a second factor or denied", () => {
    const stats = new ScenarioStats("s");
    stats.outcome(login({ action: "allow", denied: false, subject: "u1" }), 200);
    stats.outcome(login({ action: "step_up", denied: false, subject: "u2" }), 200);
    stats.outcome(login({ action: "challenge", denied: true, subject: "u3" }), 200);
    stats.outcome(login({ action: "allow", denied: false, subject: "u4" }), 401);
    expect(stats.figures().accountsTakenOver).toBe(1);
  });
});
