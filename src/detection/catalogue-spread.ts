import { randomInt } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { touch } from "./cohorts.js";
import { browserSessionKey } from "./entities.js";
import { resourceIdOf } from "./scraping.js";
import type { Signal } from "./signal.js";

type Cohorts = NonNullable<CompiledSignals["cohorts"]>;
type Config = NonNullable<Cohorts["catalogueSpread"]>;

/**
 * Ids whose last read is remembered (to tell a first read from a repeat), least recent forgotten
 * first: 4.4 MiB of heap when full (bench/catalogue-spread-memory.ts --one-session). A shop whose
 * people read more distinct ids than this within the window would count repeats of forgotten ids
 * as first reads, and look like a walk: such a shop must not turn the figure on.
 */
const MAX_IDS = 65_536;
/**
 * Browser sessions whose reads are tallied, least recent forgotten first: with the ids, 14.6 MiB
 * of heap when both are full (the same bench). A forgotten session's tally starts again: flagged
 * later, never sooner.
 */
const MAX_SESSIONS = 20_000;
const MINUTE_MS = 60_000;

/** One browser session's catalogue reads within the window. */
interface SessionTally {
  reads: number;
  firstReads: number;
  /** It searched, signed in or sent anything but a read: what a shopper does and a catalogue walk need not. */
  engaged: boolean;
  lastMs: number;
}

/** Reads and first reads of one minute. */
interface MinuteCounts {
  minute: number;
  reads: number;
  firstReads: number;
}

/**
 * `site.catalogue_spread` (weightless: it says when, not who) and `session.first_reads`.
 *
 * A catalogue walk reads each id once; people do not. Whatever a shop's popularity, independent
 * readers repeat one another at least as often as readers picking uniformly over the catalogue
 * would (uniform is the spread with the fewest repeats), and `R` uniform reads over `C` ids repeat
 * an id already read `R − C(1 − e^(−R/C))` times on average. So over the window, a site whose
 * browser sessions' reads repeat far less often than that bound (at most `maxRepeatShare` of it,
 * once it expects `minExpectedRepeats`) is being read by something that avoids repeats: a
 * walk split over sessions, each looking like a shopper. `C` is the policy's `catalogueSize`
 * prior, or the ids read within the window when more: a prior below the real catalogue makes the
 * bound too high, so set it at or above. Only reads of browser sessions (the site's session
 * cookies) count: crawlers keep no cookie, and they read the long tail once each by design.
 *
 * A small shop reads most of its ids once an hour as well (a thousand reads over seven thousand
 * products); that is why the figure is the repeats against the bound for that many reads, not the
 * share of first reads, which is high in any shop whose catalogue outnumbers its reads.
 *
 * `session.first_reads`: while the figure shows, a browser session that read `minReads` products
 * or more within the window, at least `firstShare` of them ids nobody had read within it, and
 * neither searched nor signed in nor sent anything but reads. Rules answer it with a challenge at
 * most: a shopper of a quiet shop reads such ids too.
 *
 * State is the replica's: the ids read (a keyed 32-bit hash and a time each, MAX_IDS), a count per
 * minute of the window, and a tally per session (MAX_SESSIONS). With several replicas each judges
 * its own share of the reads: repeats and the bound scale alike, but the bound reaches
 * `minExpectedRepeats` later (the reads needed grow with the square root of the replicas).
 */
export class CatalogueSpread {
  /** When each id (its keyed hash) was last read, least recent first. */
  readonly #lastRead = new Map<number, number>();
  /** The window's minutes, oldest first. */
  readonly #minutes: MinuteCounts[] = [];
  readonly #sessions = new LRUCache<string, SessionTally>({ max: MAX_SESSIONS });
  /** Keys the id hash, so nobody can choose ids whose hashes meet and pass a first read off as a repeat. */
  readonly #key = randomInt(2 ** 31);

  observe(request: NormalisedRequest, endpoint: CompiledEndpoint, cohorts: Cohorts | undefined): Signal[] {
    const config = cohorts?.catalogueSpread;
    if (!config || endpoint.pageView) return [];
    const session = browserSessionKey(request, cohorts.sessionCookies);
    if (session === undefined) return [];
    const now = request.timeMs;
    const tally = this.#tally(session, now, config.windowMs);
    const resource = resourceIdOf(request, endpoint);
    if (resource === undefined || request.method !== "GET") {
      tally.engaged = true;
      return [];
    }
    const first = this.#firstRead(hashId(this.#key, endpoint.name, resource), now, config.windowMs);
    this.#count(now, config.windowMs, first);
    tally.reads++;
    if (first) tally.firstReads++;
    const figure = this.figure(now, config);
    if (figure === undefined) return [];
    const spread: Signal = { code: "site.catalogue_spread", value: round(figure.repeats / figure.expected), threshold: config.maxRepeatShare, weight: 0, fired: figure.walk, detail: describe(figure, config) };
    if (!figure.walk || tally.engaged || tally.reads < config.session.minReads || tally.firstReads < config.session.firstShare * tally.reads) return [spread];
    const detail = `${tally.firstReads} of this browser session's ${tally.reads} product reads within ${config.windowMs / MINUTE_MS} min were of ids nobody had read within it, and it neither searched nor signed in, while the site's reads avoid repeats; from ${config.session.minReads} reads, ${config.session.firstShare * 100}% first (policy prior)`;
    return [spread, { code: "session.first_reads", value: tally.firstReads, threshold: config.session.minReads, weight: config.session.weight, fired: true, detail }];
  }

  /**
   * The window's reads, the repeats among them, and the repeats `R` uniform reads over the
   * catalogue would make; undefined while fewer than `minExpectedRepeats` are expected.
   */
  figure(nowMs: number, config: Config): { reads: number; repeats: number; expected: number; catalogue: number; walk: boolean } | undefined {
    const from = Math.floor((nowMs - config.windowMs) / MINUTE_MS);
    let reads = 0;
    let firstReads = 0;
    for (const counts of this.#minutes) {
      if (counts.minute <= from) continue;
      reads += counts.reads;
      firstReads += counts.firstReads;
    }
    const catalogue = Math.max(config.catalogueSize, this.#lastRead.size);
    const expected = reads - catalogue * (1 - Math.exp(-reads / catalogue));
    if (expected < config.minExpectedRepeats) return undefined;
    const repeats = reads - firstReads;
    return { reads, repeats, expected, catalogue, walk: repeats <= config.maxRepeatShare * expected };
  }

  #tally(session: string, now: number, windowMs: number): SessionTally {
    const known = this.#sessions.get(session);
    if (known !== undefined && now - known.lastMs <= windowMs) {
      known.lastMs = Math.max(known.lastMs, now);
      return known;
    }
    const fresh = { reads: 0, firstReads: 0, engaged: false, lastMs: now };
    this.#sessions.set(session, fresh);
    return fresh;
  }

  /** Whether nobody read this id within `windowMs` (remembering this read either way). */
  #firstRead(id: number, now: number, windowMs: number): boolean {
    const last = this.#lastRead.get(id);
    touch(this.#lastRead, id, now, windowMs, MAX_IDS);
    return last === undefined || now - last > windowMs;
  }

  #count(now: number, windowMs: number, first: boolean): void {
    const minute = Math.floor(now / MINUTE_MS);
    let counts = this.#minutes.at(-1);
    if (counts === undefined || counts.minute < minute) {
      counts = { minute, reads: 0, firstReads: 0 };
      this.#minutes.push(counts);
      while (this.#minutes[0]!.minute <= Math.floor((now - windowMs) / MINUTE_MS)) this.#minutes.shift();
    }
    // A late event counts in the latest minute: the window is minutes, not milliseconds.
    counts.reads++;
    if (first) counts.firstReads++;
  }
}

function describe({ reads, repeats, expected, catalogue }: { reads: number; repeats: number; expected: number; catalogue: number }, config: Config): string {
  return `${repeats} of the browser sessions' ${reads} product reads within ${config.windowMs / MINUTE_MS} min read an id read before in it; readers picking uniformly over ${catalogue} ids would repeat ${Math.round(expected)} times; a walk from ${config.maxRepeatShare * 100}% of that (policy prior)`;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** FNV-1a of the endpoint and id, seeded with `key`: 32 bits, so a Map holds it as a small number. */
function hashId(key: number, endpointName: string, id: string): number {
  let hash = (0x811c9dc5 ^ key) >>> 0;
  const text = `${endpointName}\u0000${id}`;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}
