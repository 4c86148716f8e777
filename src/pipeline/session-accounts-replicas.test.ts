import { describe, expect, it } from "vitest";
import { minimalPolicyDocument, policyFrom } from "../../test/support/policies.js";
import type { HttpAttributes } from "../domain/request.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { MemoryStore } from "../state/memory-store.js";
import { createDetectionState, createPipeline } from "./pipeline.js";

const T0 = Date.UTC(2026, 11, 7, 12);
const pseudonymiser = new HmacPseudonymiser({ current: Buffer.alloc(32, 5) });
const LOGIN = { ...(minimalPolicyDocument().spec as { endpoints: Record<string, unknown>[] }).endpoints[0]!, authentication: true };
const policy = policyFrom(
  minimalPolicyDocument({ endpoints: [LOGIN], signals: { cohorts: { window: "10m", sessionCookies: ["sid"], sessionAccounts: { threshold: 1, weight: 30 } } } }),
);

/** A login for `username` by the browser session `sid`, from its own address, `atMs` after T0. */
function login(sid: string, username: string, ip: string, atMs: number): HttpAttributes {
  return {
    method: "POST",
    path: "/login",
    headers: new Map([["x-forwarded-for", ip], ["cookie", `sid=${sid}`]]),
    body: new TextEncoder().encode(JSON.stringify({ username, password: "pw" })),
    timeMs: T0 + atMs,
  };
}

/**
 * Replicas sharing one store (each its own detection state, as each server process keeps its
 * own), the logins handed to the next in turn as Envoy spreads them. Per login, the accounts
 * `session.distinct_usernames` counted when it fired, else 0.
 */
async function spread(logins: readonly HttpAttributes[], replicas: number): Promise<number[]> {
  const store = new MemoryStore();
  const pipelines = Array.from({ length: replicas }, () =>
    createPipeline({ store, pseudonymiser, policy: () => policy, clock: { now: () => T0 }, eventTime: { maxSkewMs: 60_000, trust: true }, detection: createDetectionState(store) }),
  );
  const counted: number[] = [];
  for (const [i, attrs] of logins.entries()) {
    const { decision } = await pipelines[i % replicas]!.evaluate(attrs);
    counted.push(decision.reasons.find((reason) => reason.code === "session.distinct_usernames")?.value ?? 0);
  }
  return counted;
}

describe("session.distinct_usernames with several replicas", () => {
  it("counts a session's accounts over every replica's logins, as one replica counts them", async () => {
    // A bot keeping its cookie on each proxy, trying the next entry of its list on each.
    const list = ["ann", "bob", "carla", "dmitri", "erin", "farid"].map((user, i) => login("bot", user, `203.0.113.${10 + i}`, i * 2_000));
    const alone = await spread(list, 1);
    expect(alone).toEqual([0, 2, 3, 4, 5, 6]);
    expect(await spread(list, 3)).toEqual(alone);
  });

  it("leaves a person retrying their own account alone on every replica, a mistyped name before it too", async () => {
    const retries = Array.from({ length: 4 }, (_, i) => login("shopper", "ann", "192.0.2.7", i * 5_000));
    expect(await spread(retries, 3)).toEqual([0, 0, 0, 0]);
    const typo = ["ann@example.co", "ann@example.com", "ann@example.com"].map((user, i) => login("typist", user, "192.0.2.8", i * 5_000));
    expect(await spread(typo, 3)).toEqual([0, 0, 0]);
  });
});
