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
 * State is the replica's own, unlike the token bindings: each replica forms its cohorts from the
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

/** First reads remembered for the walk's bands at once, the oldest forgotten first. */
const MAX_WALK_READS = 4_096;
/** Ids whose last read is remembered (to tell a first read from a repeat), the least recent forgotten first. */
const MAX_READ_IDS = 16_384;
/** Addresses counted in one walk: far more than any `minRun` a policy would set, so the count saturates here. */
const MAX_WALK_ADDRESSES = 64;

/**
 * `cohort.catalogue_walk`: a catalogue walked in order, spread over many addresses. Each
 * address asks for a few ids and its own sequence shows nothing, but the walk shows in the ids
 * the site is asked for: a band of neighbouring ids, each read for the first time in a while, from
 * many addresses, each read close in time to its neighbours'. A request for an id nobody read
 * within the cohort window joins the band of such first reads at most `maxStep` ids from it (and
 * those at most `maxStep` from them, and so on), each within `within` of its neighbour; the
 * band's other addresses are the walk it continues, and from `minRun` of them it gets the signal.
 * The order within the band does not matter: walkers spread over residential proxies do not
 * arrive in the order they were handed their ids (a session's first read waits for the site to
 * load; proxies differ in speed), and a read that comes late lands inside the band as one that
 * comes early lands at its top. Only first reads count, because a walk reads each id once while
 * shoppers come back to the same products: popular ones, read again and again, form no band
 * however close they lie (on a small catalogue they would), and a shopper opening a product the
 * walk passed a moment ago is not taken for it. A shopper's product is whichever caught the eye,
 * so it lands beside another address's read by chance, but seldom beside a band of `minRun`
 * addresses. A read its address followed with an asset (a picture: a page shown to someone) leaves
 * the band; walkers load none. It needs no baseline and no cookie: the first reads of the
 * last `minRun` × `within` on this replica (a chain of `minRun` reads, each within `within` of
 * the next, spans no more), at most MAX_WALK_READS, each address's latest of them, and when each
 * id was last read, at most MAX_READ_IDS. With several replicas each sees part of the walk, its
 * ids as far apart as the replica count, so `maxStep` must exceed it. A walk in steps wider
 * than `maxStep`, in blocks shuffled wider than a step, or at random is not seen.
 */
class CatalogueWalk {
  /** Recent first reads of ids (the band's members) by endpoint and id, oldest first: when, and from which address. */
  readonly #reads = new Map<string, { timeMs: number; ipId: string }>();
  /** When each id was last read, within the cohort window, least recent first. */
  readonly #lastRead = new Map<string, number>();
  /** Each address's latest first read still in the band, least recent first: an asset from the address takes it out. */
  readonly #latestOf = new Map<string, string>();

  observe(request: NormalisedRequest, endpoint: CompiledEndpoint, config: Cohorts | undefined): Signal | undefined {
    const walk = config?.catalogueWalk;
    if (!walk || !request.ipId) return undefined;
    if (endpoint.pageView) {
      this.#shown(request.ipId);
      return undefined;
    }
    if (endpoint.resourceSegment === undefined) return undefined;
    const text = request.path.split("/")[endpoint.resourceSegment] ?? "";
    if (!/^\d{1,15}$/.test(text)) return undefined;
    const id = Number(text);
    const now = request.timeMs;
    this.#forget(now - walk.minRun * walk.withinMs);
    const key = readKey(endpoint.name, id);
    if (!this.#firstRead(key, now, config.windowMs)) return undefined;
    const addresses = new Set<string>();
    for (const direction of [-1, 1] as const) this.#band(endpoint.name, id, now, direction, walk, addresses);
    addresses.delete(request.ipId);
    this.#reads.set(key, { timeMs: now, ipId: request.ipId });
    if (this.#reads.size > MAX_WALK_READS) this.#reads.delete(this.#reads.keys().next().value!);
    this.#latestOf.delete(request.ipId);
    this.#latestOf.set(request.ipId, key);
    if (this.#latestOf.size > MAX_WALK_READS) this.#latestOf.delete(this.#latestOf.keys().next().value!);
    const run = addresses.size;
    if (run === 0) return undefined;
    const detail = `read beside a band of ids read from ${run}${run >= MAX_WALK_ADDRESSES ? " or more" : ""} other addresses, each at most ${walk.maxStep} ids and ${walk.withinMs / 1000}s from the next: a walk through the catalogue; from ${walk.minRun} (policy prior)`;
    return { code: "cohort.catalogue_walk", value: run, threshold: walk.minRun, weight: walk.weight, fired: run >= walk.minRun, detail };
  }

  /** Adds the addresses of the band's reads on one side of `id` (below: -1, above: 1), until a step finds none or the count saturates. */
  #band(endpointName: string, id: number, timeMs: number, direction: -1 | 1, walk: NonNullable<Cohorts["catalogueWalk"]>, addresses: Set<string>): void {
    let at = { id, timeMs };
    while (addresses.size < MAX_WALK_ADDRESSES) {
      let next: { id: number; timeMs: number } | undefined;
      for (let step = 1; step <= walk.maxStep && next === undefined; step++) {
        const read = this.#reads.get(readKey(endpointName, at.id + direction * step));
        if (read !== undefined && Math.abs(read.timeMs - at.timeMs) <= walk.withinMs) {
          next = { id: at.id + direction * step, timeMs: read.timeMs };
          addresses.add(read.ipId);
        }
      }
      if (next === undefined) return;
      at = next;
    }
  }

  /**
   * An asset after an address's read: the read was a page shown (its picture loaded), not a
   * walk's step, so it leaves the band. A browsing campaign that opens a popular product before
   * each login puts several first reads a second into the popular ids at a cold start, a band
   * a shopper's first read of one of them would join.
   */
  #shown(ipId: string): void {
    const key = this.#latestOf.get(ipId);
    if (key === undefined) return;
    this.#latestOf.delete(ipId);
    if (this.#reads.get(key)?.ipId === ipId) this.#reads.delete(key);
  }

  /** Whether nobody read this id within `windowMs` (remembering this read either way). */
  #firstRead(key: string, now: number, windowMs: number): boolean {
    const last = this.#lastRead.get(key);
    touch(this.#lastRead, key, now, windowMs, MAX_READ_IDS);
    return last === undefined || now - last > windowMs;
  }

  /** Forgets the reads from before `sinceMs` (they are oldest first, but a late event may sit behind a newer one). */
  #forget(sinceMs: number): void {
    for (const [key, read] of this.#reads) {
      if (read.timeMs >= sinceMs) return;
      this.#reads.delete(key);
    }
  }
}

function readKey(endpointName: string, id: number): string {
  return `${endpointName}\u0000${id}`;
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
