import type { CompiledPolicy } from "../../policy/compile.js";
import { attackKindOf, LEGIT_NEW_ACCOUNT } from "../lines.js";
import type { CheckEvent } from "../replay/events.js";
import type { Verdict } from "../replay/target.js";
import { popularProductCount } from "../simulate/world.js";
import { clientAddressOf } from "./passes.js";
import { runPoint } from "./run.js";
import type { SweepPoint } from "./sweep-file.js";

/**
 * What a browser session's first product read shows at the moment it is decided, for the
 * scraper's sessions and the shoppers' alike (docs/cohorts.md, the first read measured). A
 * session that loaded the site and keeps its cookie is held from its second read on; its first
 * comes after the site's shell, as a shopper's does, so a defence can only answer it with
 * something both senders' first reads could show. Each piece of evidence is counted for both:
 * one that marks the scraper's first reads and no shopper's would be a signal.
 */
export type Sender = "attack" | "shopper" | "new-account shopper";

/** Evidence present at a first read, from what the stream showed up to it. */
export const EVIDENCE = {
  newBrowser: "the visit's page views carried no cookie: no site cookie from an earlier visit",
  newAddress: "no request came from the address, in the run, before the visit began",
  missingSessionCookie: "the read lacks one of the policy's session cookies (the lab's bot keeps only sid)",
  slowAfterShell: "300 ms or more after the visit's last page view (a setting of the lab's bot)",
  busyFingerprint: "5 or more visits with this user agent and accept-language began within the last minute",
  unpopular: "an id outside the site's popular ones (the generator's; the best a learned popularity could know)",
  newUnpopularFromNewAddress: "newBrowser, unpopular and newAddress together",
  bornOnProduct: "the visit's first request past its page views: no search, login or other call before it",
  freshId: "nobody's request asked for the id within the cohort window (10 minutes)",
  coveringCohort: "20 or more new browsers' first reads of fresh ids, site-wide, within the last minute: new sessions spreading over the catalogue",
  newFreshBornCovering: "newBrowser, freshId, bornOnProduct and coveringCohort together",
} as const;
export type Evidence = keyof typeof EVIDENCE;

export interface FirstReadRow {
  sender: Sender;
  reads: number;
  passed: number;
  /** First reads showing each piece of evidence. */
  showing: Record<Evidence, number>;
}

interface Visit {
  /** No request came from the visit's address before the visit's first. */
  newAddress: boolean;
  pageViewCookie: boolean;
  lastPageViewMs?: number;
  read: boolean;
  /** A request past its page views came before (a search, a login, a product). */
  called: boolean;
}

const SLOW_AFTER_SHELL_MS = 300;
const BUSY_FINGERPRINT = { visits: 5, withinMs: 60_000 } as const;
const FRESH_WITHIN_MS = 600_000;
const COVERING_COHORT = { reads: 20, withinMs: 60_000 } as const;

/**
 * Tallies the first product read of each browser visit (a `Mozilla/5.0` user agent, with a
 * cookie on the read). A visit is an address, a source port and a user agent: each lab visit
 * keeps one connection, its page views before the cookie included, so the key is the lab's, not
 * something a live site could rely on.
 */
export class FirstReadTally {
  readonly #pageViews: ReadonlySet<string>;
  readonly #products: ReadonlySet<string>;
  readonly #sessionCookies: readonly string[];
  readonly #popularIds: number;
  readonly #visits = new Map<string, Visit>();
  readonly #addressesSeen = new Set<string>();
  /** Start times of visits per user agent and accept-language, oldest first. */
  readonly #visitStarts = new Map<string, number[]>();
  readonly #rows = new Map<Sender, FirstReadRow>();
  /** When each product id was last asked for, by anyone. */
  readonly #idLastRead = new Map<number, number>();
  /** Times of new browsers' first reads of fresh ids, oldest first. */
  readonly #freshFirstReads: number[] = [];

  constructor(policy: Pick<CompiledPolicy, "endpoints" | "signals">, popularIds: number) {
    this.#pageViews = new Set(policy.endpoints.filter((e) => e.pageView).map((e) => e.name));
    this.#products = new Set(policy.endpoints.filter((e) => e.resourceSegment !== undefined).map((e) => e.name));
    this.#sessionCookies = policy.signals.cohorts?.sessionCookies ?? [];
    this.#popularIds = popularIds;
  }

  /** One decided request (replay's `onDecided`). */
  add(event: CheckEvent, verdict: Verdict): void {
    const attributes = event.request.attributes;
    const headers = (attributes?.request?.http?.headers ?? {}) as Record<string, string | undefined>;
    const address = clientAddressOf(event);
    const newAddress = !this.#addressesSeen.has(address);
    this.#addressesSeen.add(address);
    const agent = headers["user-agent"] ?? "";
    if (!agent.startsWith("Mozilla/5.0")) return;
    const key = `${address}\u0000${attributes?.source?.address?.socket_address?.port_value ?? 0}\u0000${agent}`;
    let visit = this.#visits.get(key);
    if (!visit) {
      visit = { newAddress, pageViewCookie: false, read: false, called: false };
      this.#visits.set(key, visit);
      this.#visitStarted(`${agent}\u0000${headers["accept-language"] ?? ""}`, event.timeMs);
    }
    const endpoint = verdict.endpoint ?? "";
    if (this.#pageViews.has(endpoint)) {
      visit.lastPageViewMs = event.timeMs;
      visit.pageViewCookie ||= headers.cookie !== undefined;
      return;
    }
    const calledBefore = visit.called;
    visit.called = true;
    const id = this.#products.has(endpoint) ? Number(/(\d+)(?:\?|$)/.exec(attributes?.request?.http?.path ?? "")?.[1] ?? Number.NaN) : Number.NaN;
    const lastReadMs = this.#idLastRead.get(id);
    if (!Number.isNaN(id)) this.#idLastRead.set(id, event.timeMs);
    if (!this.#products.has(endpoint) || headers.cookie === undefined || visit.read) return;
    visit.read = true;
    const cookieNames = new Set(headers.cookie.split(";").map((pair) => pair.split("=")[0]!.trim()));
    const shown: Record<Evidence, boolean> = {
      newBrowser: !visit.pageViewCookie,
      newAddress: visit.newAddress,
      missingSessionCookie: this.#sessionCookies.some((name) => !cookieNames.has(name)),
      slowAfterShell: visit.lastPageViewMs !== undefined && event.timeMs - visit.lastPageViewMs >= SLOW_AFTER_SHELL_MS,
      busyFingerprint: this.#recentStarts(`${agent}\u0000${headers["accept-language"] ?? ""}`, event.timeMs) >= BUSY_FINGERPRINT.visits,
      unpopular: !(id <= this.#popularIds), // a path without an id too
      newUnpopularFromNewAddress: false,
      bornOnProduct: !calledBefore,
      freshId: lastReadMs === undefined || event.timeMs - lastReadMs > FRESH_WITHIN_MS,
      coveringCohort: false,
      newFreshBornCovering: false,
    };
    shown.newUnpopularFromNewAddress = shown.newBrowser && shown.unpopular && shown.newAddress;
    shown.coveringCohort = this.#recentFreshFirstReads(event.timeMs) >= COVERING_COHORT.reads;
    if (shown.newBrowser && shown.freshId) this.#freshFirstReads.push(event.timeMs);
    shown.newFreshBornCovering = shown.newBrowser && shown.freshId && shown.bornOnProduct && shown.coveringCohort;
    const sender: Sender = attackKindOf(event.label) !== undefined ? "attack" : event.label === LEGIT_NEW_ACCOUNT ? "new-account shopper" : "shopper";
    const row = this.#rows.get(sender) ?? { sender, reads: 0, passed: 0, showing: Object.fromEntries(Object.keys(EVIDENCE).map((e) => [e, 0])) as Record<Evidence, number> };
    row.reads++;
    if (!verdict.denied) row.passed++;
    for (const evidence of Object.keys(EVIDENCE) as Evidence[]) if (shown[evidence]) row.showing[evidence]++;
    this.#rows.set(sender, row);
  }

  result(): FirstReadRow[] {
    const order: Sender[] = ["attack", "shopper", "new-account shopper"];
    return [...this.#rows.values()].sort((a, b) => order.indexOf(a.sender) - order.indexOf(b.sender));
  }

  #visitStarted(fingerprint: string, timeMs: number): void {
    const starts = this.#visitStarts.get(fingerprint) ?? [];
    starts.push(timeMs);
    this.#visitStarts.set(fingerprint, starts);
  }

  /** New browsers' first reads of fresh ids within the last minute, this one not counted. */
  #recentFreshFirstReads(timeMs: number): number {
    const reads = this.#freshFirstReads;
    while (reads.length > 0 && reads[0]! <= timeMs - COVERING_COHORT.withinMs) reads.shift();
    return reads.length;
  }

  #recentStarts(fingerprint: string, timeMs: number): number {
    const starts = this.#visitStarts.get(fingerprint) ?? [];
    while (starts.length > 0 && starts[0]! <= timeMs - BUSY_FINGERPRINT.withinMs) starts.shift();
    return starts.length;
  }
}

/** One sweep point on one seed, replayed as the sweep does, with its browser sessions' first product reads tallied. */
export async function firstReads(point: SweepPoint, seed: number, options: { policy: string; compiled: CompiledPolicy }): Promise<FirstReadRow[]> {
  const tally = new FirstReadTally(options.compiled, popularProductCount(point.set.site));
  await runPoint(point, seed, { ...options, onDecided: (event, [verdict]) => tally.add(event, verdict!) });
  return tally.result();
}
