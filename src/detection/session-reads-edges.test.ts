import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { guardHolds } from "../state/store.js";
import { SESSION_READ_NAMES, SessionReads } from "./session-reads.js";
import type { Signal } from "./signal.js";

/**
 * The session reading detector at its edges (session-reads.test.ts plays whole sessions on the
 * memory store): here the store's answers are handed in directly, so each comparison can be
 * met exactly at, under and over its bound: when a read counts as unfollowed, how long an asset
 * seen after a read keeps the detector speaking, the count the store gives back, and the
 * cohort's size and share. Time comes from the requests only; nothing waits on a clock.
 */

const product = { name: "product", authentication: false, pageView: false, resourceSegment: 4 } as CompiledEndpoint;
const other = { name: "other", authentication: false, pageView: false, resourceSegment: 4 } as CompiledEndpoint;
const asset = { name: "static", authentication: false, pageView: true } as CompiledEndpoint;
const WINDOW = 60 * 60_000;
const COHORT_WINDOW = 10 * 60_000;
const reading = { windowMs: WINDOW, threshold: 2, weight: 40, cohortWeight: 30, cohortShare: 0.5 };
const signals: CompiledSignals = { cohorts: { windowMs: COHORT_WINDOW, sessionCookies: ["sid", "uid"], minMembers: 2, browserWithoutSession: 40, sessionReads: reading } };
/** A time well inside a cohort bucket, so bucket edges fall only where a test puts them. */
const T0 = 1_000 * COHORT_WINDOW + 1_000;
const BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

function request(atMs: number, sid = "s1", extra: [string, string][] = [], shape = "browser", path = "/api/v1/products/7"): NormalisedRequest {
  const headers = new Map<string, string>([["user-agent", BROWSER], ["cookie", `sid=${sid}`], ...extra]);
  return { method: "GET", path, query: "", host: "", headers, headerShape: shape, timeMs: atMs, anomalies: [], ipId: "ip" };
}

/** An asset request whose batch read `previousAsset` and `lastRead`. */
function seeAsset(reads: SessionReads, atMs: number, previousAsset: number, lastRead: number, sid = "s1"): void {
  // An asset is never a signal of its own: it only marks the session's read as followed.
  expect(reads.plan(request(atMs, sid), asset, signals).plan.evaluate([previousAsset, lastRead])).toEqual([]);
}

/**
 * A product read whose batch read `lastRead`, `lastAsset` and `unfollowed`; the signals it ends
 * with. When the read is one no asset followed, the batch's guarded add answers `counted` (by
 * default the count after adding this read), as the store would.
 */
async function read(reads: SessionReads, req: NormalisedRequest, [lastRead, lastAsset, unfollowed]: number[], counted = unfollowed! + 1, endpoint = product): Promise<Signal[]> {
  const { plan, finish } = reads.plan(req, endpoint, signals);
  const add = plan.ops[0]!.op;
  const added = add.op === "window.add" && add.when !== undefined && guardHolds(add.when, lastRead!, lastAsset!, req.timeMs);
  // The batch's answers only prepare the judgement; the signals come from finish(), which has no store to ask.
  expect(plan.evaluate([added ? counted : unfollowed!, lastRead!, lastAsset!])).toEqual([]);
  return finish();
}

const session = (found: Signal[]) => found.find((s) => s.code === "session.reads_without_assets");
const cohort = (found: Signal[]) => found.find((s) => s.code === "cohort.reads_without_assets");

/** A detector that has seen an asset follow a read at T0 (assets reach this replica). */
function primed(): SessionReads {
  const reads = new SessionReads();
  seeAsset(reads, T0, 0, T0 - 100, "shopper");
  return reads;
}

describe("session reads: what the store is asked", () => {
  it("counts a read no asset followed in the batch itself, swaps in its time, reads the last asset and counts the read, all over the policy's window", () => {
    const guard = { newer: SESSION_READ_NAMES.lastRead, than: SESSION_READ_NAMES.lastAsset, withinMs: WINDOW };
    const { ops } = primed().plan(request(T0), product, signals).plan;
    expect(ops.map((o) => o.op)).toEqual([
      { op: "window.add", name: SESSION_READ_NAMES.unfollowed, windowMs: WINDOW, amount: 1, when: guard },
      { op: "value.swap", name: SESSION_READ_NAMES.lastRead, value: T0, retentionMs: WINDOW },
      { op: "value.swap", name: SESSION_READ_NAMES.lastAsset },
      { op: "window.add", name: SESSION_READ_NAMES.reads, windowMs: WINDOW, amount: 1 },
    ]);
    expect(new Set(ops.map((o) => o.entity)).size).toBe(1);
    // A search clears the bare product it counts, in the same guarded way.
    const search = primed().plan({ ...request(T0), path: "/api/v1/products", query: "q=x" }, product, signals).plan.ops.map((o) => o.op);
    expect(search.slice(0, 2)).toEqual([
      { op: "window.add", name: SESSION_READ_NAMES.unfollowed, windowMs: WINDOW, amount: 1, when: guard },
      { op: "value.swap", name: SESSION_READ_NAMES.lastRead, value: 0, retentionMs: WINDOW, when: guard },
    ]);
    // Before any asset reached this replica nothing is counted: the unfollowed reads are only read.
    expect(new SessionReads().plan(request(T0), product, signals).plan.ops[0]?.op).toEqual({ op: "window.add", name: SESSION_READ_NAMES.unfollowed, windowMs: WINDOW, amount: 0 });
  });

  it("swaps in an asset's time and reads the last read", () => {
    const { ops } = new SessionReads().plan(request(T0), asset, signals).plan;
    expect(ops.map((o) => o.op)).toEqual([
      { op: "value.swap", name: SESSION_READ_NAMES.lastAsset, value: T0, retentionMs: WINDOW },
      { op: "value.swap", name: SESSION_READ_NAMES.lastRead },
    ]);
  });

  it("keys the session on a digest of every named session cookie, never on the cookie's value", () => {
    const entity = (cookie: string) => {
      const req = request(T0);
      req.headers.set("cookie", cookie);
      return new SessionReads().plan(req, product, signals).plan.ops[0]?.entity;
    };
    const one = entity("sid=secret-1");
    expect(one).toMatch(/^ck:[\w-]{22}$/);
    expect(one).not.toContain("secret");
    expect(entity("theme=dark; sid=secret-1")).toBe(one);
    expect(entity("sid=secret-2")).not.toBe(one);
    // The second cookie is part of the session too, and alone it is one.
    expect(entity("sid=secret-1; uid=u")).not.toBe(one);
    expect(entity("uid=u")).toMatch(/^ck:/);
    expect(entity("theme=dark")).toBeUndefined();
  });

  it("takes neither a request that is not a catalogue read nor a prefetch in any spelling", () => {
    const opsOf = (req: NormalisedRequest, endpoint = product) => new SessionReads().plan(req, endpoint, signals).plan.ops.length;
    expect(opsOf(request(T0, "s1", [], "browser", "/api/v1/products"))).toBe(0);
    expect(opsOf(request(T0, "s1", [["sec-purpose", "Prerender"]]))).toBe(0);
    expect(opsOf(request(T0, "s1", [["purpose", "PREFETCH"]]))).toBe(0);
    // A purpose that is no prefetch leaves the read a read.
    expect(opsOf(request(T0, "s1", [["sec-purpose", "none"]]))).toBe(4);
    expect(opsOf(request(T0), { ...product, pageView: true } as CompiledEndpoint)).toBe(2);
    expect(new SessionReads().plan(request(T0), product, { cohorts: { ...signals.cohorts!, sessionReads: undefined } }).plan.ops).toEqual([]);
    expect(new SessionReads().plan(request(T0), product, {}).plan.ops).toEqual([]);
  });
});

describe("session reads: which read is unfollowed", () => {
  it("is a later read with no asset since, within the window of the last read", async () => {
    const now = T0 + 1_000;
    expect(session(await read(primed(), request(now), [now - 500, 0, 0]))).toMatchObject({ value: 1, fired: false });
    // A session's first read follows nothing.
    expect(await read(primed(), request(now), [0, 0, 0])).toEqual([]);
    // An asset after the last read: followed.
    expect(await read(primed(), request(now), [now - 500, now - 400, 0])).toEqual([]);
    // An asset in the same millisecond as the read came with it, not after it.
    expect(session(await read(primed(), request(now), [now - 500, now - 500, 0]))?.value).toBe(1);
    // The last read exactly a window ago still counts; one millisecond more does not.
    const late = T0 + 100;
    expect(session(await read(primed(), request(late), [late - WINDOW, 0, 0]))?.value).toBe(1);
    expect(await read(primed(), request(late), [late - WINDOW - 1, 0, 0])).toEqual([]);
  });

  it("flags the session above the threshold with the count the store gives back, rounded", async () => {
    const now = T0 + 1_000;
    expect(session(await read(primed(), request(now), [now - 1, 0, 1], 2))).toMatchObject({ value: 2, threshold: 2, weight: 40, fired: false });
    expect(session(await read(primed(), request(now), [now - 1, 0, 2], 3))).toMatchObject({ value: 3, fired: true });
    // The sliding window's estimate is fractional; the count is whole.
    expect(session(await read(primed(), request(now), [now - 1, 0, 2], 2.6))?.value).toBe(3);
    expect(session(await read(primed(), request(now), [now - 1, 0, 2], 2.4))?.value).toBe(2);
  });

  it("says nothing when the batch answered nothing (the store failed): no read is known", async () => {
    expect(await read(primed(), request(T0 + 1_000), [0, 0, 0])).toEqual([]);
  });
});

describe("session reads: proof that assets reach this replica", () => {
  it("speaks only after an asset followed a read, for one window from that asset", async () => {
    const never = new SessionReads();
    expect(await read(never, request(T0 + 1), [T0, 0, 0])).toEqual([]);
    const reads = primed();
    expect(session(await read(reads, request(T0 + WINDOW), [T0 + WINDOW - 1, 0, 0]))?.value).toBe(1);
    expect(await read(reads, request(T0 + WINDOW + 1), [T0 + WINDOW, 0, 0])).toEqual([]);
  });

  it("takes no asset as proof that followed no read, or only another asset", async () => {
    const now = T0 + 1_000;
    const noRead = new SessionReads();
    seeAsset(noRead, T0, 0, 0);
    expect(await read(noRead, request(now), [now - 1, 0, 0])).toEqual([]);
    const afterAsset = new SessionReads();
    seeAsset(afterAsset, T0, T0 - 10, T0 - 20);
    expect(await read(afterAsset, request(now), [now - 1, 0, 0])).toEqual([]);
    // A read and an asset in the same millisecond: the asset followed it.
    const same = new SessionReads();
    seeAsset(same, T0, T0 - 10, T0 - 10);
    expect(session(await read(same, request(now), [now - 1, 0, 0]))?.value).toBe(1);
  });

  it("keeps the latest proof when an older asset is judged after a newer one", async () => {
    const reads = new SessionReads();
    seeAsset(reads, T0 + 5_000, 0, T0);
    seeAsset(reads, T0, 0, T0 - 1, "s2");
    const at = T0 + 5_000 + WINDOW;
    expect(session(await read(reads, request(at), [at - 1, 0, 0]))?.value).toBe(1);
  });
});

describe("session reads: the header set's cohort", () => {
  /** Session `sid` makes a later read at `atMs` that no asset followed. */
  const unfollowed = (reads: SessionReads, atMs: number, sid: string, shape = "browser", endpoint = product) =>
    read(reads, request(atMs, sid, [], shape), [atMs - 1, 0, 0], 1, endpoint);
  /** Session `sid` makes a later read at `atMs` that follows an asset. */
  const followed = (reads: SessionReads, atMs: number, sid: string) => read(reads, request(atMs, sid), [atMs - 10, atMs - 5, 0]);

  it("counts the sessions with unfollowed reads and fires from minMembers while the share holds", async () => {
    const reads = primed();
    const first = cohort(await unfollowed(reads, T0 + 1, "a"));
    expect(first).toMatchObject({ value: 1, threshold: 2, weight: 30, fired: false });
    expect(first?.detail).toContain("100% of the header set's judged reads");
    const second = cohort(await unfollowed(reads, T0 + 2, "b"));
    expect(second).toMatchObject({ value: 2, fired: true });
    // The same session again is no new member.
    expect(cohort(await unfollowed(reads, T0 + 3, "b"))?.value).toBe(2);
  });

  it("fires at exactly the share and not under it", async () => {
    const reads = primed();
    await followed(reads, T0 + 1, "x");
    await followed(reads, T0 + 2, "y");
    await unfollowed(reads, T0 + 3, "a");
    // Two unfollowed of four later reads: 50%, the policy's share.
    expect(cohort(await unfollowed(reads, T0 + 4, "b"))).toMatchObject({ value: 2, fired: true });
    const under = primed();
    await followed(under, T0 + 1, "x");
    await followed(under, T0 + 2, "y");
    await followed(under, T0 + 3, "z");
    await unfollowed(under, T0 + 4, "a");
    const found = cohort(await unfollowed(under, T0 + 5, "b"));
    expect(found).toMatchObject({ value: 2, fired: false });
    expect(found?.detail).toContain("40% of the header set's judged reads");
  });

  it("keeps cohorts apart by header set, and one header set's reads of two catalogue endpoints together", async () => {
    const reads = primed();
    await unfollowed(reads, T0 + 1, "a");
    expect(cohort(await unfollowed(reads, T0 + 2, "b", "other-shape"))?.value).toBe(1);
    expect(cohort(await unfollowed(reads, T0 + 3, "c", "browser", other))?.value).toBe(2);
    expect(cohort(await unfollowed(reads, T0 + 4, "d"))?.value).toBe(3);
  });

  it("forgets members past the cohort window, and keeps one exactly a window old", async () => {
    const reads = primed();
    await unfollowed(reads, T0, "a");
    expect(cohort(await unfollowed(reads, T0 + COHORT_WINDOW, "b"))?.value).toBe(2);
    const later = primed();
    await unfollowed(later, T0, "a");
    expect(cohort(await unfollowed(later, T0 + COHORT_WINDOW + 1, "b"))?.value).toBe(1);
  });

  it("counts the previous bucket's reads in part and older ones not at all", async () => {
    // Three followed reads late in one bucket, then unfollowed reads early in the next: the share
    // still counts most of the followed ones and stays under a half.
    const bucketStart = (T0 - (T0 % COHORT_WINDOW)) + COHORT_WINDOW;
    const reads = primed();
    for (const [i, sid] of ["x", "y", "z"].entries()) await followed(reads, bucketStart - 10 + i, sid);
    await unfollowed(reads, bucketStart + 1, "a");
    expect(cohort(await unfollowed(reads, bucketStart + 2, "b"))).toMatchObject({ value: 2, fired: false });
    // Two buckets on, the followed reads are gone: both unfollowed sessions are the whole share.
    const gone = primed();
    for (const [i, sid] of ["x", "y", "z"].entries()) await followed(gone, bucketStart - 10 + i, sid);
    const twoOn = bucketStart + COHORT_WINDOW + 1;
    await unfollowed(gone, twoOn, "a");
    expect(cohort(await unfollowed(gone, twoOn + 1, "b"))).toMatchObject({ value: 2, fired: true });
  });
});
