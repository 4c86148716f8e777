import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { MemoryStore } from "../state/memory-store.js";
import { SiteActivity, type LoginClient } from "./site-activity.js";

const endpoint = { name: "login", authentication: true } as CompiledEndpoint;
const signals: CompiledSignals = {
  siteAnomaly: {
    zScore: 3,
    minSamples: 30,
    learningRate: 0.05,
    priors: { attemptsPerMinute: 60, attemptsPerMinuteStddev: 30, failureRatio: 0.1, failureRatioStddev: 0.05 },
    minAttemptsPerMinute: 20,
    weight: 10,
    cohortWeight: 40,
    campaign: { distinctFailingShare: 0.8, weight: 0 },
  },
};
const policy = { signals, endpoints: [endpoint] } as unknown as CompiledPolicy;
const request: NormalisedRequest = {
  method: "POST",
  path: "/login",
  query: "",
  host: "",
  headers: new Map(),
  headerShape: "s1",
  timeMs: 30_000,
  anomalies: [],
  endpoint: "login",
};

/** The site-wide signal codes a login gets after these outcomes (username, failed), from a cold start. */
async function codesAfter(outcomes: Array<[string, boolean]>): Promise<string[]> {
  const site = new SiteActivity(new MemoryStore());
  for (const [username, failed] of outcomes) {
    site.recordAttempt("login", "s1");
    site.recordOutcome("login", failed, "s1", username);
  }
  await site.maybeFlush(policy, 30_000);
  return site.signalsFor(request, endpoint, signals, []).map((s) => s.code);
}

describe("site.campaign", () => {
  it("fires from a cold start when many accounts fail once and never get in", async () => {
    const list = Array.from({ length: 60 }, (_, i): [string, boolean] => [`u${i}`, true]);
    expect(await codesAfter(list)).toEqual(expect.arrayContaining(["site.failure_ratio", "site.campaign"]));
  });

  it("fires for a checker with half valid credentials: the misses still never get in", async () => {
    const checks = Array.from({ length: 60 }, (_, i): [string, boolean] => [`u${i}`, i % 2 === 0]);
    expect(await codesAfter(checks)).toEqual(expect.arrayContaining(["site.failure_ratio", "site.campaign"]));
  });

  it("stays silent when as many failures are people retrying and then signing in", async () => {
    const typos = Array.from({ length: 30 }, (_, i): Array<[string, boolean]> => [[`u${i}`, true], [`u${i}`, true], [`u${i}`, false]]).flat();
    const codes = await codesAfter(typos);
    expect(codes).toContain("site.failure_ratio");
    expect(codes).not.toContain("site.campaign");
  });

  it("stays silent when stale autofilled passwords fail once each and the person then gets in", async () => {
    const stale = Array.from({ length: 40 }, (_, i): Array<[string, boolean]> => [[`u${i}`, true], [`u${i}`, false]]).flat();
    expect(await codesAfter(stale)).not.toContain("site.campaign");
  });

  it("says nothing when the policy has no campaign prior", async () => {
    const site = new SiteActivity(new MemoryStore());
    const withoutCampaign: CompiledSignals = { siteAnomaly: { ...signals.siteAnomaly!, campaign: undefined } };
    for (let i = 0; i < 60; i++) {
      site.recordAttempt("login", "s1");
      site.recordOutcome("login", true, "s1", `u${i}`);
    }
    await site.maybeFlush({ signals: withoutCampaign, endpoints: [endpoint] } as unknown as CompiledPolicy, 30_000);
    expect(site.signalsFor(request, endpoint, withoutCampaign, []).map((s) => s.code)).not.toContain("site.campaign");
  });
});

describe("a campaign held while its logins are denied", () => {
  /** A detected campaign at 30 s, then `allowed` allowed logins (all succeeding) and `denied` denied ones per second for `seconds` seconds. */
  async function after(allowed: number, denied: number, seconds: number): Promise<string[]> {
    const site = new SiteActivity(new MemoryStore());
    for (let i = 0; i < 60; i++) {
      site.recordAttempt("login", "s1");
      site.recordOutcome("login", true, "s1", `u${i}`);
    }
    await site.maybeFlush(policy, 30_000);
    let now = 30_000;
    for (let s = 0; s < seconds; s++) {
      now += 1_000;
      for (let i = 0; i < allowed; i++) {
        site.recordAttempt("login", "s1");
        site.recordOutcome("login", false, "s1", `ok${s}-${i}`);
      }
      for (let i = 0; i < denied; i++) site.recordDenied("login");
      await site.maybeFlush(policy, now);
    }
    return site.signalsFor({ ...request, timeMs: now }, endpoint, signals, []).map((s) => s.code);
  }

  it("stays in force a minute and more into the mitigation, while the denied logins outnumber the allowed ones", async () => {
    // Two allowed logins a second, all succeeding: alone they would end the anomaly within the minute.
    expect(await after(2, 6, 90)).toEqual(expect.arrayContaining(["site.failure_ratio", "site.campaign"]));
  });

  it("ends once the campaign stops knocking", async () => {
    expect(await after(2, 0, 90)).not.toContain("site.campaign");
  });

  it("ends when allowed logins outnumber the denied ones: shoppers challenged here and there do not hold it", async () => {
    expect(await after(3, 1, 90)).not.toContain("site.failure_ratio");
  });

  it("outlives a store outage by at most its own window: a call no merge confirms ends", async () => {
    const played = await play(slowList(3, 10));
    const site = played.replicas[0]!;
    (site as unknown as { store: { apply: () => Promise<never> } }).store.apply = () => Promise.reject(new Error("store down"));
    const codesAt = async (minute: number) => {
      await site.maybeFlush(played.policy, minute * MINUTE);
      return site.signalsFor(loginAt(minute * MINUTE), endpoint, slowSignals, []).map((s) => s.code);
    };
    expect(await codesAt(25)).toEqual(["site.campaign"]);
    expect(await codesAt(39)).toEqual(["site.campaign"]);
    expect(await codesAt(41)).toEqual([]);
  });

  it("is never started by denials alone", async () => {
    const site = new SiteActivity(new MemoryStore());
    for (let i = 0; i < 100; i++) site.recordDenied("login");
    await site.maybeFlush(policy, 30_000);
    expect(site.signalsFor(request, endpoint, signals, [])).toEqual([]);
  });
});

describe("site.campaign_early, the early call below the volume floor (campaign.early)", () => {
  const early: CompiledSignals = {
    siteAnomaly: { ...signals.siteAnomaly!, campaign: { distinctFailingShare: 0.8, early: { failingAccounts: 3, within: "10s" }, weight: 0 } },
  };

  /** The login's site-wide signals at 30 s after these outcomes, `spacingMs` apart and ending just before, with no merge (flush) in between. */
  function earlyAfter(outcomes: Array<[string, boolean]>, config: CompiledSignals = early, spacingMs = 300) {
    const site = new SiteActivity(new MemoryStore());
    outcomes.forEach(([username, failed], i) => {
      const timeMs = request.timeMs - (outcomes.length - i) * spacingMs;
      site.recordAttempt("login", "s1", timeMs);
      site.recordOutcome("login", failed, "s1", username, timeMs);
    });
    return site.signalsFor(request, endpoint, config, []);
  }

  it("fires after three accounts of a list failed, seconds into a cold start, before any merge", () => {
    const found = earlyAfter([["a", true], ["b", false], ["c", true], ["d", true], ["e", false]]);
    expect(found.map((s) => s.code)).toEqual(["site.campaign_early"]);
    expect(found[0]!.weight).toBe(0);
    expect(found[0]!.detail).toContain("early call");
  });

  it("waits for the third account: two failures are a couple of people mistyping", () => {
    expect(earlyAfter([["a", true], ["b", true], ["c", false]])).toEqual([]);
  });

  it("stays silent when the failing people then get into their own accounts", () => {
    expect(earlyAfter([["a", true], ["b", true], ["c", true], ["a", false], ["b", false], ["c", false]])).toEqual([]);
  });

  it("stays silent when one person retries: failures of few accounts are not a list", () => {
    expect(earlyAfter([["a", true], ["a", true], ["a", true], ["b", true], ["c", true], ["c", true], ["c", true]])).toEqual([]);
  });

  it("stays silent for a list tried slowly: the accounts did not fail together", () => {
    expect(earlyAfter([["a", true], ["b", true], ["c", true], ["d", true]], early, 12_000)).toEqual([]);
  });

  it("stays silent at a failure ratio the priors call normal", () => {
    const busy = Array.from({ length: 30 }, (_, i): [string, boolean] => [`u${i}`, i % 10 === 0]);
    expect(earlyAfter(busy)).toEqual([]);
  });

  it("judges the failure ratio over the same seconds: a calm minute before does not dilute a list's start", () => {
    const site = new SiteActivity(new MemoryStore());
    for (let i = 0; i < 15; i++) {
      site.recordAttempt("login", "s1", 1_000 + i * 1_000);
      site.recordOutcome("login", false, "s1", `calm${i}`, 1_000 + i * 1_000);
    }
    for (const [i, [username, failed]] of ([["a", true], ["b", false], ["c", true], ["d", true]] as const).entries()) {
      site.recordAttempt("login", "s1", 27_000 + i * 500);
      site.recordOutcome("login", failed, "s1", username, 27_000 + i * 500);
    }
    expect(site.signalsFor(request, endpoint, early, []).map((s) => s.code)).toEqual(["site.campaign_early"]);
  });

  it("counts only failures from clients that kept the site's session: a cookie-less list is answered login by login", () => {
    const site = new SiteActivity(new MemoryStore());
    const list = ["a", "b", "c", "d"];
    list.forEach((username, i) => {
      const timeMs = request.timeMs - (list.length - i) * 300;
      site.recordAttempt("login", "s1", timeMs);
      site.recordOutcome("login", true, "s1", username, timeMs, "sessionless");
    });
    expect(site.signalsFor(request, endpoint, early, [])).toEqual([]);
    // Two more accounts failing from clients that kept a session are not three yet; a third is.
    site.recordAttempt("login", "s1", request.timeMs - 200);
    site.recordOutcome("login", true, "s1", "e", request.timeMs - 200);
    site.recordAttempt("login", "s1", request.timeMs - 150);
    site.recordOutcome("login", true, "s1", "f", request.timeMs - 150);
    expect(site.signalsFor(request, endpoint, early, [])).toEqual([]);
    site.recordAttempt("login", "s1", request.timeMs - 100);
    site.recordOutcome("login", true, "s1", "g", request.timeMs - 100);
    expect(site.signalsFor(request, endpoint, early, []).map((s) => s.code)).toEqual(["site.campaign_early"]);
  });

  it("counts accounts asked for a step-up with the failing ones: a list's tries on accounts with a history", () => {
    const site = new SiteActivity(new MemoryStore());
    const at = (offsetMs: number) => request.timeMs - offsetMs;
    site.recordAttempt("login", "s1", at(900));
    site.recordOutcome("login", true, "s1", "a", at(900));
    site.recordAttempt("login", "s1", at(600));
    site.recordOutcome("login", true, "s1", "b", at(600));
    site.recordAttempt("login", "s1", at(300));
    expect(site.signalsFor(request, endpoint, early, [])).toEqual([]);
    // The third account was tried from a device and network it never used; its outcome is not in yet.
    site.recordSteppedUp("login", "c", at(300));
    const found = site.signalsFor(request, endpoint, early, []);
    expect(found.map((s) => s.code)).toEqual(["site.campaign_early"]);
    expect(found[0]!.detail).toContain("3 accounts failed and did not sign in, or were asked for a step-up");
  });

  it("never calls on step-ups alone: a few people on new phones are not a list", () => {
    const site = new SiteActivity(new MemoryStore());
    for (const [i, username] of ["a", "b", "c", "d"].entries()) {
      site.recordAttempt("login", "s1", request.timeMs - 1_000 + i * 200);
      site.recordSteppedUp("login", username, request.timeMs - 1_000 + i * 200);
    }
    expect(site.signalsFor(request, endpoint, early, [])).toEqual([]);
    site.recordOutcome("login", false, "s1", "a", request.timeMs - 1_000);
    expect(site.signalsFor(request, endpoint, early, [])).toEqual([]);
  });

  it("judges the failure ratio over the outcomes known: attempts still waiting for theirs do not dilute a burst's start", () => {
    const site = new SiteActivity(new MemoryStore());
    for (const [i, username] of ["a", "b", "c"].entries()) {
      site.recordAttempt("login", "s1", request.timeMs - 2_000 + i * 100);
      site.recordOutcome("login", true, "s1", username, request.timeMs - 2_000 + i * 100);
    }
    site.recordAttempt("login", "s1", request.timeMs - 1_500);
    site.recordOutcome("login", false, "s1", "d", request.timeMs - 1_500);
    // Ten more logins of the burst, decided and not yet answered: 4 failures of 14 attempts, 3 of 4 outcomes.
    for (let i = 0; i < 10; i++) site.recordAttempt("login", "s1", request.timeMs - 1_000 + i * 50);
    expect(site.signalsFor(request, endpoint, early, []).map((s) => s.code)).toEqual(["site.campaign_early"]);
  });

  it("is off without campaign.early", () => {
    expect(earlyAfter([["a", true], ["b", true], ["c", true], ["d", true]], signals)).toEqual([]);
  });

  it("stays in force while the logins it denied keep coming, as the failures it stopped would have, and ends within its span after they stop", () => {
    const site = new SiteActivity(new MemoryStore());
    const at = (timeMs: number) => site.signalsFor({ ...request, timeMs }, endpoint, early, []).map((s) => s.code);
    // Three accounts of a list fail in the first second; from then on every login of the list is denied.
    ["a", "b", "c"].forEach((username, i) => {
      site.recordAttempt("login", "s1", 1_000 + i * 200);
      site.recordOutcome("login", true, "s1", username, 1_000 + i * 200);
    });
    expect(at(2_000)).toEqual(["site.campaign_early"]);
    for (let t = 2_000; t <= 40_000; t += 500) site.recordDeniedEarly("login", `list${t}`, t);
    // Thirty seconds on, long past the span of the failures that called it.
    expect(at(40_100)).toEqual(["site.campaign_early"]);
    // The list stops: the call ends once its last denials are out of the span.
    expect(at(49_000)).toEqual(["site.campaign_early"]);
    expect(at(50_100)).toEqual([]);
  });

  it("is not kept by denied logins whose accounts then signed in: a person who passed the challenge is no list entry", () => {
    const site = new SiteActivity(new MemoryStore());
    for (const [i, username] of ["a", "b", "c"].entries()) {
      site.recordDeniedEarly("login", username, request.timeMs - 3_000 + i * 100);
      site.recordAttempt("login", "s1", request.timeMs - 2_000 + i * 100);
      site.recordOutcome("login", false, "s1", username, request.timeMs - 2_000 + i * 100);
    }
    expect(site.signalsFor(request, endpoint, early, [])).toEqual([]);
  });
});

describe("the early call across replicas sharing a store", () => {
  const early: CompiledSignals = {
    siteAnomaly: { ...signals.siteAnomaly!, campaign: { distinctFailingShare: 0.8, early: { failingAccounts: 3, within: "10s" }, weight: 0 } },
  };
  const earlyPolicy = { signals: early, endpoints: [endpoint] } as unknown as CompiledPolicy;

  /** Three replicas on one store, each given its logins (username, failed) at 28 s, then merging twice, a second apart. */
  async function replicasAfter(perReplica: Array<Array<[string, boolean]>>, store = new MemoryStore()) {
    const replicas = perReplica.map(() => new SiteActivity(store));
    perReplica.forEach((outcomes, r) =>
      outcomes.forEach(([username, failed], i) => {
        const timeMs = 28_000 + r * 200 + i * 50;
        replicas[r]!.recordAttempt("login", "s1", timeMs);
        replicas[r]!.recordOutcome("login", failed, "s1", username, timeMs);
      }),
    );
    const alone = replicas.map((site) => site.signalsFor(request, endpoint, early, []).map((s) => s.code));
    for (const nowMs of [29_000, 30_000]) for (const site of replicas) await site.maybeFlush(earlyPolicy, nowMs);
    return { alone, merged: replicas.map((site) => site.signalsFor(request, endpoint, early, [])) };
  }

  it("calls a list whose failing accounts were spread over the replicas on each of them, once they merged, as one replica would have", async () => {
    const { alone, merged } = await replicasAfter([[["a", true]], [["b", true]], [["c", true]]]);
    expect(alone).toEqual([[], [], []]);
    for (const found of merged) {
      expect(found.map((s) => s.code)).toEqual(["site.campaign_early"]);
      expect(found[0]!.detail).toContain("3 accounts failed");
      expect(found[0]!.detail).toContain("the others as of their last merge");
    }
  });

  it("does not count an account that failed on one replica and signed in on another", async () => {
    const { merged } = await replicasAfter([[["a", true]], [["b", true], ["a", false]], [["c", true]]]);
    expect(merged).toEqual([[], [], []]);
  });

  it("counts a person whose retry and sign-in landed on other replicas as one account that got in, not a failing account on each", async () => {
    const { merged } = await replicasAfter([[["a", true], ["c", true]], [["a", true], ["d", true]], [["a", false], ["b", true]]]);
    // b, c and d failed together, but 3 accounts that stayed out of 5 failures is below the 0.8 share; counted per replica, a would have failed twice.
    expect(merged).toEqual([[], [], []]);
  });

  it("keeps each replica's evidence its own on a store that cannot exchange", async () => {
    const store = new MemoryStore();
    const withoutExchange = Object.assign(Object.create(store) as MemoryStore, { exchange: undefined });
    const { merged } = await replicasAfter([[["a", true]], [["b", true]], [["c", true]]], withoutExchange);
    expect(merged).toEqual([[], [], []]);
  });
});

const MINUTE = 60_000;
const slowSignals: CompiledSignals = {
  siteAnomaly: { ...signals.siteAnomaly!, campaign: { distinctFailingShare: 0.8, slow: { within: "30m", failingAccounts: 20, perSignedIn: 2 }, weight: 0 } },
};

function loginAt(timeMs: number): NormalisedRequest {
  return { method: "POST", path: "/login", query: "", host: "", headers: new Map(), headerShape: "s1", timeMs, anomalies: [], endpoint: "login" };
}

/** A login's outcome: its username, whether it failed, and what the client kept of the site's session (none, or a bare one). */
type Outcome = { username: string; failed: boolean; client?: LoginClient };

async function flushAll(replicas: SiteActivity[], policy: CompiledPolicy, nowMs: number) {
  for (const site of replicas) await site.maybeFlush(policy, nowMs);
}

/** `perMinute` list entries a minute for `count` minutes, spread over `replicas`, each a new account failing once. */
function slowList(perMinute: number, count: number, replicas = 1, client?: LoginClient): Outcome[][][] {
  let next = 0;
  return Array.from({ length: count }, () => {
    const perReplica: Outcome[][] = Array.from({ length: replicas }, () => []);
    for (let i = 0; i < perMinute; i++) perReplica[i % replicas]!.push({ username: `bot${next++}`, failed: true, ...(client ? { client } : {}) });
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
      outcomes.forEach(({ username, failed, client }, i) => {
        const timeMs = minute * MINUTE + 1_000 + i * 1_000;
        replicas[r]!.recordAttempt("login", "s1", timeMs);
        replicas[r]!.recordOutcome("login", failed, "s1", username, timeMs, client);
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

  it("calls a list whose credentials are mostly right: it signs in as often as it fails, never into the accounts it got wrong", async () => {
    // Each minute the list gets two accounts in and three wrong: as many sign in as fail, and the wrong ones stay out.
    const mostlyRight = (minutes: number) => slowList(3, minutes).map(([outcomes], minute) => [[...outcomes!, { username: `hit${minute}a`, failed: false }, { username: `hit${minute}b`, failed: false }]]);
    expect((await play(mostlyRight(6))).codes()).toEqual([[]]);
    const [found] = (await play(mostlyRight(7))).codes();
    expect(found!.map((s) => s.code)).toEqual(["site.campaign"]);
    expect(found![0]!.detail).toContain("21 accounts failed from session-keeping clients against 14 that signed in, 0 of them failing too");
  });

  it("stays silent on a spike of new customers who mistype: most accounts that fail then sign in, though some never do", async () => {
    // Five first sign-ins a minute for an hour, three after a typo; a mistyped address a minute and one who gives up
    // every ten minutes never get in: 33 accounts in half an hour that failed and never signed in, against 90 that did.
    const spike: Outcome[][][] = Array.from({ length: 60 }, (_, minute) => [[
      ...Array.from({ length: 3 }, (_, n) => ({ username: `typo${minute}-${n}`, failed: true })),
      ...Array.from({ length: 5 }, (_, n) => ({ username: n < 3 ? `typo${minute}-${n}` : `new${minute}-${n}`, failed: false })),
      { username: `typo${minute}-0_`, failed: true },
      ...(minute % 10 === 0 ? [{ username: `forgot${minute}`, failed: true }] : []),
    ]]);
    expect((await play(spike)).codes()).toEqual([[]]);
  });

  it("leaves out failures of clients without the site's session: those are answered login by login", async () => {
    expect((await play(slowList(3, 10, 1, "sessionless"))).codes()).toEqual([[]]);
  });

  it("is off without campaign.slow", async () => {
    expect((await play(slowList(3, 10), signals)).codes()).toEqual([[]]);
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

  describe("with bareFailingAccounts: accounts failing from sessions that showed nothing before the login", () => {
    const bareSignals: CompiledSignals = {
      siteAnomaly: { ...signals.siteAnomaly!, campaign: { distinctFailingShare: 0.8, slow: { within: "30m", failingAccounts: 20, perSignedIn: 2, bareFailingAccounts: 3 }, weight: 0 } },
    };
    /** A checker's minute: one wrong entry and two right ones, each a new account. */
    const checking = (minutes: number, client?: LoginClient) =>
      slowList(1, minutes, 1, client).map(([outcomes], minute) => [[...outcomes!, { username: `hit${minute}a`, failed: false }, { username: `hit${minute}b`, failed: false }]]);

    it("calls a list mostly right once 3 of its wrong entries failed from bare sessions, far below failingAccounts", async () => {
      expect((await play(checking(2, "bare"), bareSignals)).codes()).toEqual([[]]);
      const [found] = (await play(checking(3, "bare"), bareSignals)).codes();
      expect(found!.map((s) => s.code)).toEqual(["site.campaign"]);
      expect(found![0]!.detail).toContain("3 accounts failed from session-keeping clients against 6 that signed in, 0 of them failing too");
      expect(found![0]!.detail).toContain("3 failed from bare sessions (enough from 3)");
    });

    it("needs the failures to come from bare sessions: as many from sessions with a past are left to failingAccounts", async () => {
      expect((await play(checking(10), bareSignals)).codes()).toEqual([[]]);
      expect((await play(checking(10, "sessionless"), bareSignals)).codes()).toEqual([[]]);
    });

    it("stays silent when the accounts that failed from bare sessions then signed in: people who came straight to the form and mistyped", async () => {
      const straightToTheForm: Outcome[][][] = Array.from({ length: 10 }, (_, minute) => [[
        { username: `person${minute}`, failed: true, client: "bare" },
        { username: `person${minute}`, failed: false, client: "bare" },
        ...(minute % 3 === 0 ? [{ username: `forgot${minute}`, failed: true, client: "bare" as const }] : []),
      ]]);
      expect((await play(straightToTheForm, bareSignals)).codes()).toEqual([[]]);
    });

    it("counts a bare login denied while the call holds as a bare account that failed", async () => {
      const held = await play(checking(3, "bare"), bareSignals);
      const dropped = await play(checking(3, "bare"), bareSignals);
      // 70 minutes on, both 30-minute spans are past the list's own failures: only the denials it kept knocking with
      // count, one every five minutes, far fewer than failingAccounts.
      for (let minute = 3; minute < 70; minute++) {
        if (minute % 5 === 0) {
          held.replicas[0]!.recordDenied("login", `denied${minute}`, "bare");
          dropped.replicas[0]!.recordDenied("login", `denied${minute}`);
        }
        await flushAll(held.replicas, held.policy, (minute + 1) * MINUTE - 1);
        await flushAll(dropped.replicas, dropped.policy, (minute + 1) * MINUTE - 1);
      }
      const at = loginAt(70 * MINUTE);
      expect(held.replicas[0]!.signalsFor(at, endpoint, bareSignals, []).map((s) => s.code)).toEqual(["site.campaign"]);
      expect(dropped.replicas[0]!.signalsFor(at, endpoint, bareSignals, [])).toEqual([]);
    });
  });

  it("is never started by denials alone", async () => {
    const { replicas, policy, codes } = await play([[[{ username: "shopper", failed: false }]]]);
    for (let i = 0; i < 40; i++) replicas[0]!.recordDenied("login", `denied${i}`);
    await flushAll(replicas, policy, 2 * MINUTE);
    expect(codes()).toEqual([[]]);
  });
});
