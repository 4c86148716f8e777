import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { CohortTracker } from "./cohorts.js";

const signals: CompiledSignals = {
  cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid", "did"], minMembers: 5, browserWithoutSession: 40, sessionAccounts: { threshold: 1, weight: 30 } },
};
const login = { name: "login", pageView: false, authentication: true } as CompiledEndpoint;

/** [accounts, fired] of session.distinct_usernames for each login, or undefined when it says nothing. */
function accounts(logins: { cookie?: string; user?: string; atMs?: number }[], settings = signals) {
  const tracker = new CohortTracker();
  return logins.map(({ cookie, user, atMs = 0 }) => {
    const request: NormalisedRequest = {
      method: "POST",
      path: "/api/v1/login",
      query: "",
      host: "",
      headers: new Map(cookie ? [["cookie", cookie]] : []),
      headerShape: "s",
      timeMs: atMs,
      anomalies: [],
      ipId: "ip",
      ...(user ? { usernameId: user } : {}),
    };
    const found = tracker.observe(request, login, settings, []).find((s) => s.code === "session.distinct_usernames");
    return found && ([found.value, found.fired] as const);
  });
}

describe("session.distinct_usernames", () => {
  it("flags a session that tries a second account, and not a person mistyping their own", () => {
    expect(accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u2" }])).toEqual([[1, false], [1, false], [2, true]]);
    expect(accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=b", user: "u2" }, { cookie: "theme=dark; sid=c", user: "u3" }]).every((found) => found?.[1] === false)).toBe(true);
  });

  it("forgets accounts after the window, and says nothing without a session cookie, a username or the setting", () => {
    expect(accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u2", atMs: 11 * 60_000 }])).toEqual([[1, false], [1, false]]);
    expect(accounts([{ cookie: "other=1", user: "u1" }, { user: "u2" }, { cookie: "sid=a" }])).toEqual([undefined, undefined, undefined]);
    expect(accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u2" }], { cohorts: { ...signals.cohorts!, sessionAccounts: undefined } })).toEqual([undefined, undefined]);
  });
});
