import { describe, expect, it } from "vitest";
import { minimalPolicy } from "../../test/support/policies.js";
import { parseAddress } from "../domain/client-address.js";
import type { NormalisedRequest } from "../domain/request.js";
import { classifyBot } from "./bots.js";
import { standingOf } from "./standing.js";

/** Who a client is before what it does: reputation lists and allowed bots, under a small policy. */

const policy = minimalPolicy({
  bots: {
    allowed: [{ name: "googlebot", category: "search-engine", userAgent: "Googlebot/", cidrs: ["66.249.64.0/19"] }],
    impersonationWeight: 60,
  },
  reputation: {
    lists: [
      { name: "blocked", effect: "block", cidrs: ["198.51.100.0/24"] },
      { name: "partners", effect: "allow", cidrs: ["203.0.113.0/28", "198.51.100.7/32"] },
      { name: "watch", effect: "label", weight: 15, cidrs: ["192.0.2.0/24", "66.249.64.9/32"] },
    ],
  },
});

const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const request = (userAgent?: string): NormalisedRequest => ({
  method: "GET", path: "/", query: "", host: "", headers: new Map(userAgent ? [["user-agent", userAgent]] : []), headerShape: "s", timeMs: 0, anomalies: [],
});
const standing = (ip: string, userAgent?: string) => standingOf(request(userAgent), parseAddress(ip), policy);

describe("standing", () => {
  it("blocks a deny-listed address, even when an allow-list names it too, with a reason for each list", () => {
    expect(standing("198.51.100.7")).toEqual({
      standing: { effect: "block", rule: "list:blocked" },
      signals: [
        { code: "ip.denylisted", value: 1, weight: 100, fired: true, detail: "blocked" },
        { code: "ip.allowlisted", value: 1, weight: 0, fired: true, detail: "partners" },
      ],
    });
  });

  it("allows an allow-listed address, and gives a labelling list its weight and no standing", () => {
    expect(standing("203.0.113.2").standing).toEqual({ effect: "allow", rule: "list:partners" });
    expect(standing("192.0.2.5")).toEqual({ standing: undefined, signals: [{ code: "ip.list.watch", value: 1, weight: 15, fired: true, detail: "watch" }] });
    expect(standing("100.64.0.1")).toEqual({ standing: undefined, signals: [] });
  });

  it("allows a bot whose address proves its user agent, unless the address is deny-listed", () => {
    expect(standing("66.249.64.9", GOOGLEBOT)).toEqual({
      standing: { effect: "allow", rule: "bot:googlebot" },
      signals: [
        { code: "ip.list.watch", value: 1, weight: 15, fired: true, detail: "watch" },
        { code: "bot.allowed", value: 1, weight: 0, fired: true, detail: "search-engine" },
      ],
    });
    const deniedBotPolicy = minimalPolicy({
      bots: { allowed: [{ name: "googlebot", category: "search-engine", userAgent: "Googlebot/", cidrs: ["66.249.64.0/19"] }], impersonationWeight: 60 },
      reputation: { lists: [{ name: "blocked", effect: "block", cidrs: ["66.249.64.0/24"] }] },
    });
    expect(standingOf(request(GOOGLEBOT), parseAddress("66.249.64.9"), deniedBotPolicy).standing).toEqual({ effect: "block", rule: "list:blocked" });
  });

  it("gives an impersonator of an allowed bot a signal and no standing", () => {
    expect(standing("100.64.0.1", GOOGLEBOT)).toEqual({
      standing: undefined,
      signals: [{ code: "bot.impersonation", value: 1, weight: 60, fired: true, detail: "claims to be googlebot" }],
    });
    // Without an address the claim cannot be proved either.
    expect(classifyBot(request(GOOGLEBOT), undefined, policy)).toMatchObject({ kind: "impersonation" });
    expect(classifyBot(request("Mozilla/5.0 Firefox/128.0"), parseAddress("66.249.64.9"), policy)).toBeUndefined();
    expect(classifyBot(request(), parseAddress("66.249.64.9"), policy)).toBeUndefined();
  });
});
