import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledSignals } from "../policy/signals.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { usernameNeighbourhood } from "../privacy/username-neighbourhood.js";
import { MemoryStore } from "../state/memory-store.js";
import { planSessionAccounts } from "./session-accounts.js";

const signals: CompiledSignals = {
  cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid", "did"], minMembers: 5, browserWithoutSession: 40, sessionAccounts: { threshold: 1, weight: 30 } },
};
const T0 = Date.UTC(2026, 11, 7, 12);
const pseudonymiser = new HmacPseudonymiser({ current: Buffer.alloc(32, 3) });

interface Login {
  cookie?: string;
  user?: string;
  atMs?: number;
}

/** The i-th of some names no two of which are one typo apart ("aaa", "bbb"…). */
const far = (i: number) => String.fromCharCode(97 + i).repeat(3);

/** The logins of the last `accounts` call said to correct a typo (session.username_corrected), by index. */
const corrected: number[] = [];

/**
 * [accounts, fired] of session.distinct_usernames for each login, or undefined when it says
 * nothing: each login's plan applied to one store, as a Check's batch applies it.
 */
async function accounts(logins: Login[], settings = signals, store = new MemoryStore()) {
  const found: (readonly [number, boolean] | undefined)[] = [];
  corrected.length = 0;
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
      ...(user ? { usernameId: pseudonymiser.pseudonymise("username", user), usernameNeighbourhood: usernameNeighbourhood(user, pseudonymiser) } : {}),
    };
    const plan = planSessionAccounts(request, settings);
    const results = await Promise.all(plan.ops.map(({ entity, op }) => store.apply(entity, [op], request.timeMs)));
    const signals = plan.evaluate(results.flat());
    const signal = signals.find((s) => s.code === "session.distinct_usernames");
    if (signals.some((s) => s.code === "session.username_corrected")) corrected.push(found.length);
    found.push(signal && ([signal.value, signal.fired] as const));
  }
  return found;
}

describe("session.distinct_usernames", () => {
  it("flags a session that tries a second account, and not a person mistyping their own", async () => {
    expect(await accounts([{ cookie: "sid=a", user: "ann" }, { cookie: "sid=a", user: "ann" }, { cookie: "sid=a", user: "bob" }])).toEqual([[1, false], [1, false], [2, true]]);
    const apart = await accounts([{ cookie: "sid=a", user: "ann" }, { cookie: "sid=b", user: "bob" }, { cookie: "theme=dark; sid=c", user: "carla" }]);
    expect(apart.every((found) => found?.[1] === false)).toBe(true);
  });

  it("forgets accounts after the window, and says nothing without a session cookie, a username or the setting", async () => {
    expect(await accounts([{ cookie: "sid=a", user: "ann" }, { cookie: "sid=a", user: "bob", atMs: 10 * 60_000 }])).toEqual([[1, false], [2, true]]);
    expect(await accounts([{ cookie: "sid=a", user: "ann" }, { cookie: "sid=a", user: "bob", atMs: 10 * 60_000 + 1 }])).toEqual([[1, false], [1, false]]);
    expect(await accounts([{ cookie: "other=1", user: "ann" }, { user: "bob" }, { cookie: "sid=a" }])).toEqual([undefined, undefined, undefined]);
    expect(await accounts([{ cookie: "sid=a", user: "ann" }, { cookie: "sid=a", user: "bob" }], { cohorts: { ...signals.cohorts!, sessionAccounts: undefined } })).toEqual([undefined, undefined]);
  });

  it("fires above the threshold, not at it, and keeps at most 17 accounts per session, so the largest threshold (16) can fire", async () => {
    const two = { cohorts: { ...signals.cohorts!, sessionAccounts: { threshold: 2, weight: 30 } } };
    expect(await accounts(["ann", "bob", "carla"].map((user, i) => ({ cookie: "sid=s", user, atMs: i })), two)).toEqual([[1, false], [2, false], [3, true]]);
    const tries = await accounts(Array.from({ length: 20 }, (_, i) => ({ cookie: "sid=s", user: far(i), atMs: i })));
    expect(tries.at(-1)).toEqual([17, true]);
    const largest = { cohorts: { ...signals.cohorts!, sessionAccounts: { threshold: 16, weight: 30 } } };
    const many = await accounts(Array.from({ length: 17 }, (_, i) => ({ cookie: "sid=s", user: far(i), atMs: i })), largest);
    expect(many.slice(-2)).toEqual([[16, false], [17, true]]);
  });

  it("counts a session's two accounts one typo apart once, and says so, whichever came first and however often", async () => {
    const session = (users: string[]) => accounts(users.map((user, i) => ({ cookie: "sid=t", user, atMs: i * 5_000 })));
    // Dropped, added, replaced, swapped: the generator of none of these.
    for (const [typed, meant] of [["ann@example.co", "ann@example.com"], ["annn@example.com", "ann@example.com"], ["anm@example.com", "ann@example.com"], ["nan@example.com", "ann@example.com"]] as const) {
      expect(await session([typed, meant, meant, typed])).toEqual([[1, false], [1, false], [1, false], [1, false]]);
      expect(corrected).toEqual([1, 2, 3]);
      expect(await session([meant, typed, meant])).toEqual([[1, false], [1, false], [1, false]]);
    }
    // Two typos away is another account, and a third account is one whatever it looks like.
    expect(await session(["ann@example.com", "anne@example.org"])).toEqual([[1, false], [2, true]]);
    expect(await session(["ann@example.com", "ann@example.co", "ann@example.c"])).toEqual([[1, false], [1, false], [3, true]]);
    expect(corrected).toEqual([1]);
  });

  it("is a fact of the store: any process planning against it counts the session's earlier logins", async () => {
    const store = new MemoryStore();
    await accounts([{ cookie: "sid=a; did=d", user: "ann" }], signals, store);
    expect(await accounts([{ cookie: "did=d; sid=a", user: "bob", atMs: 1 }], signals, store)).toEqual([[2, true]]);
    expect(await accounts([{ cookie: "sid=a", user: "carla", atMs: 2 }], signals, store)).toEqual([[1, false]]); // another session: did differs
  });
});
