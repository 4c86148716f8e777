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

describe("goal requests", () => {
  const goals = { login: new Set(["login"]), resource: new Set(["product"]) };
  const verdict = (endpoint: string, denied: boolean): Verdict => ({ action: denied ? "challenge" : "allow", denied, endpoint });

  it("counts an attack's logins and a scraper's catalogue reads apart from its cover traffic", () => {
    const stats = new ScenarioStats("s", goals);
    const stuffing = attackLabel("credential_stuffing");
    stats.check(stuffing, 0, verdict("static", false));
    stats.check(stuffing, 1, verdict("product", false));
    stats.check(stuffing, 2, verdict("login", true));
    stats.check(stuffing, 3, verdict("login", false));
    stats.check(attackLabel("scraping"), 4, verdict("product", true));
    stats.check(attackLabel("scraping"), 5, verdict("login", false));
    stats.check(attackLabel("vulnerability_scan"), 6, verdict("product", false));
    stats.check("legit", 7, verdict("login", true));
    const { attack } = stats.figures();
    expect(attack.mitigatedShare).toBe(2 / 7);
    expect(attack.goal).toEqual({ requests: 3, mitigated: 2, mitigatedShare: 2 / 3 });
  });

  it("has no share when no goal endpoints were told", () => {
    const stats = new ScenarioStats("s");
    stats.check(attackLabel("credential_stuffing"), 0, verdict("login", true));
    expect(stats.figures().attack.goal.mitigatedShare).toBeNull();
  });
});
