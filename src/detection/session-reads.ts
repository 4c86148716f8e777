import { LRUCache } from "lru-cache";
import { shortDigest } from "./digests.js";
import { browserSessionKey } from "./entities.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { guardHolds, slidingWindowEstimate, windowBucket } from "../state/store.js";
import { touch } from "./cohorts.js";
import { claimsBrowser } from "./login.js";
import { resourceIdOf } from "./scraping.js";
import type { PlannedOp, Signal, SignalPlan } from "./signal.js";

/** Store names of a browser session's reading: its last catalogue read, its last asset, its unfollowed reads. */
export const SESSION_READ_NAMES = { lastRead: "sr.read", lastAsset: "sr.asset", unfollowed: "sr.bare", reads: "sr.reads", queries: "sr.queries" } as const;
/** Header sets whose reading cohorts are tracked at once, and sessions remembered per cohort. */
const MAX_COHORTS = 10_000;
const MAX_MEMBERS = 256;
/** Sessions whose latest bare read is remembered (for their reads after a search), least recent forgotten first. */
const MAX_BARE_SESSIONS = 50_000;
/** Searches (queries without their page) remembered per session for session.pages_skipped, the most recent kept. */
const MAX_QUERIES = 32;
/** Sessions that skipped to a deep results page, remembered for their later reads; least recent forgotten first. */
const MAX_SKIPPED_SESSIONS = 50_000;
/**
 * A session's first product read waits this long for its picture before it is checked: a
 * browser asks for the picture as soon as the data is in, well within a second or two.
 */
const ABANDON_MS = 10_000;
/** First reads waiting to be checked; past this the oldest are dropped unchecked. */
const MAX_PENDING = 10_000;
const MINUTE_MS = 60_000;
/**
 * Depths of `site.shown_first_logins`, by the pages a session was shown before its login: 1, 2-3,
 * 4-7, 8-15, 16 and more (powers of two: the counts stay few, and a campaign that wants a deeper
 * bucket pays about as many page views again per attempt as it already does).
 */
const DEPTHS = 5;
/**
 * First logins at a depth or deeper in the minute below which `site.shown_first_logins` is never
 * said: on a shop far below one login a second, one shopper's first sign-in is most of the
 * minute's logins by itself, while a campaign that buys pages makes one such login after another.
 */
const MIN_SHOWN_FIRST_LOGINS = 2;
/**
 * The cohort's share of unfollowed reads is over the last minute, its members over the cohort
 * window: the share in steady state is the same over any window, but over an hour of shoppers'
 * reads a campaign that starts (or whose sessions come back for their second read all at once)
 * would take minutes to show in it.
 */
const SHARE_WINDOW_MS = MINUTE_MS;

type Config = NonNullable<NonNullable<CompiledSignals["cohorts"]>["sessionReads"]>;

/** What one Check contributes: its store work, and what to do with the answer. */
export interface SessionReadPlan {
  plan: SignalPlan;
  /** Called after the plan's results were handed to `plan.evaluate`: the signals, at once (the store is asked nothing more). */
  finish(): Signal[];
}

function finishWithNothing(): Signal[] {
  return [];
}

const NOTHING: SessionReadPlan = { plan: { ops: [], evaluate: () => [] }, finish: finishWithNothing };

/**
 * The closure comes in as an argument, not written as `finish: () => …` in the literal: under
 * tsx (`npm start`, the benches) a closure named by its property costs an Object.defineProperty
 * of its name each time it is made, once per product read or search (3 µs a Check in a profile).
 */
function planAndFinish(plan: SignalPlan, finish: () => Signal[]): SessionReadPlan {
  return { plan, finish };
}

/**
 * A plan of these ops read by `evaluate`. The function comes in as an argument: tsx names a
 * function assigned to a property, on every request (see the detectors' object methods).
 */
function planOf(ops: PlannedOp[], evaluate: (results: readonly number[]) => Signal[]): SignalPlan {
  return { ops, evaluate };
}

/**
 * `session.reads_without_assets`: a browser session (the value of the site's session cookies,
 * the client key once a bot keeps its cookie) that reads catalogue resources one after another
 * and loads no asset in between. A person's browser shows a product page with its pictures, so
 * every product read is followed by an asset request (an image, or its 304 revalidation); a
 * scraper that loaded the site once to get its cookie reads the JSON and nothing else. A read
 * that comes after another read of the same session with no asset since is "unfollowed"; the
 * session's unfollowed reads are counted over the long window (an hour in the example), so a
 * scraper that reads one product every few minutes adds up too. One unfollowed read happens to
 * a person (a picture the browser holds fresh in its cache); several are a script. A search
 * (a catalogue request with a query and no resource id) is judged the same way against the
 * session's last product read, but never becomes the last read itself: a shopper's next product
 * comes from a result, its picture follows it, and a search page's own pictures may not pass
 * through Palisade. So a session that searches after a bare product is counted, one that
 * searched and then opened a product is not.
 *
 * `cohort.reads_without_assets`: the sessions with unfollowed reads, grouped by header set (the
 * names a client sends, in order) across the catalogue's endpoints, replica-local like the other
 * cohorts. A session's first product read is judged too, ABANDON_MS later (by the next Check
 * of a browser session, one store read): no asset since, and the session is a member as well.
 * From `minMembers` such sessions within the cohort window, while at least `cohortShare` of the
 * header set's judged reads over the last minute were unfollowed, every unfollowed read of that
 * header set gets the cohort's weight, from a session's first one on: a campaign of hundreds of sessions, each reading two or three
 * products, is answered before any one of them has read many. The share keeps shoppers out:
 * a popular browser's header set is shared by every person using it, a few of whom read a
 * product whose pictures their browser holds fresh; a campaign makes most of its reads so.
 *
 * It needs the assets to pass through Palisade: the routes of images (or whatever a page loads
 * after its data) must go through ext_authz and be declared `pageView: true`. A site whose
 * assets come from a CDN, or bypass ext_authz, never shows one: then every session would look
 * like a scraper. So nothing is said until this replica has seen, within the window, an asset
 * that followed a session's read: proof that assets after reads reach it at all (unknown is not
 * absent). Imported logs without cookies give no session and say nothing either.
 *
 * `session.page_shown` (weightless, on login endpoints): this browser session's latest catalogue
 * read, within the window, was followed by an asset, as a product page shown to a person is. It
 * is evidence about the session, never about the account: rules may let it stand in for an
 * account's missing history (a first sign-in after browsing the shop), never for a device the
 * account used. A bot that loads the site and posts the form has no read; one that buys this
 * with a product page and its picture before each login pays two requests and shows in the
 * catalogue's figures. Nothing is said without the session cookies or the assets (unknown is not
 * evidence): the rules then decide as without it. Two reads of keys the session already has.
 *
 * `site.shown_first_logins` (weightless, with `firstLoginShare`): of the logins over the last
 * minute on this replica, the share that were for accounts that never signed in here
 * (`username.never_succeeded`) from sessions with `session.page_shown` shown at least as many
 * pages as this one (counted in power-of-two depths), said on such a login when it is above the
 * setting and there were two or more (a lone one is a quiet shop's shopper, see MIN_SHOWN_FIRST_LOGINS).
 * A shop's first sign-ins are a small part of its logins, and during a campaign a
 * smaller one still; a campaign that buys `session.page_shown` before each attempt makes them a
 * large part (a list holds many accounts that never signed in here), so past the share the page
 * views are the campaign's and rules stop taking them as a shopper's. A share, not a count, so
 * that it holds at any traffic and on any number of replicas; to push it down a campaign must add
 * logins without pages, which the failure-based signals count.
 *
 * The depth: a campaign buys the page views it needs per attempt and no more (each costs it a
 * read and an asset per attempt, on every address), while a shopper signing in for the first time
 * has often looked at several products first. Counting only the first logins from sessions at
 * least as deep as this one keeps the guard where the campaign is: a login after more pages than
 * the campaign shows is judged by the first logins at that depth and deeper, a shopper's few.
 * A campaign that spreads its depths like shoppers' gains nothing from it: the depths a login is
 * spared at are those whose first logins, counted from there down, are under the share, so what
 * passes is bounded by the share of the minute's logins as before, and it paid that many pages for
 * each. The pages are the session's product reads that an asset followed and its searches (its
 * reads within the window less its unfollowed ones), so bare reads do not deepen a session. A
 * search is a results page the person looked at: a shopper who searched and opened a result
 * was shown two pages, and a campaign that buys one product page per attempt is not as deep as
 * she is; one that adds a search per attempt pays for it and moves the guard to that depth.
 *
 * Cost: per tracked session three small keys in the store with the window as TTL (two
 * integers and one counter), written on catalogue reads and assets of browser sessions only,
 * in the Check's one batch (an unfollowed read is counted there by a guarded add); a read also
 * carries, in its batch, at most one read of another session's last asset time (a first read
 * due for its check). The cohort is bounded by MAX_COHORTS × MAX_MEMBERS session digests per
 * replica, the first reads awaiting their check by MAX_PENDING, the sessions' last bare reads by
 * MAX_BARE_SESSIONS.
 */
export class SessionReads {
  readonly #cohorts = new LRUCache<string, ReadingCohort>({ max: MAX_COHORTS });
  /** When each session last read bare on this replica: a cohort saturates at MAX_MEMBERS, this does not. */
  readonly #bareAtMs = new LRUCache<string, number>({ max: MAX_BARE_SESSIONS });
  /** When each session skipped to a deep results page on this replica, and which page. */
  readonly #skipped = new LRUCache<string, { atMs: number; page: number }>({ max: MAX_SKIPPED_SESSIONS });
  /** Sessions' first product reads not yet checked for a picture after them, oldest first. */
  readonly #pending = new Map<string, { shape: string; readMs: number }>();
  /** When this replica last saw an asset follow a session's read: assets are visible here. */
  #assetsSeenAtMs = -Infinity;
  /** Logins over the last minute, and those for accounts that never signed in from sessions shown a page. */
  readonly #logins = new TwoBuckets();
  /** Per depth (pages shown before the login, in powers of two). */
  readonly #shownFirstLogins = Array.from({ length: DEPTHS }, () => new TwoBuckets());

  /**
   * After a login's signals are measured: counts it, and when it is a first login (the account
   * never signed in) from a session shown a page, says what share of the last minute's logins
   * such logins were.
   */
  firstLogin(request: NormalisedRequest, measured: readonly Signal[], signals: CompiledSignals): Signal[] {
    const maxShare = signals.cohorts?.sessionReads?.firstLoginShare;
    if (maxShare === undefined) return [];
    this.#logins.add(request.timeMs, MINUTE_MS);
    const shown = measured.find((s) => s.code === "session.page_shown" && s.fired);
    if (!shown || !measured.some((s) => s.code === "username.never_succeeded" && s.fired)) return [];
    const depth = depthOf(shown.value);
    this.#shownFirstLogins[depth]!.add(request.timeMs, MINUTE_MS);
    const logins = this.#logins.count(request.timeMs, MINUTE_MS);
    let deepAsThis = 0;
    for (let d = depth; d < DEPTHS; d++) deepAsThis += this.#shownFirstLogins[d]!.count(request.timeMs, MINUTE_MS);
    const share = logins > 0 ? Math.min(1, deepAsThis / logins) : 1;
    const pages = depth === DEPTHS - 1 ? `${2 ** depth} or more pages` : `${2 ** depth} page${depth === 0 ? "" : "s"} or more`;
    return [{
      code: "site.shown_first_logins",
      value: Math.round(share * 1000) / 1000,
      threshold: maxShare,
      weight: 0,
      fired: share > maxShare && deepAsThis >= MIN_SHOWN_FIRST_LOGINS,
      detail: `share of the logins over the last minute on this replica that were for accounts that never signed in, from sessions shown ${pages} as this one (${deepAsThis} of ${logins}; prior ${maxShare}, said from ${MIN_SHOWN_FIRST_LOGINS} such logins)`,
    }];
  }

  plan(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals): SessionReadPlan {
    const cohorts = signals.cohorts;
    const config = cohorts?.sessionReads;
    if (!cohorts || !config || !claimsBrowser(request) || prefetch(request)) return NOTHING;
    const session = browserSessionKey(request, cohorts.sessionCookies);
    if (session === undefined) return NOTHING;
    const entity = `ck:${session}`;
    const retentionMs = config.windowMs;
    if (endpoint.pageView) {
      this.#pending.delete(session);
      return this.#asset(entity, request.timeMs, retentionMs);
    }
    if (endpoint.authentication) return pageShown(entity, request.timeMs, retentionMs, request.timeMs - this.#assetsSeenAtMs <= config.windowMs);
    // A search (a catalogue request with a query and no resource id) is judged against the
    // session's last product read but never becomes its last read: a shopper clicks a result
    // next, and that product's picture follows it, not the search's.
    const listing = resourceIdOf(request, endpoint) === undefined;
    if (listing && request.query === "") return NOTHING;
    const paging = listing ? searchPage(request.query, config.pagesSkipped) : undefined;
    // Assets reach this replica: a read no asset followed is counted in the batch itself, by a
    // guarded add (the session's last read at least as late as its last asset, within the
    // window), and a search clears the bare product it counted, so no second round trip is needed.
    const counting = request.timeMs - this.#assetsSeenAtMs <= config.windowMs;
    const unfollowedGuard = { newer: SESSION_READ_NAMES.lastRead, than: SESSION_READ_NAMES.lastAsset, withinMs: config.windowMs };
    let unfollowedRead = false;
    let count = 0;
    let standing = false;
    let bareMs = 0;
    const check = this.#matured(request.timeMs, cohorts.windowMs);
    // Pushed one by one rather than spread from conditional arrays: a product read or search comes through here on every Check.
    const ops: PlannedOp[] = [];
    // Another session's first read, due for its check: the store says whether an asset came since (any replica's).
    if (check) ops.push({ entity: `ck:${check.session}`, op: { op: "value.swap", name: SESSION_READ_NAMES.lastAsset } });
    // First of this session's: the guard reads the session's last read and asset as they were before this request.
    ops.push({
      entity,
      op: counting
        ? { op: "window.add", name: SESSION_READ_NAMES.unfollowed, windowMs: config.windowMs, amount: 1, when: unfollowedGuard }
        : { op: "window.add", name: SESSION_READ_NAMES.unfollowed, windowMs: config.windowMs, amount: 0 },
    });
    // A search leaves the bare product as the last read: clear it once counted, or every
    // later search and the next product would count that one product again.
    ops.push({
      entity,
      op: !listing
        ? { op: "value.swap", name: SESSION_READ_NAMES.lastRead, value: request.timeMs, retentionMs }
        : counting
          ? { op: "value.swap", name: SESSION_READ_NAMES.lastRead, value: 0, retentionMs, when: unfollowedGuard }
          : { op: "value.swap", name: SESSION_READ_NAMES.lastRead },
    });
    ops.push({ entity, op: { op: "value.swap", name: SESSION_READ_NAMES.lastAsset } });
    // Products and searches: less the unfollowed ones, the pages the session was shown (session.page_shown).
    ops.push({ entity, op: { op: "window.add", name: SESSION_READ_NAMES.reads, windowMs: config.windowMs, amount: 1 } });
    // A search: whether the session asked for it before (any page), then remember it.
    if (paging) {
      ops.push({ entity, op: { op: "member.check", name: SESSION_READ_NAMES.queries, member: paging.query } });
      ops.push({ entity, op: { op: "member.add", name: SESSION_READ_NAMES.queries, member: paging.query, maxMembers: MAX_QUERIES, retentionMs } });
    }
    const plan = planOf(
      ops,
      (all) => {
        // This session's results follow the other session's check, when there is one (read in place, not sliced off).
        const own = check ? 1 : 0;
        if (check) this.#checked(check, (all[0] ?? 0) >= check.readMs, request.timeMs, cohorts.windowMs);
        const unfollowed = all[own] ?? 0;
        const lastRead = all[own + 1] ?? 0;
        const lastAsset = all[own + 2] ?? 0;
        // A search's results end with its member.check (then the member.add): 0 when the session never asked for it.
        if (paging && all[all.length - 2] === 0 && paging.page >= paging.minPage) this.#skipped.set(session, { atMs: request.timeMs, page: paging.page });
        unfollowedRead = guardHolds(unfollowedGuard, lastRead, lastAsset, request.timeMs);
        // With the guard held, `unfollowed` counts this read; without, the session's count before it.
        count = unfollowed;
        // No product read to judge this one by (a search consumed the session's last bare
        // product): nothing about this read, but the session's bare reads stay on its record.
        standing = lastRead <= 0 && unfollowed >= 1;
        bareMs = lastRead;
        if (!listing && lastRead <= 0 && unfollowed <= 0 && counting) this.#await(session, request);
        // A session's later reads are judged here, its first one when checked (#checked): the cohort's share is of both.
        if (lastRead > 0) this.#cohortOf(request.headerShape).reads.add(request.timeMs, SHARE_WINDOW_MS);
        return [];
      },
    );
    return planAndFinish(plan, () => {
      const skipped = this.#pagesSkipped(session, request.timeMs, config, cohorts.windowMs);
      if (!counting) return skipped;
      if (standing) return [...skipped, ...this.#judge(request, session, Math.round(count), config, cohorts.minMembers, cohorts.windowMs)];
      if (!unfollowedRead) return skipped;
      return [...skipped, ...this.#judge(request, session, Math.round(count), config, cohorts.minMembers, cohorts.windowMs, bareMs)];
    });
  }

  /**
   * `session.pages_skipped`, on the search that skipped to a deep results page and on the
   * session's catalogue reads within the cohort window after it (this replica's memory: on another
   * replica the later reads go without it, never the other way round).
   */
  #pagesSkipped(session: string, nowMs: number, config: Config, cohortWindowMs: number): Signal[] {
    const skip = config.pagesSkipped;
    const skipped = skip === undefined ? undefined : this.#skipped.get(session);
    if (skip === undefined || skipped === undefined || nowMs - skipped.atMs > cohortWindowMs) return [];
    return [{
      code: "session.pages_skipped",
      value: skipped.page,
      threshold: skip.minPage,
      weight: skip.weight,
      fired: true,
      detail: `this browser session asked for results page ${skipped.page} of a search it had not asked for within ${config.windowMs / 60_000} min${nowMs === skipped.atMs ? "" : " (on an earlier request)"}: a person reaches page ${skip.minPage} or deeper from the pages before it (policy prior)`,
    }];
  }

  /**
   * A session's first product read, to be checked for a picture after it once ABANDON_MS have
   * passed. Only where assets are known to reach Palisade, as for the other signals.
   */
  #await(session: string, request: NormalisedRequest): void {
    this.#pending.delete(session);
    this.#pending.set(session, { shape: request.headerShape, readMs: request.timeMs });
    for (const oldest of this.#pending.keys()) {
      if (this.#pending.size <= MAX_PENDING) break;
      this.#pending.delete(oldest);
    }
  }

  /** The oldest first read due for its check (taken off the list), one per Check; those past the cohort window are dropped. */
  #matured(nowMs: number, cohortWindowMs: number): { session: string; shape: string; readMs: number } | undefined {
    for (const [session, pending] of this.#pending) {
      if (nowMs - pending.readMs < ABANDON_MS) return undefined;
      this.#pending.delete(session);
      if (nowMs - pending.readMs <= cohortWindowMs) return { session, ...pending };
    }
    return undefined;
  }

  /**
   * A session's first product read, checked: it is one of its header set's judged reads (the
   * cohort's share is of those), and when no asset came after it (a browser showing the page
   * would have asked for its picture by now) an unfollowed one, and the session joins the
   * cohort as one whose later read was bare does. So a campaign whose sessions read once, leave,
   * and come back minutes later for one more read meets a cohort already standing, while the
   * shoppers' first reads, followed by their pictures, only lower the share. Nothing is added to
   * the session's own count: it is judged by its own later reads, as before.
   */
  #checked(check: { session: string; shape: string; readMs: number }, followed: boolean, nowMs: number, cohortWindowMs: number): void {
    const cohort = this.#cohortOf(check.shape);
    cohort.reads.add(nowMs, SHARE_WINDOW_MS);
    if (followed) return;
    cohort.unfollowed.add(nowMs, SHARE_WINDOW_MS);
    touch(cohort.members, check.session, check.readMs, cohortWindowMs, MAX_MEMBERS);
  }

  #asset(entity: string, nowMs: number, retentionMs: number): SessionReadPlan {
    const plan = planOf(
      [
        { entity, op: { op: "value.swap", name: SESSION_READ_NAMES.lastAsset, value: nowMs, retentionMs } },
        { entity, op: { op: "value.swap", name: SESSION_READ_NAMES.lastRead } },
      ],
      ([previousAsset = 0, lastRead = 0]) => {
        if (lastRead > 0 && lastRead >= previousAsset) this.#assetsSeenAtMs = Math.max(this.#assetsSeenAtMs, nowMs);
        return [];
      },
    );
    return { plan, finish: finishWithNothing };
  }

  /**
   * The session's and its cohort's signals on a read: an unfollowed one (`bareMs`: the time of
   * the product no asset followed), counted in the cohort's share and renewing the session's
   * membership, or one that could not be judged by what came before it (a search consumed the
   * session's last product), which carries the session's count as it stands, and the cohort's
   * weight only while the session's last bare product is within the cohort window: a shopper
   * back after a long pause with one picture its browser held is not held to it.
   */
  #judge(request: NormalisedRequest, session: string, count: number, config: Config, minMembers: number, cohortWindowMs: number, bareMs?: number): Signal[] {
    const bare = bareMs !== undefined;
    const minutes = config.windowMs / 60_000;
    const found: Signal[] = [
      {
        code: "session.reads_without_assets",
        value: count,
        threshold: config.threshold,
        weight: config.weight,
        fired: count > config.threshold,
        detail: `catalogue reads of this browser session within ${minutes} min that no asset followed (${bare ? "this one comes after one" : "this one comes after a search, the earlier ones count"})`,
      },
    ];
    const cohort = this.#cohortOf(request.headerShape);
    if (bare) {
      cohort.unfollowed.add(request.timeMs, SHARE_WINDOW_MS);
      touch(cohort.members, session, request.timeMs, cohortWindowMs, MAX_MEMBERS);
      this.#bareAtMs.set(session, Math.max(bareMs, this.#bareAtMs.get(session) ?? 0));
    } else {
      const bareAtMs = this.#bareAtMs.get(session);
      if (bareAtMs === undefined || request.timeMs - bareAtMs > cohortWindowMs) return found;
    }
    const size = [...cohort.members.values()].filter((seenMs) => request.timeMs - seenMs <= cohortWindowMs).length;
    const reads = cohort.reads.count(request.timeMs, SHARE_WINDOW_MS);
    const share = reads > 0 ? Math.min(1, cohort.unfollowed.count(request.timeMs, SHARE_WINDOW_MS) / reads) : 0;
    const percent = Math.round(share * 100);
    found.push({
      code: "cohort.reads_without_assets",
      value: size,
      threshold: minMembers,
      weight: config.cohortWeight,
      fired: size >= minMembers && share >= config.cohortShare,
      detail: `${size} browser sessions with this header set read catalogue resources that no asset followed within ${cohortWindowMs / 60_000} min, ${percent}% of the header set's judged reads over the last minute (a session's first read judged by whether a picture followed within ${ABANDON_MS / 1000} s); cohort from ${minMembers} sessions and ${Math.round(config.cohortShare * 100)}% (policy priors, no baseline needed)`,
    });
    return found;
  }

  /** One header set's reading across the catalogue: a campaign reads products and searches alike. */
  #cohortOf(headerShape: string): ReadingCohort {
    let cohort = this.#cohorts.get(headerShape);
    if (cohort === undefined) this.#cohorts.set(headerShape, (cohort = { members: new Map(), reads: new TwoBuckets(), unfollowed: new TwoBuckets() }));
    return cohort;
  }
}

/**
 * A login: whether the session's latest product read, within the window, was followed by an
 * asset; the value is the pages it was shown within the window (its reads, searches included,
 * less its unfollowed ones; at least this one). Or, where assets are known to reach this replica
 * (`assetsVisible`), that nothing of the session came before the login (`session.bare_login`).
 */
function pageShown(entity: string, nowMs: number, windowMs: number, assetsVisible: boolean): SessionReadPlan {
  const plan = planOf(
    [
      { entity, op: { op: "value.swap", name: SESSION_READ_NAMES.lastRead } },
      { entity, op: { op: "value.swap", name: SESSION_READ_NAMES.lastAsset } },
      { entity, op: { op: "window.add", name: SESSION_READ_NAMES.reads, windowMs, amount: 0 } },
      { entity, op: { op: "window.add", name: SESSION_READ_NAMES.unfollowed, windowMs, amount: 0 } },
    ],
    ([lastRead = 0, lastAsset = 0, reads = 0, unfollowed = 0]) => {
      if (assetsVisible && !within(lastRead, nowMs, windowMs) && !within(lastAsset, nowMs, windowMs)) return [BARE_LOGIN];
      if (lastRead <= 0 || lastAsset < lastRead || nowMs - lastRead > windowMs) return [];
      const pages = Math.max(1, Math.round(reads - unfollowed));
      return [{ code: "session.page_shown", value: pages, weight: 0, fired: true, detail: `this browser session read a catalogue resource and then loaded an asset, as a page shown to a person does (${pages} such page${pages === 1 ? "" : "s"} within the window)` }];
    },
  );
  return { plan, finish: finishWithNothing };
}

/**
 * `session.bare_login` (weightless, on login endpoints): nothing of this browser session reached
 * Palisade within the window before its login, no catalogue read and no asset, where assets are
 * known to pass through it. Its whole life is a login page and the post: how a checker that loads
 * the form for its cookies posts a list, each proxy with a fresh session. A person's browser
 * shows the page's pictures and scripts, or came from the shop's pages; one whose every asset was
 * fresh in its cache and who came straight to the form looks the same, so it is evidence for the
 * slow campaign call (`campaign.slow.bareFailingAccounts`), never an answer by itself. Nothing is
 * said without the session cookies or where assets were not seen (unknown is not bare).
 */
const BARE_LOGIN: Signal = {
  code: "session.bare_login",
  value: 1,
  weight: 0,
  fired: true,
  detail: "nothing of this browser session (no catalogue read, no asset) reached Palisade before this login within the window",
};

/** Whether a session's last read or asset time is one within the window (0 or less: none). */
function within(timeMs: number, nowMs: number, windowMs: number): boolean {
  return timeMs > 0 && nowMs - timeMs <= windowMs;
}

/** The depth bucket of a session shown `pages` pages: 0 for one, 1 for two or three, … up to DEPTHS - 1. */
function depthOf(pages: number): number {
  return Math.min(DEPTHS - 1, Math.floor(Math.log2(Math.max(1, pages))));
}

/** One header set's reading of the catalogue: the sessions with unfollowed reads, its judged reads, and how many of those were unfollowed. */
interface ReadingCohort {
  members: Map<string, number>;
  reads: TwoBuckets;
  unfollowed: TwoBuckets;
}

/** A sliding count of two fixed buckets, as the store's window counters estimate it. */
class TwoBuckets {
  #bucket = 0;
  #current = 0;
  #previous = 0;

  add(nowMs: number, windowMs: number): void {
    this.#roll(nowMs, windowMs);
    this.#current++;
  }

  count(nowMs: number, windowMs: number): number {
    this.#roll(nowMs, windowMs);
    return slidingWindowEstimate(this.#current, this.#previous, nowMs, windowMs);
  }

  #roll(nowMs: number, windowMs: number): void {
    const bucket = windowBucket(nowMs, windowMs);
    if (bucket === this.#bucket) return;
    this.#previous = bucket === this.#bucket + 1 ? this.#current : 0;
    this.#current = 0;
    this.#bucket = bucket;
  }
}

/**
 * A search's page (`param`, 1 when absent or not a whole number) and the search without it: its
 * other parameters, sorted, as a short digest (the query text is the shopper's; it never reaches
 * the store). Undefined when the policy does not ask.
 */
function searchPage(query: string, skip: Config["pagesSkipped"]): { query: string; page: number; minPage: number } | undefined {
  if (skip === undefined) return undefined;
  const params = new URLSearchParams(query);
  const text = params.get(skip.param) ?? "";
  const page = /^\d{1,9}$/.test(text) ? Number(text) : 1;
  params.delete(skip.param);
  params.sort();
  return { query: shortDigest("sha256", `search\u0000${params.toString()}`, 16), page, minPage: skip.minPage };
}

/**
 * A request the browser made ahead of need (`<link rel=prefetch>`, speculation rules: Chromium
 * sends `Sec-Purpose: prefetch`, Firefox `Purpose: prefetch`; Next.js's router its own header).
 * Nobody reads it yet, so no picture follows: it is neither a read nor an asset here.
 */
function prefetch(request: NormalisedRequest): boolean {
  const purpose = `${request.headers.get("sec-purpose") ?? ""} ${request.headers.get("purpose") ?? ""}`;
  return /prefetch|prerender/i.test(purpose) || request.headers.has("next-router-prefetch");
}
