import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledSignals } from "../policy/signals.js";
import { noSessionSignal } from "./cohorts.js";
import type { Signal } from "./signal.js";

const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const signals: CompiledSignals = { cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid", "did"], minMembers: 5, browserWithoutSession: 40 } };

/** The sequence check of a login: how many pages the address loaded before it. */
const pages = (count: number): Signal => ({ code: "sequence.no_page_view", value: count, threshold: 1, weight: 15, fired: count < 1 });

function noSession(options: { userAgent?: string; cookie?: string; recorded?: string[]; related?: Signal[] }, settings = signals): boolean {
  const headers = new Map([["user-agent", options.userAgent ?? CHROME]]);
  if (options.cookie) headers.set("cookie", options.cookie);
  const request: NormalisedRequest = {
    method: "POST",
    path: "/api/v1/login",
    query: "",
    host: "",
    headers,
    headerShape: "s",
    timeMs: 0,
    anomalies: [],
    ipId: "ip-1",
    recordedHeaders: options.recorded ? new Set(options.recorded) : undefined,
  };
  const found = noSessionSignal(request, settings, options.related ?? []);
  return found.some((s) => s.code === "client.no_session" && s.fired && s.weight === 0);
}

describe("client.no_session on a login", () => {
  it("marks a browser that loaded no page and carries none of the site's cookies", () => {
    expect(noSession({ related: [pages(0)] })).toBe(true);
  });

  it("marks a script without the site's cookies, page views or not (they are counted per address)", () => {
    expect(noSession({ userAgent: "python-requests/2.32.3", related: [pages(3)] })).toBe(true);
  });

  it("leaves alone a browser that loaded the site from its address, and anyone with a session or device cookie", () => {
    expect(noSession({ related: [pages(2)] })).toBe(false);
    expect(noSession({ cookie: "sid=abc; theme=dark", related: [pages(0)] })).toBe(false);
    expect(noSession({ userAgent: "Storefront/5.2.1 (iPhone; iOS 17.6; Scale/3.00)", cookie: "did=1234" })).toBe(false);
  });

  it("says nothing when the source never recorded cookies, or the policy names no session cookie", () => {
    expect(noSession({ recorded: ["user-agent"], related: [pages(0)] })).toBe(false);
    expect(noSession({ related: [pages(0)] }, {})).toBe(false);
    expect(noSession({ related: [pages(0)] }, { cohorts: { ...signals.cohorts!, sessionCookies: [] } })).toBe(false);
  });

  it("is evidence, not risk: a person with cookies blocked is not a campaign", () => {
    const request = { method: "POST", path: "/api/v1/login", query: "", host: "", headers: new Map([["user-agent", CHROME]]), headerShape: "s", timeMs: 0, anomalies: [] } as NormalisedRequest;
    expect(noSessionSignal(request, signals, [pages(0)]).map((s) => s.weight)).toEqual([0]);
  });
});
