import { createHmac, randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { cookieValue, namedCookieValues } from "../domain/cookies.js";
import { headerKnown, type NormalisedRequest } from "../domain/request.js";
import { claimsBrowser } from "./login.js";
import type { Signal } from "./signal.js";

/** Cohorts tracked at once; the least recently joined are forgotten first. */
const MAX_COHORTS = 10_000;
/** Members remembered per cohort: far more than any `minMembers`, so the count saturates here. */
const MAX_MEMBERS = 256;

type Cohorts = NonNullable<CompiledSignals["cohorts"]>;

/**
 * Cohorts formed from what their members share, with no baseline to learn and no site-wide
 * anomaly to wait for, so a campaign that runs from the first minute is caught like any other.
 *
 * `cohort.browser_without_session`: requests to one declared endpoint with one header set (the
 * names a client sends, in its order) whose user agent claims a browser, while the client
 * carries none of the cookies a visitor of the site has (`sessionCookies`) and its address
 * loaded no page. A person's browser loads the site before it calls the API or posts a login,
 * and comes back with the cookie the site set; scripts that borrow a browser's user agent and
 * headers, spread over residential proxies a few requests each, do neither. One such client is
 * not a campaign (someone with cookies blocked); `minMembers` addresses sharing the header set
 * within the window are, and every member from then on is flagged. The cookie header must be one
 * the request could have carried: an imported log that never recorded cookies proves nothing.
 *
 * State is the replica's own, like the token bindings: each replica forms its cohorts from the
 * traffic it sees, bounded by MAX_COHORTS × MAX_MEMBERS address pseudonyms with their last time.
 */
export class CohortTracker {
  readonly #cohorts = new LRUCache<string, Map<string, number>>({ max: MAX_COHORTS });
  readonly #walk = new CatalogueWalk();
  readonly #accounts = new SessionAccounts();

  observe(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals, related: readonly Signal[]): Signal[] {
    const found = this.#browserWithoutSession(request, endpoint, signals, related);
    const walk = this.#walk.observe(request, endpoint, signals.cohorts);
    const accounts = this.#accounts.observe(request, endpoint, signals.cohorts);
    return [...found, ...(walk ? [walk] : []), ...(accounts ? [accounts] : [])];
  }

  #browserWithoutSession(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals, related: readonly Signal[]): Signal[] {
    const config = signals.cohorts;
    if (!config || endpoint.pageView || !request.ipId || !browserWithoutSession(request, config, related)) return [];
    const key = `${endpoint.name}\u0000${request.headerShape}`;
    const members = this.#cohorts.get(key) ?? new Map<string, number>();
    touch(members, request.ipId, request.timeMs, config.windowMs, MAX_MEMBERS);
    this.#cohorts.set(key, members);
    const size = members.size;
    const detail = `${size} addresses within ${config.windowMs / 60_000} min share this header set, claim a browser and carry none of the site's cookies; cohort from ${config.minMembers} (policy prior, no baseline needed)`;
    return [{ code: "cohort.browser_without_session", value: size, threshold: config.minMembers, weight: config.browserWithoutSession, fired: size >= config.minMembers, detail }];
  }

  /** Cohorts tracked now (for the memory benchmark). */
  size(): number {
    return this.#cohorts.size;
  }
}

/** Gaps a walk's steps left, remembered at once (a step leaves at most `maxStep` - 1). */
const MAX_WALK_GAPS = 1_024;

/**
 * `cohort.catalogue_walk`: a catalogue walked in order, spread over many addresses. Each
 * address asks for a few ids and its own sequence shows nothing, but the walk shows in the order
 * the site is asked in: id n right after id n-1 (or a few below) from another address, again and
 * again. The walk's frontier is the last request that continued it; a request for an id at most
 * `maxStep` above the frontier, from another address, within `within` of it, moves the frontier
 * on and lengthens the run; while a run of `minRun` is under way, requests that do not continue
 * it (shoppers meanwhile) leave the frontier where it is. A shopper's next product is whichever
 * caught the eye, so a chance continuation happens (about one request in a hundred on the lab's
 * catalogue) but a chain of `minRun` of them from different addresses does not; requests that
 * continue a run that long get the signal. The walkers do not arrive in the order they were
 * handed their ids (a session's first read waits for the site to load; proxies differ in
 * speed), so a step skips ids that come a moment later: the ids a step skipped are the walk's
 * gaps, and a read that fills one, from another address than the step's, within `within`,
 * lengthens the run as a step does (it leaves the frontier where it is). A shopper's read falls
 * in a gap only by the same chance as in a step. It needs no baseline, no cookie and nothing per
 * address: one frontier per replica, with the gaps its steps left (at most MAX_WALK_GAPS). With several replicas each sees part of the walk, its steps
 * as wide as the replica count, so `maxStep` must exceed it. A walk in steps wider than
 * `maxStep`, or in shuffled blocks, is not seen.
 */
class CatalogueWalk {
  #frontier: { endpoint: string; id: number; ipId: string; timeMs: number; run: number } | undefined;
  /** Ids the run's steps skipped, with when and from which address the step came; cleared when a run starts afresh. */
  readonly #gaps = new Map<number, { timeMs: number; ipId: string }>();

  observe(request: NormalisedRequest, endpoint: CompiledEndpoint, config: Cohorts | undefined): Signal | undefined {
    const walk = config?.catalogueWalk;
    if (!walk || !request.ipId || endpoint.resourceSegment === undefined) return undefined;
    const text = request.path.split("/")[endpoint.resourceSegment] ?? "";
    if (!/^\d{1,15}$/.test(text)) return undefined;
    const id = Number(text);
    const now = request.timeMs;
    const frontier = this.#frontier;
    const live = frontier !== undefined && frontier.endpoint === endpoint.name && now - frontier.timeMs <= walk.withinMs;
    const continues = live && frontier.ipId !== request.ipId && id > frontier.id && id - frontier.id <= walk.maxStep;
    const gap = live ? this.#gaps.get(id) : undefined;
    if (live && gap !== undefined && gap.ipId !== request.ipId && now - gap.timeMs <= walk.withinMs) {
      this.#gaps.delete(id);
      this.#frontier = { ...frontier, timeMs: now, run: frontier.run + 1 };
    } else if (continues) {
      for (let skipped = frontier.id + 1; skipped < id; skipped++) this.#gap(skipped, now, request.ipId, walk.withinMs);
      this.#frontier = { ...frontier, id, ipId: request.ipId, timeMs: now, run: frontier.run + 1 };
    } else if (!live || frontier.run < walk.minRun) {
      this.#frontier = { endpoint: endpoint.name, id, ipId: request.ipId, timeMs: now, run: 0 };
      this.#gaps.clear();
      return undefined;
    } else {
      return undefined;
    }
    const run = frontier.run + 1;
    const detail = `continues a walk through the catalogue in order over ${run} requests from different addresses, each at most ${walk.maxStep} ids above the last or in a gap a step left, within ${walk.withinMs / 1000}s; from ${walk.minRun} (policy prior)`;
    return { code: "cohort.catalogue_walk", value: run, threshold: walk.minRun, weight: walk.weight, fired: run >= walk.minRun, detail };
  }

  /** Remembers a gap, forgetting those past the time limit and the oldest beyond MAX_WALK_GAPS. */
  #gap(id: number, now: number, ipId: string, withinMs: number): void {
    this.#gaps.delete(id);
    this.#gaps.set(id, { timeMs: now, ipId });
    for (const [old, gap] of this.#gaps) {
      if (now - gap.timeMs <= withinMs && this.#gaps.size <= MAX_WALK_GAPS) break;
      this.#gaps.delete(old);
    }
  }
}

/**
 * Marks `member` seen at `now` (members are kept oldest first), then drops those past the window
 * and the oldest beyond `max`.
 */
export function touch(members: Map<string, number>, member: string, now: number, windowMs: number, max: number): void {
  members.delete(member);
  members.set(member, now);
  for (const [old, seenMs] of members) {
    if (now - seenMs <= windowMs && members.size <= max) break;
    members.delete(old);
  }
}

/** Sessions whose accounts are remembered at once, and accounts per session. */
const MAX_SESSIONS = 100_000;
const MAX_ACCOUNTS = 16;

/**
 * `session.distinct_usernames`: the accounts one browser session (the value of the site's
 * session cookies) tried to sign in to within the cohort window. A person signs in to their own
 * account, mistyping it or not; a bot that keeps its session on each proxy, as a browser does,
 * tries the next entry of its list with the same cookie. State is the replica's: keyed hashes of
 * the cookie values (under a key that exists only in this process) with the username pseudonyms
 * each tried, in an LRU of 100,000 sessions.
 */
class SessionAccounts {
  readonly #key = randomBytes(32);
  readonly #sessions = new LRUCache<string, Map<string, number>>({ max: MAX_SESSIONS });

  observe(request: NormalisedRequest, endpoint: CompiledEndpoint, config: Cohorts | undefined): Signal | undefined {
    const limit = config?.sessionAccounts;
    if (!limit || !endpoint.authentication || !request.usernameId) return undefined;
    const values = namedCookieValues(request.headers.get("cookie"), config.sessionCookies);
    if (!values) return undefined;
    const session = createHmac("sha256", this.#key).update(values.join("\u0000")).digest("base64url").slice(0, 16);
    const accounts = this.#sessions.get(session) ?? new Map<string, number>();
    touch(accounts, request.usernameId, request.timeMs, config.windowMs, MAX_ACCOUNTS);
    this.#sessions.set(session, accounts);
    const detail = `accounts this browser session tried to sign in to within ${config.windowMs / 60_000} min`;
    return { code: "session.distinct_usernames", value: accounts.size, threshold: limit.threshold, weight: limit.weight, fired: accounts.size > limit.threshold, detail };
  }
}

/**
 * A browser user agent, no session cookie on a request that could have carried one, and no page
 * view from its address where one was measured (`ip.page_views` on the catalogue, the login's
 * `sequence` check).
 */
function browserWithoutSession(request: NormalisedRequest, config: Cohorts, related: readonly Signal[]): boolean {
  if (!claimsBrowser(request) || !headerKnown(request, "cookie")) return false;
  const cookies = request.headers.get("cookie");
  if (config.sessionCookies.some((name) => cookieValue(cookies, name) !== undefined)) return false;
  const pages = related.find((s) => s.code === "ip.page_views" || s.code === "sequence.no_page_view");
  return pages === undefined || pages.value === 0;
}

/**
 * `client.no_session` on a login: the client carries none of the site's session cookies
 * (`cohorts.sessionCookies`) on a request that could have carried one, and either claims no
 * browser or claims one while its address loaded no page (the login's `sequence` check). A
 * person signs in from the site they loaded, or from the app that keeps its device cookie; a
 * script checking a list of credentials does neither. Weightless: the evidence an
 * `unproven-login` rule combines with the account's history, so a right password from such a
 * client is asked for a second factor rather than let in. An imported log that never recorded
 * cookies proves nothing, so nothing is said.
 */
export function noSessionSignal(request: NormalisedRequest, signals: CompiledSignals, related: readonly Signal[]): Signal[] {
  const config = signals.cohorts;
  if (!config || config.sessionCookies.length === 0 || !headerKnown(request, "cookie")) return [];
  const cookies = request.headers.get("cookie");
  if (config.sessionCookies.some((name) => cookieValue(cookies, name) !== undefined)) return [];
  const pages = related.find((s) => s.code === "sequence.no_page_view");
  if (claimsBrowser(request) && pages !== undefined && pages.value > 0) return [];
  const detail = claimsBrowser(request) ? "a browser without the site's cookies whose address loaded no page" : "a client that is no browser and carries none of the site's cookies";
  return [{ code: "client.no_session", value: 1, weight: 0, fired: true, detail }];
}
