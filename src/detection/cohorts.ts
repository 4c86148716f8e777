import { LRUCache } from "lru-cache";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { cookieValue } from "../domain/cookies.js";
import { headerKnown, type NormalisedRequest } from "../domain/request.js";
import { MAX_PUBLICATION_LENGTH, type Store } from "../state/store.js";
import { ExchangeTurns } from "./exchange-turns.js";
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
 * State is the replica's, bounded by MAX_COHORTS × MAX_MEMBERS address pseudonyms with their last
 * time; with several replicas sharing a store, each publishes the members that joined its
 * cohorts and the walk's first reads of the last few seconds four times a second
 * (`maybeExchange`), so every replica's cohorts and bands gather the whole site's traffic.
 */
export class CohortTracker {
  readonly #cohorts = new LRUCache<string, Map<string, number>>({ max: MAX_COHORTS });
  readonly #walk = new CatalogueWalk();
  /** Members this replica saw join a cohort within SHARE_SPAN_MS, by cohort and address (each once, at its latest join), oldest first, for the others. */
  readonly #joined = new Map<string, SharedMember>();
  readonly #turns: ExchangeTurns;

  /** `store`: where replicas exchange their cohorts' evidence; without its `exchange`, each keeps its own. */
  constructor(store?: Pick<Store, "exchange">) {
    this.#turns = new ExchangeTurns(store);
  }

  observe(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals, related: readonly Signal[]): Signal[] {
    const found = this.#browserWithoutSession(request, endpoint, signals, related);
    const walk = this.#walk.observe(request, endpoint, signals.cohorts);
    // `found` is this Check's own array: added to in place, no spread per Check.
    if (walk !== undefined) found.push(walk);
    return found;
  }

  /**
   * Every EXCHANGE_EVERY_MS (exchange-turns.ts) of event time, one Check's (no other Check waits for it, and none
   * starts another while it is under way): publishes the cohort members that joined here and the walk's first reads
   * and pages shown here within SHARE_SPAN_MS, and merges the other replicas' latest. Spans
   * overlap from one exchange to the next, so nothing is lost to a replica's merge coming a
   * little late; merging is idempotent. With one replica the others' part is empty. `ahead`:
   * the keeper's call while no Check asks (ExchangeTurns.maybe).
   */
  maybeExchange(config: Cohorts | undefined, nowMs: number, ahead = false): Promise<void> | undefined {
    if (!config) return undefined;
    return this.#turns.maybe(nowMs, (exchange) => this.#exchange(exchange, config, nowMs), ahead);
  }

  async #exchange(exchange: NonNullable<Store["exchange"]>, config: Cohorts, nowMs: number): Promise<void> {
    const fromMs = nowMs - SHARE_SPAN_MS;
    for (const [joinKey, member] of this.#joined) {
      if (member.timeMs >= fromMs) break;
      this.#joined.delete(joinKey);
    }
    const evidence = encodeWithinLimit({ members: [...this.#joined.values()], ...this.#walk.recent(fromMs) });
    const publication = { name: "cohorts", replica: this.#turns.replica, evidence, ttlMs: SHARE_SPAN_MS };
    const others = await exchange("cohorts", publication, nowMs).catch(() => [] as string[]);
    const published = others.map(decodeShared).filter((shared) => shared !== undefined);
    for (const shared of published) for (const member of shared.members) this.#joinFromOthers(member, config.windowMs);
    this.#walk.merge(published, config);
  }

  #browserWithoutSession(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals, related: readonly Signal[]): Signal[] {
    const config = signals.cohorts;
    if (!config || endpoint.pageView || !request.ipId || !browserWithoutSession(request, config, related)) return [];
    const key = `${endpoint.name}\u0000${request.headerShape}`;
    const members = this.#join(key, request.ipId, request.timeMs, config.windowMs);
    if (this.#turns.shared) {
      // Once per member at its latest join: an address asking again must not crowd out the others.
      const joinKey = `${key}\u0000${request.ipId}`;
      this.#joined.delete(joinKey);
      this.#joined.set(joinKey, { key, ipId: request.ipId, timeMs: request.timeMs });
      if (this.#joined.size > MAX_SHARED_ITEMS) this.#joined.delete(this.#joined.keys().next().value!);
    }
    const size = members.size;
    const detail = `${size} addresses within ${config.windowMs / 60_000} min share this header set, claim a browser and carry none of the site's cookies; cohort from ${config.minMembers} (policy prior, no baseline needed)`;
    return [{ code: "cohort.browser_without_session", value: size, threshold: config.minMembers, weight: config.browserWithoutSession, fired: size >= config.minMembers, detail }];
  }

  /** Cohorts tracked now (for the memory benchmark). */
  size(): number {
    return this.#cohorts.size;
  }

  /** Marks `ipId` a member of cohort `key` at `timeMs`; returns the members. */
  #join(key: string, ipId: string, timeMs: number, windowMs: number): Map<string, number> {
    const members = this.#cohorts.get(key) ?? new Map<string, number>();
    touch(members, ipId, timeMs, windowMs, MAX_MEMBERS);
    this.#cohorts.set(key, members);
    return members;
  }

  /** A member another replica saw join, unless it was seen here since (it reaches this replica at two or three exchanges). */
  #joinFromOthers({ key, ipId, timeMs }: SharedMember, windowMs: number): void {
    if ((this.#cohorts.peek(key)?.get(ipId) ?? -Infinity) < timeMs) this.#join(key, ipId, timeMs, windowMs);
  }
}

/**
 * What a replica publishes: the last ten seconds (the walk's `within` in the example), so that
 * each item reaches the others at several of their exchanges, also where a replica sees a Check
 * only every few seconds; publications replace each other, so a shorter span would lose what a
 * replica published between two of another's exchanges.
 */
const SHARE_SPAN_MS = 10_000;
/**
 * Items of each kind a replica publishes at most, the most recent: 40 to 130 characters each
 * (endpoint names and ids make the difference), so most publications stay within the store's 64 KiB;
 * encodeWithinLimit drops the oldest half of each kind until one does. A campaign of more than
 * 32 first reads or members a second still has its latest second published at each exchange.
 */
const MAX_SHARED_ITEMS = 320;

interface SharedMember {
  key: string;
  ipId: string;
  timeMs: number;
}
/** One replica's publication: cohort members, the walk's first reads and the addresses that loaded an asset. */
interface SharedEvidence {
  members: SharedMember[];
  reads: WalkRead[];
  shown: Array<{ ipId: string; timeMs: number }>;
}

/** Compact JSON: `c` members as [cohort, address, time], `r` first reads as [endpoint, id, time, address], `s` pages shown as [address, time]; empty when there is nothing to tell. */
function encodeShared({ members, reads, shown }: SharedEvidence): string {
  if (members.length + reads.length + shown.length === 0) return "";
  return JSON.stringify({
    c: members.map((m) => [m.key, m.ipId, m.timeMs]),
    r: reads.map((r) => [r.endpoint, r.id, r.timeMs, r.ipId]),
    s: shown.map((s) => [s.ipId, s.timeMs]),
  });
}

/**
 * The publication within the store's limit: the most recent MAX_SHARED_ITEMS of each kind, then
 * the oldest half of each kind dropped until the text fits (a store refuses a longer one, and
 * the replica would then neither publish nor hear the others).
 */
function encodeWithinLimit({ members, reads, shown }: SharedEvidence): string {
  let evidence = { members: members.slice(-MAX_SHARED_ITEMS), reads: reads.slice(-MAX_SHARED_ITEMS), shown: shown.slice(-MAX_SHARED_ITEMS) };
  for (;;) {
    const text = encodeShared(evidence);
    if (text.length <= MAX_PUBLICATION_LENGTH) return text;
    const newerHalf = <T>(items: T[]) => items.slice(Math.ceil(items.length / 2));
    evidence = { members: newerHalf(evidence.members), reads: newerHalf(evidence.reads), shown: newerHalf(evidence.shown) };
  }
}

/** Another replica's publication; text this version cannot read is skipped. */
function decodeShared(text: string): SharedEvidence | undefined {
  try {
    const { c, r, s } = JSON.parse(text) as Record<string, unknown>;
    const rows = (list: unknown, ...types: string[]): list is unknown[][] =>
      Array.isArray(list) && list.every((row) => Array.isArray(row) && types.every((type, i) => typeof row[i] === type));
    if (!rows(c, "string", "string", "number") || !rows(r, "string", "number", "number", "string") || !rows(s, "string", "number")) return undefined;
    return {
      members: (c as Array<[string, string, number]>).map(([key, ipId, timeMs]) => ({ key, ipId, timeMs })),
      reads: (r as Array<[string, number, number, string]>).map(([endpoint, id, timeMs, ipId]) => ({ endpoint, id, timeMs, ipId })),
      shown: (s as Array<[string, number]>).map(([ipId, timeMs]) => ({ ipId, timeMs })),
    };
  } catch {
    return undefined;
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
  readonly #reads = new Map<string, WalkRead>();
  /** The same, as the other replicas published them (`merge`): the band is judged over both. */
  readonly #othersReads = new Map<string, WalkRead>();
  /** When each id was last read, within the cohort window, least recent first. */
  readonly #lastRead = new Map<string, number>();
  /** Each address's latest first read still in the band, least recent first: an asset from the address takes it out. */
  readonly #latestOf = new Map<string, string>();
  /** The latest other replicas' first read of each address, to take out when an asset here or there shows it a page. */
  readonly #othersLatestOf = new Map<string, string>();
  /** Addresses that loaded an asset here within SHARE_SPAN_MS and when, least recent first, for the others. */
  readonly #shownHere = new Map<string, number>();

  observe(request: NormalisedRequest, endpoint: CompiledEndpoint, config: Cohorts | undefined): Signal | undefined {
    const walk = config?.catalogueWalk;
    if (!walk || !request.ipId) return undefined;
    if (endpoint.pageView) {
      this.#shown(request.ipId, Infinity);
      this.#shownHere.delete(request.ipId);
      this.#shownHere.set(request.ipId, request.timeMs);
      if (this.#shownHere.size > MAX_SHARED_ITEMS) this.#shownHere.delete(this.#shownHere.keys().next().value!);
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
    this.#reads.set(key, { endpoint: endpoint.name, id, timeMs: now, ipId: request.ipId });
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
        const key = readKey(endpointName, at.id + direction * step);
        const read = this.#reads.get(key) ?? this.#othersReads.get(key);
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
   * a shopper's first read of one of them would join. An asset at `timeMs` on another replica
   * takes out the address's reads up to then, here or from the others; one here (Infinity) its
   * latest, whatever order its events arrived in.
   */
  #shown(ipId: string, timeMs: number): void {
    for (const [latestOf, reads] of [[this.#latestOf, this.#reads], [this.#othersLatestOf, this.#othersReads]] as const) {
      const key = latestOf.get(ipId);
      if (key === undefined) continue;
      const read = reads.get(key);
      if (read?.ipId === ipId && read.timeMs > timeMs) continue; // a read after the asset: a page not shown yet
      latestOf.delete(ipId);
      if (read?.ipId === ipId) reads.delete(key);
    }
  }

  /** This replica's first reads still in its band, and the addresses that loaded an asset here, since `fromMs` (the most recent MAX_SHARED_ITEMS each). */
  recent(fromMs: number): Pick<SharedEvidence, "reads" | "shown"> {
    for (const [ipId, timeMs] of this.#shownHere) {
      if (timeMs >= fromMs) break;
      this.#shownHere.delete(ipId);
    }
    const reads = [...this.#reads.values()].filter((read) => read.timeMs >= fromMs).slice(-MAX_SHARED_ITEMS);
    return { reads, shown: [...this.#shownHere].map(([ipId, timeMs]) => ({ ipId, timeMs })) };
  }

  /**
   * The other replicas' first reads and pages shown: their reads join the bands judged here (and are
   * no first reads here since), unless this replica or another saw their address load an asset
   * after them. Every publication's shown addresses are applied after all the reads, so a read and
   * the asset that shows it, published by two replicas, cancel whichever replica's name sorts first.
   */
  merge(published: ReadonlyArray<Pick<SharedEvidence, "reads" | "shown">>, config: Cohorts): void {
    if (!config.catalogueWalk) return;
    for (const read of published.flatMap((shared) => shared.reads)) {
      const key = readKey(read.endpoint, read.id);
      if (this.#reads.has(key) || this.#othersReads.has(key)) continue;
      if ((this.#lastRead.get(key) ?? -Infinity) < read.timeMs) touch(this.#lastRead, key, read.timeMs, config.windowMs, MAX_READ_IDS);
      this.#othersReads.set(key, read);
      if (this.#othersReads.size > MAX_WALK_READS) this.#othersReads.delete(this.#othersReads.keys().next().value!);
      this.#othersLatestOf.delete(read.ipId);
      this.#othersLatestOf.set(read.ipId, key);
      if (this.#othersLatestOf.size > MAX_WALK_READS) this.#othersLatestOf.delete(this.#othersLatestOf.keys().next().value!);
    }
    for (const { ipId, timeMs } of published.flatMap((shared) => shared.shown)) this.#shown(ipId, timeMs);
  }

  /** Whether nobody read this id within `windowMs` (remembering this read either way). */
  #firstRead(key: string, now: number, windowMs: number): boolean {
    const last = this.#lastRead.get(key);
    touch(this.#lastRead, key, now, windowMs, MAX_READ_IDS);
    return last === undefined || now - last > windowMs;
  }

  /** Forgets the reads from before `sinceMs` (they are oldest first, but a late event may sit behind a newer one). */
  #forget(sinceMs: number): void {
    for (const reads of [this.#reads, this.#othersReads]) {
      for (const [key, read] of reads) {
        if (read.timeMs >= sinceMs) break;
        reads.delete(key);
      }
    }
  }
}

interface WalkRead {
  endpoint: string;
  id: number;
  timeMs: number;
  ipId: string;
}

function readKey(endpointName: string, id: number): string {
  return `${endpointName}\u0000${id}`;
}

/**
 * Marks `member` seen at `now` (members are kept oldest first), then drops those past the window
 * and the oldest beyond `max`.
 */
export function touch<K>(members: Map<K, number>, member: K, now: number, windowMs: number, max: number): void {
  members.delete(member);
  members.set(member, now);
  for (const [old, seenMs] of members) {
    if (now - seenMs <= windowMs && members.size <= max) break;
    members.delete(old);
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
