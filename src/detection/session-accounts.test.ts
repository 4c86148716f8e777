import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledSignals } from "../policy/signals.js";
import { MemoryStore } from "../state/memory-store.js";
import { planSessionAccounts } from "./session-accounts.js";

const signals: CompiledSignals = {
  cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid", "did"], minMembers: 5, browserWithoutSession: 40, sessionAccounts: { threshold: 1, weight: 30 } },
};
const T0 = Date.UTC(2026, 11, 7, 12);

interface Login {
  cookie?: string;
  user?: string;
  atMs?: number;
}

/**
 * [accounts, fired] of session.distinct_usernames for each login, or undefined when it says
 * nothing: each login's plan applied to one store, as a Check's batch applies it.
 */
async function accounts(logins: Login[], settings = signals, store = new MemoryStore()) {
  const found: (readonly [number, boolean] | undefined)[] = [];
  for (const { cookie, user, atMs = 0 } of logins) {
    const request: NormalisedRequest = {
      method: "POST",
      path: "/api/v1/login",
      query: "",
      host: "",
      headers: new Map(cookie ? [["cookie", cookie]] : []),
      headerShape: "s",
      timeMs: T0 + atMs,
      anomalies: [],
      ipId: "ip",
      ...(user ? { usernameId: user } : {}),
    };
    const plan = planSessionAccounts(request, settings);
    const results = await Promise.all(plan.ops.map(({ entity, op }) => store.apply(entity, [op], request.timeMs)));
    const signal = plan.evaluate(results.flat()).find((s) => s.code === "session.distinct_usernames");
    found.push(signal && ([signal.value, signal.fired] as const));
  }
  return found;
}

describe("session.distinct_usernames", () => {
  it("flags a session that tries a second account, and not a person mistyping their own", async () => {
    expect(await accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u2" }])).toEqual([[1, false], [1, false], [2, true]]);
    const apart = await accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=b", user: "u2" }, { cookie: "theme=dark; sid=c", user: "u3" }]);
    expect(apart.every((found) => found?.[1] === false)).toBe(true);
  });

  it("forgets accounts after the window, and says nothing without a session cookie, a username or the setting", async () => {
    expect(await accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u2", atMs: 10 * 60_000 }])).toEqual([[1, false], [2, true]]);
    expect(await accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u2", atMs: 10 * 60_000 + 1 }])).toEqual([[1, false], [1, false]]);
    expect(await accounts([{ cookie: "other=1", user: "u1" }, { user: "u2" }, { cookie: "sid=a" }])).toEqual([undefined, undefined, undefined]);
    expect(await accounts([{ cookie: "sid=a", user: "u1" }, { cookie: "sid=a", user: "u2" }], { cohorts: { ...signals.cohorts!, sessionAccounts: undefined } })).toEqual([undefined, undefined]);
  });

  it("fires above the threshold, not at it, and keeps at most 17 accounts per session, so the largest threshold (16) can fire", async () => {
    const two = { cohorts: { ...signals.cohorts!, sessionAccounts: { threshold: 2, weight: 30 } } };
    expect(await accounts(["u1", "u2", "u3"].map((user, i) => ({ cookie: "sid=s", user, atMs: i })), two)).toEqual([[1, false], [2, false], [3, true]]);
    const tries = await accounts(Array.from({ length: 20 }, (_, i) => ({ cookie: "sid=s", user: `u${i}`, atMs: i })));
    expect(tries.at(-1)).toEqual([17, true]);
    const largest = { cohorts: { ...signals.cohorts!, sessionAccounts: { threshold: 16, weight: 30 } } };
    const many = await accounts(Array.from({ length: 17 }, (_, i) => ({ cookie: "sid=s", user: `u${i}`, atMs: i })), largest);
    expect(many.slice(-2)).toEqual([[16, false], [17, true]]);
  });

  it("is a fact of the store: any process planning against it counts the session's earlier logins", async () => {
    const store = new MemoryStore();
    await accounts([{ cookie: "sid=a; did=d", user: "u1" }], signals, store);
    expect(await accounts([{ cookie: "did=d; sid=a", user: "u2", atMs: 1 }], signals, store)).toEqual([[2, true]]);
    expect(await accounts([{ cookie: "sid=a", user: "u3", atMs: 2 }], signals, store)).toEqual([[1, false]]); // another session: did differs
  });
});
