import { randomUUID } from "node:crypto";
import { durationMs } from "../config/duration.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { cookieValue } from "../domain/cookies.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { BaselineState, EntityOp, Store } from "../state/store.js";
import { Cadence } from "./cadence.js";
import { claimsBrowser } from "./login.js";
import type { Signal } from "./signal.js";

/** How often local counts are merged into the shared store (docs/design.md, the store: about once a second). */
export const FLUSH_EVERY_MS = 1_000;
export const MINUTE_MS = 60_000;
/** Baselines not updated for this long are forgotten: the site changed too much since. */
export const BASELINE_RETENTION_MS = 30 * 86_400_000;
/**
 * A header shape belongs to the anomalous cohort when most of its recent attempts failed and it
 * failed often enough to matter. Real browsers share shapes with millions of users whose
 * failure ratio stays near the site's normal, so a popular shape is not swept in.
 */
const COHORT_FAILURE_RATIO = 0.5;
const COHORT_MIN_FAILURES = 10;
/** Failed usernames remembered per minute; beyond this a flood is counted as failures only. */
const MAX_FAILED_USERS = 10_000;
/**
 * The latest failed logins and attempts kept for the early campaign call: a few seconds' worth
 * below the volume floor. When the attempts within its span outnumber this, the traffic is far
 * above the floor and the merged figures speak instead.
 */
const LATEST_FAILURES = 32;
const LATEST_ATTEMPTS = 128;

type Metric = "attempt_rate" | "failure_ratio";

export interface SiteAnomaly {
  metric: Metric;
  value: number;
  threshold: number;
  /** Whether the threshold came from a learned baseline or from the policy's priors. */
  source: "baseline" | "prior";
  /** Kept in force while most logins are denied (see `holdCampaign`): the logins denied over the last minute. */
  heldBy?: number;
}

/**
 * What a login's client kept of the site's session: none of its cookies (`client.no_session`), or
 * cookies of a session nothing of which reached Palisade before the login (`session.bare_login`).
 * Absent: a session with a past, or unknown.
 */
export type LoginClient = "sessionless" | "bare";

type SlowCampaign = NonNullable<NonNullable<NonNullable<CompiledSignals["siteAnomaly"]>["campaign"]>["slow"]>;
type ShapeCounts = Map<string, { attempts: number; failures: number }>;
interface LatestFailure {
  timeMs: number;
  usernameId: string;
  sessionless?: boolean;
  denied?: boolean;
}
interface Login {
  timeMs: number;
  usernameId: string;
}
/**
 * What the other replicas saw for the early call, as of their latest merge (`#exchange`): their
 * latest failed, stepped-up and successful logins and allowed attempts within `within`, and for
 * the distinct failing share their failed logins of this minute and the last, the usernames among
 * them that did not sign in there and those that signed in (at most MAX_SHARED_USERNAMES each;
 * `unlisted` counts the failing ones left out). Empty with one replica.
 */
interface OthersEvidence {
  failures: LatestFailure[];
  steppedUp: Login[];
  successes: Login[];
  attempts: number[];
  failedLogins: number;
  failing: Set<string>;
  signedIn: Set<string>;
  unlisted: number;
}
const NO_EVIDENCE: OthersEvidence = { failures: [], steppedUp: [], successes: [], attempts: [], failedLogins: 0, failing: new Set(), signedIn: new Set(), unlisted: 0 };
/**
 * Usernames a replica publishes for the distinct failing share, failing and signed in each: far
 * more than a quiet site's two minutes hold. Past it a campaign is far above the volume floor and
 * the most recent are shared (22-character pseudonyms: some 26 kB for both lists).
 */
const MAX_SHARED_USERNAMES = 512;

interface FailedUsers {
  failures: number;
  usernames: Set<string>;
  /** Usernames that signed in: a person who mistyped or had a stale password gets in soon after. */
  succeeded: Set<string>;
}

interface EndpointActivity {
  pendingAttempts: number;
  pendingFailures: number;
  /** Login attempts Palisade denied during a campaign (they have no outcome): what keeps it in force. */
  pendingDenied: number;
  /** The campaign's distinct failing share when its hold began; undefined while not held. */
  heldShare: number | undefined;
  /** Failed logins and the pseudonymised usernames that failed, this minute and the last (this replica). */
  failedUsers: FailedUsers;
  recentFailedUsers: FailedUsers;
  /** Attempts and failures by header shape this minute and the last, for the cohort. */
  shapes: ShapeCounts;
  recentShapes: ShapeCounts;
  lastMinute: number;
  baselines: Partial<Record<Metric, BaselineState>>;
  anomalies: SiteAnomaly[];
  /**
   * The latest failed logins with a username, oldest first (at most LATEST_FAILURES);
   * `sessionless` when the login carried none of the site's session cookies; `denied` for a
   * login denied on the early call (see `recordDeniedEarly`).
   */
  latestFailures: LatestFailure[];
  /** The latest logins answered with a step-up (at most LATEST_FAILURES): see `recordSteppedUp`. */
  latestSteppedUp: Login[];
  /** The latest successful logins (at most LATEST_ATTEMPTS): with `latestFailures`, the outcomes known so far. */
  latestSuccesses: Login[];
  /** When the latest allowed attempts were made, oldest first (at most LATEST_ATTEMPTS). */
  latestAttempts: number[];
  others: OthersEvidence;
  /**
   * For the slow call (`campaign.slow`): usernames that failed from session-keeping clients, or were
   * denied while the slow call held, those of them from bare sessions, and usernames that signed
   * in, since the last merge (at most MAX_FAILED_USERS each); and the long window's distinct
   * counts as of that merge, when they make a campaign.
   */
  pendingSlowFailing: Set<string>;
  pendingSlowSignedIn: Set<string>;
  /** Of the failing ones, those from bare sessions (`session.bare_login`), for `bareFailingAccounts`. */
  pendingSlowBare: Set<string>;
  slowCall: { failing: number; signedIn: number; recovered: number; bare: number } | undefined;
  /** When the store last answered the slow call's counts. */
  slowAnsweredMs: number;
}

/**
 * Site-wide figures per authentication endpoint — attempts per minute and the failure ratio —
 * against baselines learned by hour of day. Every replica counts locally and merges its counts
 * into the store about once a second (no hot key written per request); one replica folds each
 * finished minute into the shared baseline. Only allowed attempts and their outcomes are
 * counted, and nothing is learned while an anomaly is active, so attacks do not become normal.
 *
 * Time is event time: merges happen as event time passes, so replay behaves like live traffic.
 */
export class SiteActivity {
  readonly #endpoints = new Map<string, EndpointActivity>();
  /** This replica's name among those that publish their early-call evidence to the store. */
  readonly #replica = randomUUID();
  readonly #cadence = new Cadence();
  #flushing: Promise<void> | undefined;

  constructor(private readonly store: Store) {}

  recordAttempt(endpoint: string, headerShape: string, timeMs?: number): void {
    const activity = this.#activity(endpoint);
    activity.pendingAttempts += 1;
    if (timeMs !== undefined) {
      activity.latestAttempts.push(timeMs);
      if (activity.latestAttempts.length > LATEST_ATTEMPTS) activity.latestAttempts.shift();
    }
    shapeCounts(activity.shapes, headerShape).attempts += 1;
  }

  /**
   * A login attempt Palisade denied while `site.campaign` was in force. It is not counted as an
   * attempt (baselines learn only from allowed traffic, and it has no outcome) but it keeps the
   * campaign in force (`holdCampaign`).
   */
  recordDenied(endpoint: string, usernameId?: string, client?: LoginClient): void {
    const activity = this.#activity(endpoint);
    activity.pendingDenied += 1;
    // While the slow call holds, a denied account counts as one that failed and stayed out, as for the early call.
    if (usernameId && activity.slowCall) {
      addBounded(activity.pendingSlowFailing, usernameId);
      if (client === "bare") addBounded(activity.pendingSlowBare, usernameId);
    }
  }

  /**
   * A login Palisade denied while `site.campaign_early` was in force: counted, for the early call
   * only, as an account that failed and stayed out (it was never let try its password), so that
   * answering the call with a denial keeps it in force as the failures it stopped would have.
   * Neither an attempt nor a failure of the merged figures, which learn from allowed logins only.
   */
  recordDeniedEarly(endpoint: string, usernameId: string, timeMs: number, sessionless?: boolean): void {
    const activity = this.#activity(endpoint);
    activity.failedUsers.failures += 1;
    if (activity.failedUsers.usernames.size < MAX_FAILED_USERS) activity.failedUsers.usernames.add(usernameId);
    pushLatest(activity.latestFailures, { timeMs, usernameId, ...(sessionless ? { sessionless } : {}), denied: true });
  }

  /** `client`: what the login kept of the site's session (see `LoginClient`); sessionless failures are left to `earlyCampaign`'s rules and out of the slow call. */
  recordOutcome(endpoint: string, failed: boolean, headerShape: string | undefined, usernameId?: string, timeMs?: number, client?: LoginClient): void {
    const activity = this.#activity(endpoint);
    const sessionless = client === "sessionless";
    if (!failed) {
      if (usernameId) addBounded(activity.pendingSlowSignedIn, usernameId);
      if (usernameId && activity.failedUsers.succeeded.size < MAX_FAILED_USERS) activity.failedUsers.succeeded.add(usernameId);
      if (usernameId && timeMs !== undefined) {
        activity.latestSuccesses.push({ timeMs, usernameId });
        if (activity.latestSuccesses.length > LATEST_ATTEMPTS) activity.latestSuccesses.shift();
      }
      return;
    }
    activity.pendingFailures += 1;
    if (usernameId) {
      if (!sessionless) addBounded(activity.pendingSlowFailing, usernameId);
      if (client === "bare") addBounded(activity.pendingSlowBare, usernameId);
      activity.failedUsers.failures += 1;
      if (activity.failedUsers.usernames.size < MAX_FAILED_USERS) activity.failedUsers.usernames.add(usernameId);
      if (timeMs !== undefined) pushLatest(activity.latestFailures, sessionless ? { timeMs, usernameId, sessionless } : { timeMs, usernameId });
    }
    if (headerShape) shapeCounts(activity.shapes, headerShape).failures += 1;
  }

  /**
   * A login answered with a step-up, from a client that kept the session: an account tried from a
   * device and network it never used (or, during a campaign, never signed in at all). A list of
   * mostly valid credentials shows itself this way on accounts with a history, right password or
   * wrong, before any outcome is in, so the early call counts these with the failing accounts.
   */
  recordSteppedUp(endpoint: string, usernameId: string, timeMs: number): void {
    const activity = this.#activity(endpoint);
    activity.latestSteppedUp.push({ timeMs, usernameId });
    if (activity.latestSteppedUp.length > LATEST_FAILURES) activity.latestSteppedUp.shift();
  }

  /** Site-wide anomalies in force on this endpoint, and the cohort signal for this request. */
  signalsFor(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals, related: readonly Signal[]): Signal[] {
    const config = anomalyConfig(endpoint, signals);
    const activity = this.#endpoints.get(endpoint.name);
    if (!config || !activity) return [];
    if (activity.anomalies.length === 0) return endpoint.authentication ? [...earlyCampaign(activity, config, request.timeMs), ...slowCampaign(activity, config)] : [];
    const found: Signal[] = activity.anomalies.map((anomaly) => ({
      code: `site.${anomaly.metric}`,
      value: anomaly.value,
      threshold: anomaly.threshold,
      weight: config.weight,
      fired: true,
      detail: `${request.endpoint}, threshold from ${anomaly.source}${anomaly.heldBy === undefined ? "" : `, held: ${anomaly.heldBy} logins denied over the last minute, more than were allowed`}`,
    }));
    const campaign = endpoint.authentication ? config.campaign : undefined;
    const share = campaign && activity.anomalies.some((a) => a.metric === "failure_ratio") ? (activity.heldShare ?? distinctFailingShare(activity)) : 0;
    if (campaign && share >= campaign.distinctFailingShare) {
      found.push({
        code: "site.campaign",
        value: share,
        threshold: campaign.distinctFailingShare,
        weight: campaign.weight,
        fired: true,
        detail: "distinct usernames that failed and never signed in, per failed login over the last two minutes, against the policy's prior",
      });
    } else if (endpoint.authentication) {
      found.push(...earlyCampaign(activity, config, request.timeMs), ...slowCampaign(activity, config));
    }
    if (endpoint.authentication ? inLoginCohort(request, activity, signals, related) : inCatalogueCohort(request, related)) {
      found.push({ code: "cohort.anomalous", value: 1, weight: config.cohortWeight, fired: true, detail: "looks like the anomalous traffic" });
    }
    return found;
  }

  /**
   * Merges local counts once per second of event time; concurrent callers share one merge.
   * `ahead`: the keeper's call, which merges only while no Check asks and a little ahead of time
   * (Cadence.dueAhead).
   */
  maybeFlush(policy: CompiledPolicy, nowMs: number, ahead = false): Promise<void> | undefined {
    // Nothing due (all but one Check a second): no promise.
    if (!policy.signals.siteAnomaly && !policy.signals.scraping?.siteAnomaly) return undefined;
    if (!(ahead ? this.#cadence.dueAhead(nowMs, FLUSH_EVERY_MS) : this.#cadence.due(nowMs, FLUSH_EVERY_MS))) return undefined;
    this.#flushing ??= this.#flush(policy, nowMs).finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #flush(policy: CompiledPolicy, nowMs: number): Promise<void> {
    await Promise.all(
      policy.endpoints.map(async (endpoint) => {
        const config = anomalyConfig(endpoint, policy.signals);
        if (!config) return;
        const { name } = endpoint;
        const activity = this.#activity(name);
        const ops = [
          { op: "window.add" as const, name: "att", windowMs: MINUTE_MS, amount: activity.pendingAttempts },
          { op: "window.add" as const, name: "fail", windowMs: MINUTE_MS, amount: activity.pendingFailures },
        ];
        // Only logins are held: a catalogue anomaly's denials are left as they were.
        if (endpoint.authentication) ops.push({ op: "window.add", name: "den", windowMs: MINUTE_MS, amount: activity.pendingDenied });
        const early = endpoint.authentication ? config.campaign?.early : undefined;
        const slow = endpoint.authentication ? config.campaign?.slow : undefined;
        const [results] = await Promise.all([
          this.store.apply(`site:${name}`, slow ? [...ops, ...slowOps(activity, durationMs(slow.within))] : ops, nowMs).catch(() => undefined),
          early ? this.#exchange(name, activity, durationMs(early.within), nowMs) : undefined,
        ]);
        const [attempts = 0, failures = 0, denied = 0] = results ?? [];
        activity.pendingAttempts = 0;
        activity.pendingFailures = 0;
        activity.pendingDenied = 0;
        activity.pendingSlowFailing.clear();
        activity.pendingSlowSignedIn.clear();
        activity.pendingSlowBare.clear();
        // The store unreachable: the last call stands until it answers again, for at most the
        // call's own window (a list still knocking would have kept it up; a call no merge confirms ends).
        if (slow && results) {
          activity.slowCall = slowCallOf(results.at(-4) ?? 0, results.at(-3) ?? 0, results.at(-2) ?? 0, results.at(-1) ?? 0, slow);
          activity.slowAnsweredMs = nowMs;
        } else if (slow && nowMs - activity.slowAnsweredMs > durationMs(slow.within)) activity.slowCall = undefined;
        const current = { attempt_rate: attempts, failure_ratio: attempts > 0 ? Math.min(1, failures / attempts) : 0 };
        if (Math.floor(nowMs / MINUTE_MS) > activity.lastMinute) await this.#learn(name, activity, current, config, nowMs);
        const fresh = attempts < config.minAttemptsPerMinute ? [] : detect(current, activity.baselines, config);
        activity.anomalies = endpoint.authentication ? holdCampaign(activity, fresh, attempts, denied, config.minAttemptsPerMinute) : fresh;
      }),
    );
  }

  /**
   * Shares the early call's evidence between replicas, at the pace of the site-wide merge: this
   * replica publishes what it saw within `withinMs` (and the usernames of its distinct failing
   * share) and takes the others' in place of their last. A replica then calls the campaign from
   * the failing accounts of the whole site, not from its share of them, a merge or two late.
   */
  async #exchange(endpoint: string, activity: EndpointActivity, withinMs: number, nowMs: number): Promise<void> {
    const exchange = this.store.exchange?.bind(this.store);
    if (!exchange) return;
    const publication = { name: "early", replica: this.#replica, evidence: encodeEvidence(ownEvidence(activity, nowMs - withinMs, nowMs)), ttlMs: withinMs };
    const others = await exchange(`site:${endpoint}`, publication, nowMs).catch(() => undefined);
    activity.others = others === undefined ? NO_EVIDENCE : mergeEvidence(others);
  }

  /** At each minute boundary: fold the last minute into the baseline, unless it was anomalous. */
  async #learn(
    endpoint: string,
    activity: EndpointActivity,
    current: Record<Metric, number>,
    config: NonNullable<CompiledSignals["siteAnomaly"]>,
    nowMs: number,
  ): Promise<void> {
    const minute = Math.floor(nowMs / MINUTE_MS);
    activity.lastMinute = minute;
    activity.recentShapes = activity.shapes;
    activity.shapes = new Map();
    activity.recentFailedUsers = activity.failedUsers;
    activity.failedUsers = { failures: 0, usernames: new Set(), succeeded: new Set() };
    const hour = new Date(nowMs).getUTCHours();
    const learn = activity.anomalies.length === 0;
    for (const metric of ["attempt_rate", "failure_ratio"] as const) {
      // An anomalous minute is not learned; without a baseline yet there is nothing to read either.
      if (!learn && !activity.baselines[metric]) continue;
      const name = `${metric}:h${hour}`;
      const observation = { period: learn ? minute : 0, value: current[metric], alpha: config.learningRate, retentionMs: BASELINE_RETENTION_MS };
      // Period 0 is never newer than a stored one: the call then only reads the baseline.
      activity.baselines[metric] = await this.store.observeBaseline(`site:${endpoint}`, name, observation).catch(() => activity.baselines[metric]!);
    }
  }

  #activity(endpoint: string): EndpointActivity {
    let activity = this.#endpoints.get(endpoint);
    if (!activity) {
      activity = {
        pendingAttempts: 0,
        pendingFailures: 0,
        pendingDenied: 0,
        heldShare: undefined,
        failedUsers: { failures: 0, usernames: new Set(), succeeded: new Set() },
        recentFailedUsers: { failures: 0, usernames: new Set(), succeeded: new Set() },
        shapes: new Map(),
        recentShapes: new Map(),
        lastMinute: 0,
        baselines: {},
        anomalies: [],
        latestFailures: [],
        latestSteppedUp: [],
        latestSuccesses: [],
        latestAttempts: [],
        others: NO_EVIDENCE,
        pendingSlowFailing: new Set(),
        pendingSlowSignedIn: new Set(),
        pendingSlowBare: new Set(),
        slowCall: undefined,
        slowAnsweredMs: 0,
      };
      this.#endpoints.set(endpoint, activity);
    }
    return activity;
  }
}

/**
 * During a catalogue anomaly (many more requests, or many more 404s, than the baseline), the
 * cohort is clients that say they are browsers but never loaded a page or asset: people browse
 * pages, while a scraper spread over many addresses calls the API directly. The storefront's
 * own apps do not claim to be browsers and stay out of it.
 */
function inCatalogueCohort(request: NormalisedRequest, related: readonly Signal[]): boolean {
  if (related.some((s) => s.code === "client.automation" || s.code === "client.library")) return true;
  const pages = related.find((s) => s.code === "ip.page_views");
  return pages !== undefined && pages.value === 0 && claimsBrowser(request);
}

/** The site-anomaly settings that apply to an endpoint: login ones, catalogue ones, or none. */
function anomalyConfig(endpoint: CompiledEndpoint, signals: CompiledSignals) {
  if (endpoint.authentication) return signals.siteAnomaly;
  return endpoint.resourceSegment !== undefined ? signals.scraping?.siteAnomaly : undefined;
}

/**
 * A campaign is detected from allowed logins and their outcomes, and once the rules deny its
 * logins those stop coming: without a hold, the failure ratio would fall under its threshold
 * (or the attempts under `minAttemptsPerMinute`) a minute into the mitigation, the rules would
 * let the list in again until its failures showed once more, and so on. So the failure-ratio
 * anomaly measured before stays in force, with the distinct failing share of that moment, while
 * the logins denied during the campaign over the last minute are at least `minAttemptsPerMinute`
 * and more than those allowed: the campaign is still knocking and being answered. Logins denied
 * on other evidence (addresses held for their own failures) are not counted: those sources are
 * answered already, and holding the campaign for them would only ask shoppers longer. Denials
 * can only keep a campaign that allowed traffic showed, never start one, and shoppers alone do
 * not hold it: the rules that act during a campaign deny a small share of their logins (first
 * sign-ins, new devices on new networks), and a person who passes the challenge comes back
 * allowed.
 */
function holdCampaign(activity: EndpointActivity, fresh: SiteAnomaly[], attempts: number, denied: number, minAttempts: number): SiteAnomaly[] {
  const measured = fresh.some((a) => a.metric === "failure_ratio");
  const before = activity.anomalies.find((a) => a.metric === "failure_ratio");
  if (measured || !before || denied < minAttempts || denied <= attempts) {
    activity.heldShare = undefined;
    return fresh;
  }
  activity.heldShare ??= distinctFailingShare(activity);
  return [...fresh.filter((a) => a.metric !== "failure_ratio"), { ...before, heldBy: denied }];
}

/**
 * `site.campaign_early`: the campaign before the site-wide volume floor (`minAttemptsPerMinute`) is reached, with
 * `campaign.early`: a list checked from the first seconds of a cold start. As this replica saw
 * them, without waiting for the once-a-second merge, and as the other replicas saw them at their
 * last merge (`#exchange`): within `within` before this login,
 * `failingAccounts` distinct accounts failed and did not sign in since, or were asked for a step-up
 * (tried from a device and network the account never used), and failures were more of
 * the allowed attempts than the failure-ratio threshold (the learned baseline's once trusted, the
 * priors' before); and over this minute and the last the accounts that failed and stayed out are
 * at least `distinctFailingShare` of the failed logins (people who mistype get into their own
 * account soon after, and leave the count). The volume floor keeps a few unlucky logins on a
 * quiet site from being called an anomaly; here accounts failing together within seconds and
 * staying out stand in for it. A list tried slowly (low-and-slow) never puts that many together
 * and is left to the per-address signals. Weightless like the campaign it anticipates: only rules
 * that ask for it act on it. Its own code, `site.campaign_early`, because it is weaker evidence
 * than the merged call. A rule that denies on it (a challenge before the password is checked)
 * stops the very failures that called it; so a login denied while it is in force counts here as
 * an account that failed and stayed out (`recordDeniedEarly`): the call lasts while the list
 * keeps knocking and ends `within` after it stops, as it would have with the failures let
 * through. Denials only ever extend a call that allowed failures made.
 */
function earlyCampaign(activity: EndpointActivity, config: NonNullable<CompiledSignals["siteAnomaly"]>, nowMs: number): Signal[] {
  const early = config.campaign?.early;
  if (!config.campaign || !early) return [];
  const fromMs = nowMs - durationMs(early.within);
  const together = failingTogether(activity, fromMs, nowMs);
  if (together < early.failingAccounts) return [];
  const within = (timeMs: number) => timeMs >= fromMs && timeMs <= nowMs;
  const { others } = activity;
  const allowed = countWithin(activity.latestAttempts, within) + countWithin(others.attempts, within);
  // A full ring's worth within the span: far above the floor, where the merged figures speak.
  if (allowed >= LATEST_ATTEMPTS) return [];
  // Over the outcomes known so far: attempts still waiting for theirs would dilute a burst's start.
  // The call's own denials are among the failures: attempts that stayed out, as their failures would have.
  const failures = countWithin(activity.latestFailures, within, (f) => f.timeMs) + countWithin(others.failures, within, (f) => f.timeMs);
  const successes = countWithin(activity.latestSuccesses, within, (s) => s.timeMs) + countWithin(others.successes, within, (s) => s.timeMs);
  const threshold = failureRatioThreshold(activity.baselines, config);
  if (failures === 0 || failures / (failures + successes) <= threshold.value) return [];
  const share = distinctFailingShare(activity);
  if (share < config.campaign.distinctFailingShare) return [];
  return [{
    code: "site.campaign_early",
    value: share,
    threshold: config.campaign.distinctFailingShare,
    weight: config.campaign.weight,
    fired: true,
    detail: `early call below the volume floor: ${together} accounts failed and did not sign in, or were asked for a step-up, within ${early.within}, failure ratio above ${Math.round(threshold.value * 1000) / 1000} (${threshold.source}), ${others === NO_EVIDENCE ? "on this replica" : "on this replica and the others as of their last merge"}`,
  }];
}

/**
 * Distinct usernames among the latest failures between `fromMs` and `toMs` that did not sign in
 * since (this minute or the last), and among the latest logins answered with a step-up
 * (`recordSteppedUp`), from clients that kept the site's session: a failure from a
 * client carrying none of its session cookies is answered login by login (`client.no_session`,
 * which the example's `unproven-login` steps up for an account that never signed in), so a list
 * checked that way needs no site-wide call, and calling one would only ask shoppers, who carry
 * the site's cookie, for a second factor beside it.
 */
function failingTogether(activity: EndpointActivity, fromMs: number, toMs: number): number {
  const { others } = activity;
  const usernames = new Set<string>();
  for (const failures of [activity.latestFailures, others.failures]) {
    for (const { timeMs, usernameId, sessionless } of failures) {
      if (!sessionless && timeMs >= fromMs && timeMs <= toMs && !signedInAnywhere(activity, usernameId)) usernames.add(usernameId);
    }
  }
  for (const steppedUp of [activity.latestSteppedUp, others.steppedUp]) {
    for (const { timeMs, usernameId } of steppedUp) {
      if (timeMs >= fromMs && timeMs <= toMs) usernames.add(usernameId);
    }
  }
  return usernames.size;
}

/**
 * Distinct usernames that failed and did not sign in, per failed login, over this minute and the
 * last: near 1 when a list walks through accounts (each fails once and stays out), low when
 * people mistype or autofill a stale password and then get into their own account. With several
 * replicas, over the usernames all of them saw (as of their last merge): a person whose retry or
 * sign-in landed on another replica is one account that got in, not a failing account on each.
 */
function distinctFailingShare(activity: EndpointActivity): number {
  const { failedUsers: now, recentFailedUsers: recent, others } = activity;
  const failures = now.failures + recent.failures + others.failedLogins;
  if (failures === 0) return 0;
  let distinct = others.unlisted;
  for (const username of now.usernames) if (!signedInAnywhere(activity, username)) distinct += 1;
  for (const username of recent.usernames) if (!now.usernames.has(username) && !signedInAnywhere(activity, username)) distinct += 1;
  for (const username of others.failing) if (!now.usernames.has(username) && !recent.usernames.has(username) && !signedInAnywhere(activity, username)) distinct += 1;
  return Math.round(Math.min(1, distinct / failures) * 1000) / 1000;
}

/** Whether `username` signed in this minute or the last, here or (as of their last merge) on another replica. */
function signedInAnywhere(activity: EndpointActivity, username: string): boolean {
  return activity.failedUsers.succeeded.has(username) || activity.recentFailedUsers.succeeded.has(username) || activity.others.signedIn.has(username);
}

/** The usernames of this minute and the last that failed here and did not sign in here, and those that signed in. */
function sharedUsernames(activity: EndpointActivity): Pick<OthersEvidence, "failedLogins" | "failing" | "signedIn" | "unlisted"> {
  const { failedUsers: now, recentFailedUsers: recent } = activity;
  // Loops rather than spreads of the sets: this runs at every merge, over up to MAX_FAILED_USERS each.
  const signedIn = new Set(recent.succeeded);
  for (const username of now.succeeded) signedIn.add(username);
  const failing: string[] = [];
  for (const username of recent.usernames) if (!signedIn.has(username)) failing.push(username);
  for (const username of now.usernames) if (!recent.usernames.has(username) && !signedIn.has(username)) failing.push(username);
  return {
    failedLogins: now.failures + recent.failures,
    failing: new Set(failing.length > MAX_SHARED_USERNAMES ? failing.slice(-MAX_SHARED_USERNAMES) : failing),
    signedIn: signedIn.size > MAX_SHARED_USERNAMES ? new Set([...signedIn].slice(-MAX_SHARED_USERNAMES)) : signedIn,
    unlisted: Math.max(0, failing.length - MAX_SHARED_USERNAMES),
  };
}

function countWithin<T>(items: readonly T[], within: (timeMs: number) => boolean, timeOf: (item: T) => number = (item) => item as number): number {
  let count = 0;
  for (const item of items) if (within(timeOf(item))) count += 1;
  return count;
}

/** What this replica publishes for the others' early call: its latest logins between `fromMs` and `toMs`. */
function ownEvidence(activity: EndpointActivity, fromMs: number, toMs: number): OthersEvidence {
  return {
    failures: activity.latestFailures.filter((f) => f.timeMs >= fromMs && f.timeMs <= toMs),
    steppedUp: activity.latestSteppedUp.filter((s) => s.timeMs >= fromMs && s.timeMs <= toMs),
    successes: activity.latestSuccesses.filter((s) => s.timeMs >= fromMs && s.timeMs <= toMs),
    attempts: activity.latestAttempts.filter((timeMs) => timeMs >= fromMs && timeMs <= toMs),
    ...sharedUsernames(activity),
  };
}

/**
 * Compact JSON: `f` failures as [time, username, flags] (1 sessionless, 2 denied), `s` step-ups
 * and `k` successes as [time, username], `a` attempt times, `n` [failed logins, unlisted], `u`
 * the failing usernames and `g` those signed in. Empty (nothing published) when there is nothing
 * to tell.
 */
function encodeEvidence(evidence: OthersEvidence): string {
  const { failures, steppedUp, successes, attempts, failedLogins, failing, signedIn, unlisted } = evidence;
  if (failures.length + steppedUp.length + successes.length + attempts.length + failedLogins + signedIn.size === 0) return "";
  const pair = (login: Login) => [login.timeMs, login.usernameId];
  return JSON.stringify({
    f: failures.map((f) => [f.timeMs, f.usernameId, (f.sessionless ? 1 : 0) | (f.denied ? 2 : 0)]),
    s: steppedUp.map(pair),
    k: successes.map(pair),
    a: attempts,
    n: [failedLogins, unlisted],
    u: [...failing],
    g: [...signedIn],
  });
}

/** The other replicas' publications as one body of evidence; text this version cannot read is skipped. */
function mergeEvidence(publications: readonly string[]): OthersEvidence {
  if (publications.length === 0) return NO_EVIDENCE;
  const merged: OthersEvidence = { failures: [], steppedUp: [], successes: [], attempts: [], failedLogins: 0, failing: new Set(), signedIn: new Set(), unlisted: 0 };
  for (const text of publications) {
    const evidence = decodeEvidence(text);
    if (!evidence) continue;
    merged.failures.push(...evidence.failures);
    merged.steppedUp.push(...evidence.steppedUp);
    merged.successes.push(...evidence.successes);
    merged.attempts.push(...evidence.attempts);
    merged.failedLogins += evidence.failedLogins;
    merged.unlisted += evidence.unlisted;
    for (const username of evidence.failing) merged.failing.add(username);
    for (const username of evidence.signedIn) merged.signedIn.add(username);
  }
  return merged;
}

function decodeEvidence(text: string): OthersEvidence | undefined {
  try {
    const { f, s, k, a, n, u, g } = JSON.parse(text) as Record<string, unknown>;
    const isLogin = (item: unknown): item is [number, string, ...unknown[]] => Array.isArray(item) && typeof item[0] === "number" && typeof item[1] === "string";
    if (![f, s, k].every((list) => Array.isArray(list) && list.every(isLogin)) || !Array.isArray(a) || !a.every((t) => typeof t === "number")) return undefined;
    if (!Array.isArray(n) || typeof n[0] !== "number" || typeof n[1] !== "number") return undefined;
    const usernames = (list: unknown) => Array.isArray(list) && list.every((username) => typeof username === "string");
    if (!usernames(u) || !usernames(g)) return undefined;
    const login = ([timeMs, usernameId]: [number, string, ...unknown[]]): Login => ({ timeMs, usernameId });
    return {
      failures: (f as Array<[number, string, number]>).map(([timeMs, usernameId, flags]) => ({
        timeMs,
        usernameId,
        ...(flags & 1 ? { sessionless: true } : {}),
        ...(flags & 2 ? { denied: true } : {}),
      })),
      steppedUp: (s as Array<[number, string]>).map(login),
      successes: (k as Array<[number, string]>).map(login),
      attempts: a as number[],
      failedLogins: n[0],
      unlisted: n[1],
      failing: new Set(u as string[]),
      signedIn: new Set(g as string[]),
    };
  } catch {
    return undefined;
  }
}

/**
 * The slow call's writes and reads, last in the merge: each username since the last merge into
 * the long window's distinct counts (HyperLogLogs, bounded whatever the traffic), then the counts:
 * accounts that failed, that signed in, and both together (their union, so that the failing
 * accounts that signed in too are the first two less the union), and the failing accounts from
 * bare sessions.
 */
function slowOps(activity: EndpointActivity, windowMs: number): EntityOp[] {
  const add = (name: string) => (member: string): EntityOp => ({ op: "distinct.add", name, windowMs, member, count: false });
  return [
    ...[...activity.pendingSlowFailing].map(add("slowf")),
    ...[...activity.pendingSlowSignedIn].map(add("slows")),
    ...[...activity.pendingSlowFailing, ...activity.pendingSlowSignedIn].map(add("slowu")),
    ...[...activity.pendingSlowBare].map(add("slowb")),
    { op: "distinct.add", name: "slowf", windowMs },
    { op: "distinct.add", name: "slows", windowMs },
    { op: "distinct.add", name: "slowu", windowMs },
    { op: "distinct.add", name: "slowb", windowMs },
  ];
}

/**
 * A list fails on every wrong entry, and an account it got wrong stays out; a person who fails
 * mostly gets in a moment later. So the failing accounts are compared with those of them that
 * signed in as well (failing and signed in, less their union): a list of mostly right credentials
 * signs in as often as it fails, but never into the accounts it got wrong.
 */
function slowCallOf(failing: number, signedIn: number, tried: number, bare: number, slow: SlowCampaign): EndpointActivity["slowCall"] {
  const recovered = Math.min(signedIn, Math.max(0, failing + signedIn - tried));
  const enough = failing >= slow.failingAccounts || (slow.bareFailingAccounts !== undefined && bare >= slow.bareFailingAccounts);
  return enough && failing > slow.perSignedIn * recovered ? { failing, signedIn, recovered, bare } : undefined;
}

/**
 * `site.campaign` from the long window (`campaign.slow`), for a shop whose logins never reach the
 * volume floor: over the last `within` or two, at least `failingAccounts` distinct accounts failed
 * from clients that kept the site's session, more than `perSignedIn` times those of them that
 * signed in too. People who mistype or forgot a password mostly get in, each counted on both
 * sides; a list fails on a new account with every wrong entry, however slowly, and however many
 * of its entries are right.
 * With `bareFailingAccounts`, fewer failing accounts are enough when that many of them failed
 * from bare sessions (`session.bare_login`: nothing of the session reached Palisade before its
 * login): a checker loading the form on each proxy for its cookies fails that way on every wrong
 * entry, while people come to the form from the shop's pages and fail after them. The same
 * comparison with the accounts that signed in keeps out a shop whose own people mistype.
 * Counted by every replica into the same store keys, so the call is the site's. Failures without
 * the session are answered login by login (`client.no_session`) and left out, as for the early
 * call. Weightless like the merged call; its detail says the window and the counts.
 */
function slowCampaign(activity: EndpointActivity, config: NonNullable<CompiledSignals["siteAnomaly"]>): Signal[] {
  const slow = config.campaign?.slow;
  if (!slow || !activity.slowCall) return [];
  const { failing, signedIn, recovered, bare } = activity.slowCall;
  const bareDetail = slow.bareFailingAccounts === undefined ? "" : `; ${bare} failed from bare sessions (enough from ${slow.bareFailingAccounts})`;
  return [{
    code: "site.campaign",
    value: failing,
    threshold: slow.failingAccounts,
    weight: config.campaign!.weight,
    fired: true,
    detail: `slow call over ${slow.within} (counted over up to twice that): ${failing} accounts failed from session-keeping clients against ${signedIn} that signed in, ${recovered} of them failing too: above ${slow.perSignedIn} per failing account that signed in${bareDetail}`,
  }];
}

function addBounded(usernames: Set<string>, usernameId: string): void {
  if (usernames.size < MAX_FAILED_USERS) usernames.add(usernameId);
}

function pushLatest(latest: LatestFailure[], failure: LatestFailure): void {
  latest.push(failure);
  if (latest.length > LATEST_FAILURES) latest.shift();
}

function shapeCounts(shapes: ShapeCounts, shape: string): { attempts: number; failures: number } {
  let counts = shapes.get(shape);
  if (!counts) {
    // Bounded: beyond this many shapes in a minute the rest are not tracked (a flood of random shapes).
    if (shapes.size >= 10_000) return { attempts: 0, failures: 0 };
    counts = { attempts: 0, failures: 0 };
    shapes.set(shape, counts);
  }
  return counts;
}

function detect(
  current: Record<Metric, number>,
  baselines: Partial<Record<Metric, BaselineState>>,
  config: NonNullable<CompiledSignals["siteAnomaly"]>,
): SiteAnomaly[] {
  const priors = {
    attempt_rate: { mean: config.priors.attemptsPerMinute, stddev: config.priors.attemptsPerMinuteStddev },
    failure_ratio: { mean: config.priors.failureRatio, stddev: config.priors.failureRatioStddev },
  };
  return (["attempt_rate", "failure_ratio"] as const).flatMap((metric) => {
    const { value: threshold, source } = thresholdOf(metric, baselines[metric], priors[metric], config);
    const value = Math.round(current[metric] * 1000) / 1000;
    return value > threshold ? [{ metric, value, threshold: Math.round(threshold * 1000) / 1000, source }] : [];
  });
}

function failureRatioThreshold(baselines: Partial<Record<Metric, BaselineState>>, config: NonNullable<CompiledSignals["siteAnomaly"]>) {
  const prior = { mean: config.priors.failureRatio, stddev: config.priors.failureRatioStddev };
  return thresholdOf("failure_ratio", baselines.failure_ratio, prior, config);
}

/** The learned baseline once it saw `minSamples` minutes, the priors before. */
function thresholdOf(
  metric: Metric,
  learned: BaselineState | undefined,
  prior: { mean: number; stddev: number },
  config: NonNullable<CompiledSignals["siteAnomaly"]>,
): { value: number; source: "baseline" | "prior" } {
  const trusted = learned !== undefined && learned.samples >= config.minSamples;
  const mean = trusted ? learned.mean : prior.mean;
  const stddev = trusted ? Math.sqrt(learned.variance) : prior.stddev;
  // A flat baseline (variance 0) would call any blip an anomaly; a tenth of the mean is a floor.
  const threshold = mean + config.zScore * Math.max(stddev, mean * 0.1, metric === "failure_ratio" ? 0.02 : 1);
  return { value: threshold, source: trusted ? "baseline" : "prior" };
}

/**
 * During an anomaly, requests that resemble the failing traffic get extra risk and the rest do
 * not: a header shape whose recent attempts mostly failed, or a client pretending to be a
 * browser. Fingerprints of popular browsers are shared by countless real users, so they alone
 * never put a request in the cohort.
 */
function inLoginCohort(request: NormalisedRequest, activity: EndpointActivity, signals: CompiledSignals, related: readonly Signal[]): boolean {
  if (related.some((s) => s.code === "client.automation")) return true;
  if (browsedTheSite(request, signals, related)) return false;
  const recent = activity.recentShapes.get(request.headerShape);
  const now = activity.shapes.get(request.headerShape);
  const attempts = (recent?.attempts ?? 0) + (now?.attempts ?? 0);
  const failures = (recent?.failures ?? 0) + (now?.failures ?? 0);
  return failures >= COHORT_MIN_FAILURES && failures >= COHORT_FAILURE_RATIO * attempts;
}

/**
 * A client that carries one of the site's cookies (`cohorts.sessionCookies`) from an address
 * that loaded a page before this login: a person who browsed the site. Every browser of the
 * site's own visitors sends the same header names, so when many of them mistype their
 * passwords their shared shape fails as often as a stuffing list; they are kept out of the
 * failing cohort. A stuffer who browses and keeps cookies on every proxy is kept out too, and
 * is left to the per-address, per-account and per-fingerprint signals.
 */
function browsedTheSite(request: NormalisedRequest, signals: CompiledSignals, related: readonly Signal[]): boolean {
  const cookies = signals.cohorts?.sessionCookies;
  const header = request.headers.get("cookie");
  if (!cookies || !cookies.some((name) => cookieValue(header, name) !== undefined)) return false;
  const pages = related.find((s) => s.code === "sequence.no_page_view");
  return pages !== undefined && pages.value > 0;
}
