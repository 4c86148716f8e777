import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { MemoryStore } from "../state/memory-store.js";
import { SiteActivity } from "./site-activity.js";

const MINUTE = 60_000;
const endpoint = { name: "login", authentication: true } as CompiledEndpoint;
const base = {
  zScore: 3,
  minSamples: 30,
  learningRate: 0.05,
  priors: { attemptsPerMinute: 60, attemptsPerMinuteStddev: 30, failureRatio: 0.1, failureRatioStddev: 0.05 },
  minAttemptsPerMinute: 20,
  weight: 10,
  cohortWeight: 40,
};
const slowSignals: CompiledSignals = {
  siteAnomaly: { ...base, campaign: { distinctFailingShare: 0.8, slow: { within: "30m", failingAccounts: 20, perSignedIn: 2 }, weight: 0 } },
};
const withoutSlow: CompiledSignals = { siteAnomaly: { ...base, campaign: { distinctFailingShare: 0.8, weight: 0 } } };

function loginAt(timeMs: number): NormalisedRequest {
  return { method: "POST", path: "/login", query: "", host: "", headers: new Map(), headerShape: "s1", timeMs, anomalies: [], endpoint: "login" };
}

/** A login's outcome: its username, whether it failed, and whether the client kept none of the site's session cookies. */
type Outcome = { username: string; failed: boolean; sessionless?: boolean };

async function flushAll(replicas: SiteActivity[], policy: CompiledPolicy, nowMs: number) {
  for (const site of replicas) await site.maybeFlush(policy, nowMs);
}

/** `perMinute` list entries a minute for `count` minutes, spread over `replicas`, each a new account failing once. */
function slowList(perMinute: number, count: number, replicas = 1, sessionless = false): Outcome[][][] {
  let next = 0;
  return Array.from({ length: count }, () => {
    const perReplica: Outcome[][] = Array.from({ length: replicas }, () => []);
    for (let i = 0; i < perMinute; i++) perReplica[i % replicas]!.push({ username: `bot${next++}`, failed: true, ...(sessionless ? { sessionless } : {}) });
    return perReplica;
  });
}

/** Plays the minutes one by one, merging after each, as event time passes. */
async function play(minutes: Outcome[][][], signals = slowSignals) {
  const store = new MemoryStore();
  const policy = { signals, endpoints: [endpoint] } as unknown as CompiledPolicy;
  const replicas = minutes[0]!.map(() => new SiteActivity(store));
  for (const [minute, perReplica] of minutes.entries()) {
    perReplica.forEach((outcomes, r) =>
      outcomes.forEach(({ username, failed, sessionless }, i) => {
        const timeMs = minute * MINUTE + 1_000 + i * 1_000;
        replicas[r]!.recordAttempt("login", "s1", timeMs);
        replicas[r]!.recordOutcome("login", failed, "s1", username, timeMs, sessionless);
      }),
    );
    await flushAll(replicas, policy, (minute + 1) * MINUTE - 1_000);
  }
  const nowMs = minutes.length * MINUTE;
  // A second merge: each replica then reads what the others merged after it in the last round.
  await flushAll(replicas, policy, nowMs);
  return { replicas, policy, signals, nowMs, codes: () => replicas.map((site) => site.signalsFor(loginAt(nowMs), endpoint, signals, [])) };
}

describe("site.campaign from the long window (campaign.slow), far below the volume floor", () => {
  it("calls 3 failing logins a minute, each a new account, once 20 accounts failed: 7 minutes in", async () => {
    expect((await play(slowList(3, 6))).codes()).toEqual([[]]);
    const [found] = (await play(slowList(3, 7))).codes();
    expect(found!.map((s) => s.code)).toEqual(["site.campaign"]);
    expect(found![0]!.weight).toBe(0);
    expect(found![0]!.detail).toContain("slow call over 30m");
    expect(found![0]!.detail).toContain("21 accounts failed from session-keeping clients against 0 that signed in");
  });

  it("calls it from accounts spread over replicas sharing the store, on every replica", async () => {
    const { codes } = await play(slowList(3, 7, 3));
    expect(codes().map((found) => found.map((s) => s.code))).toEqual([["site.campaign"], ["site.campaign"], ["site.campaign"]]);
  });

  it("stays silent on a small shop's hour: people who mistype or forgot sign in as often as they fail", async () => {
    // 60 minutes: a sign-in a minute; every 10 minutes a person mistypes twice and then gets in, one forgets and never does.
    const hour: Outcome[][][] = Array.from({ length: 60 }, (_, minute) => [[
      ...(minute % 10 === 0 ? [{ username: `typo${minute}`, failed: true }, { username: `typo${minute}`, failed: true }, { username: `typo${minute}`, failed: false }, { username: `forgot${minute}`, failed: true }] : []),
      { username: `shopper${minute}`, failed: false },
    ]]);
    expect((await play(hour)).codes()).toEqual([[]]);
  });

  it("stays silent while the accounts that sign in are more than half as many as those failing", async () => {
    const busy = slowList(3, 10).map(([outcomes], minute) => [[...outcomes!, { username: `shopper${minute}a`, failed: false }, { username: `shopper${minute}b`, failed: false }]]);
    expect((await play(busy)).codes()).toEqual([[]]);
  });

  it("leaves out failures of clients without the site's session: those are answered login by login", async () => {
    expect((await play(slowList(3, 10, 1, true))).codes()).toEqual([[]]);
  });

  it("is off without campaign.slow", async () => {
    expect((await play(slowList(3, 10), withoutSlow)).codes()).toEqual([[]]);
  });

  it("stays in force past the window while the logins it denied keep coming, and ends when they stop", async () => {
    const answered = await play(slowList(3, 10));
    const ignored = await play(slowList(3, 10));
    let denied = 0;
    for (let minute = 10; minute < 75; minute++) {
      for (let i = 0; i < 3; i++) answered.replicas[0]!.recordDenied("login", `denied${denied++}`);
      await flushAll(answered.replicas, answered.policy, (minute + 1) * MINUTE - 1);
      await flushAll(ignored.replicas, ignored.policy, (minute + 1) * MINUTE - 1);
    }
    const at = loginAt(75 * MINUTE);
    expect(answered.replicas[0]!.signalsFor(at, endpoint, slowSignals, []).map((s) => s.code)).toEqual(["site.campaign"]);
    expect(ignored.replicas[0]!.signalsFor(at, endpoint, slowSignals, [])).toEqual([]);
  });

  it("is never started by denials alone", async () => {
    const { replicas, policy, codes } = await play([[[{ username: "shopper", failed: false }]]]);
    for (let i = 0; i < 40; i++) replicas[0]!.recordDenied("login", `denied${i}`);
    await flushAll(replicas, policy, 2 * MINUTE);
    expect(codes()).toEqual([[]]);
  });
});
