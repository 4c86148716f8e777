import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { CatalogueSpread } from "./catalogue-spread.js";

const MINUTE = 60_000;
const spread = { windowMs: 30 * MINUTE, catalogueSize: 200, minExpectedRepeats: 10, maxRepeatShare: 0.5, session: { minReads: 3, firstShare: 0.8, weight: 0 } };
const cohorts: NonNullable<CompiledSignals["cohorts"]> = { windowMs: 10 * MINUTE, sessionCookies: ["sid"], minMembers: 5, browserWithoutSession: 40, catalogueSpread: spread };
const product = { name: "product", pageView: false, resourceSegment: 4 } as CompiledEndpoint;
const search = { name: "search", pageView: false } as CompiledEndpoint;

interface Read {
  session?: string;
  id?: number;
  atMs: number;
  /** A search instead of a product read. */
  search?: true;
}

function request({ session, id, atMs, search: searching }: Read): NormalisedRequest {
  return {
    method: "GET",
    path: searching ? "/api/v1/search" : `/api/v1/products/${id}`,
    query: searching ? "q=boots" : "",
    host: "",
    headers: new Map([["cookie", session === undefined ? "" : `sid=${session}`]]),
    headerShape: "s",
    timeMs: atMs,
    anomalies: [],
    ipId: session ?? "crawler",
  };
}

/** The codes each read gets, fired ones only, in order. */
function fired(reads: Read[], tracker = new CatalogueSpread(), config = cohorts): string[][] {
  return reads.map((read) =>
    tracker
      .observe(request(read), read.search ? search : product, config)
      .filter((signal) => signal.fired)
      .map((signal) => signal.code),
  );
}

/** Sessions of three reads each, every id read once: a walk spread over people-like sessions. */
function walk(sessions: number, fromMs = 0, firstId = 1): Read[] {
  return Array.from({ length: sessions * 3 }, (_, i) => ({ session: `walker${Math.floor(i / 3)}`, id: firstId + i, atMs: fromMs + i * 1_000 }));
}

/** Shoppers of three reads each among ten popular products. */
function shoppers(sessions: number, fromMs = 0): Read[] {
  return Array.from({ length: sessions * 3 }, (_, i) => ({ session: `shopper${Math.floor(i / 3)}`, id: 1 + ((i * 7) % 10), atMs: fromMs + i * 1_000 }));
}

describe("site.catalogue_spread and session.first_reads", () => {
  it("says nothing until uniform readers would have repeated minExpectedRepeats times, then marks a walk and its sessions from their third read", () => {
    // Over 200 ids, 67 uniform reads expect 67 − 200 × (1 − e^(−67/200)) = 10.05 repeats; the walk makes none.
    const result = fired(walk(30));
    expect(result.slice(0, 66).flat()).toEqual([]);
    expect(result[66]).toEqual(["site.catalogue_spread"]); // the 67th: walker22's first read
    expect(result[68]).toEqual(["site.catalogue_spread", "session.first_reads"]); // its third
    expect(result.filter((codes) => codes.includes("session.first_reads"))).toHaveLength(8); // walker22 to walker29
  });

  it("is quiet for shoppers however many: popular products are read again and again", () => {
    expect(fired(shoppers(200)).flat()).toEqual([]);
  });

  it("spares sessions that searched, read fewer than minReads, or mostly read what others read", () => {
    const tracker = new CatalogueSpread();
    fired(walk(30), tracker);
    const after = 100_000;
    const searcher: Read[] = [{ session: "searcher", atMs: after, search: true }, ...[1001, 1002, 1003].map((id, i) => ({ session: "searcher", id, atMs: after + (i + 1) * 1_000 }))];
    expect(fired(searcher, tracker).flat()).not.toContain("session.first_reads");
    expect(fired([{ session: "brief", id: 2001, atMs: after }, { session: "brief", id: 2002, atMs: after + 1 }], tracker).flat()).not.toContain("session.first_reads");
    // Two of three reads were of ids the walk read: 1 of 3 first reads.
    expect(fired([1, 2, 3001].map((id, i) => ({ session: "follower", id, atMs: after + i })), tracker).flat()).not.toContain("session.first_reads");
    // The same three fresh reads from a session that did nothing else are flagged.
    expect(fired([4001, 4002, 4003].map((id, i) => ({ session: "walker", id, atMs: after + i })), tracker).at(-1)).toContain("session.first_reads");
  });

  it("counts browser sessions' reads only: a crawler reading every id once is no walk", () => {
    const crawler = Array.from({ length: 300 }, (_, i) => ({ id: i + 1, atMs: i * 1_000 }));
    const tracker = new CatalogueSpread();
    expect(fired(crawler, tracker).flat()).toEqual([]);
    // Nor did its reads count as the ids' first: the walk after it shows from its own 67th read.
    const after = fired(walk(30, 400_000), tracker);
    expect(after[65]).toEqual([]);
    expect(after[66]).toEqual(["site.catalogue_spread"]);
  });

  it("forgets reads past the window: the same walk an hour later is a walk again", () => {
    const tracker = new CatalogueSpread();
    fired(walk(30), tracker);
    const again = fired(walk(30, 31 * MINUTE + 90_000), tracker);
    expect(again.slice(0, 66).flat()).toEqual([]);
    expect(again[68]).toEqual(["site.catalogue_spread", "session.first_reads"]);
  });

  it("takes the ids read for the catalogue when they outnumber the prior, which expects fewer repeats", () => {
    // 400 ids read once each over a prior of 200: with C = 200 the 400 reads would expect 227 repeats.
    const tracker = new CatalogueSpread();
    const reads = fired(walk(134), tracker);
    const last = tracker.figure(133 * 3 * 1_000, spread);
    expect(last?.catalogue).toBe(402);
    expect(Math.round(last!.expected)).toBe(Math.round(402 - 402 * (1 - Math.exp(-1))));
    expect(reads.at(-1)).toContain("site.catalogue_spread");
  });

  it("is off without its settings or on pages", () => {
    const { catalogueSpread: _, ...without } = cohorts;
    expect(fired(walk(30), new CatalogueSpread(), without).flat()).toEqual([]);
    expect(new CatalogueSpread().observe(request({ session: "s", id: 1, atMs: 0 }), { ...product, pageView: true }, cohorts)).toEqual([]);
  });
});
