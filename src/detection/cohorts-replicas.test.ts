import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { MemoryStore } from "../state/memory-store.js";
import { CohortTracker } from "./cohorts.js";

const signals: CompiledSignals = {
  cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid"], minMembers: 5, browserWithoutSession: 40, catalogueWalk: { maxStep: 3, withinMs: 10_000, minRun: 5, weight: 40 } },
};
const product = { name: "product", pageView: false, resourceSegment: 4 } as CompiledEndpoint;
const picture = { name: "static", pageView: true } as CompiledEndpoint;
const T0 = Date.UTC(2026, 11, 7, 12);

interface Visit {
  ip: string;
  atMs: number;
  /** A product's data (an id), its picture (`picture`), or a browser without the site's cookie calling the API (`cookieless`). */
  id?: number;
  picture?: true;
  cookieless?: true;
}

/**
 * Replicas sharing one store, each request handed to the next in turn as Envoy spreads them (or
 * to `replicaOf` its index), each replica exchanging as a Check would (`maybeExchange` before
 * `observe`). Returns, per request, the fired codes of the cohort signals.
 */
async function spread(visits: readonly Visit[], replicas: number, options: { exchange?: boolean; replicaOf?: (index: number) => number } = {}): Promise<string[][]> {
  const store = new MemoryStore();
  const trackers = Array.from({ length: replicas }, () => new CohortTracker(options.exchange === false ? undefined : store));
  const found: string[][] = [];
  for (const [i, visit] of visits.entries()) {
    const tracker = trackers[options.replicaOf?.(i) ?? i % replicas]!;
    const timeMs = T0 + visit.atMs;
    await tracker.maybeExchange(signals.cohorts, timeMs);
    const request: NormalisedRequest = {
      method: "GET",
      path: visit.picture ? `/static/img/products/${visit.id}.webp` : `/api/v1/products/${visit.id ?? "list"}`,
      query: "",
      host: "",
      headers: new Map([
        ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"],
        ["cookie", visit.cookieless ? "" : "sid=1"],
      ]),
      headerShape: "s",
      timeMs,
      anomalies: [],
      ipId: visit.ip,
    };
    const signalsFound = tracker.observe(request, visit.picture ? picture : product, signals, []);
    found.push(signalsFound.filter((s) => s.fired).map((s) => s.code));
  }
  return found;
}

/** A walk through 100.. by `count` addresses, one id each, `gapMs` apart. */
const walk = (count: number, gapMs: number): Visit[] => Array.from({ length: count }, (_, i) => ({ ip: `proxy${i}`, id: 100 + i, atMs: i * gapMs }));

describe("cohorts shared by replicas through the store's exchange", () => {
  it("flags a walk spread over three replicas, as one replica flags it once their reads have met", async () => {
    // Handed out two by two: each replica's own ids step by 5, wider than `maxStep`.
    const steps = walk(30, 1_000);
    const inPairs = { replicaOf: (i: number) => Math.floor(i / 2) % 3 };
    const flagged = (found: string[][]) => found.findIndex((codes) => codes.includes("cohort.catalogue_walk"));
    expect(flagged(await spread(steps, 1))).toBe(5); // the sixth read, beside five others
    expect(flagged(await spread(steps, 3, { ...inPairs, exchange: false }))).toBe(-1);
    const shared = await spread(steps, 3, inPairs);
    // Each read continues the others' reads of a second or two before: flagged a few reads later, and from then on.
    expect(flagged(shared)).toBe(7);
    expect(shared.slice(7).every((codes) => codes.includes("cohort.catalogue_walk"))).toBe(true);
  });

  it("takes out of the band a read whose picture another replica served", async () => {
    // Shoppers reading neighbouring products, each followed by its picture on the next replica.
    const shoppers = Array.from({ length: 12 }, (_, i) => [
      { ip: `shopper${i}`, id: 500 + i, atMs: i * 1_000 },
      { ip: `shopper${i}`, id: 500 + i, picture: true as const, atMs: i * 1_000 + 300 },
    ]).flat();
    const found = await spread(shoppers, 3);
    expect(found.filter((codes) => codes.includes("cohort.catalogue_walk"))).toEqual([]);
    // Without the pictures the same reads are a walk.
    const bare = await spread(shoppers.filter((visit) => !visit.picture), 3);
    expect(bare.filter((codes) => codes.includes("cohort.catalogue_walk")).length).toBeGreaterThan(0);
  });

  it("gathers a browser-without-session cohort from the addresses every replica saw", async () => {
    // Twelve cookieless addresses, one request each, a second apart: four per replica, one short of a cohort.
    const visits = Array.from({ length: 12 }, (_, i) => ({ ip: `bot${i}`, atMs: i * 1_000, cookieless: true as const }));
    const cohort = (found: string[][]) => found.map((codes) => codes.includes("cohort.browser_without_session"));
    expect(cohort(await spread(visits, 1)).indexOf(true)).toBe(4);
    expect(cohort(await spread(visits, 3, { exchange: false })).includes(true)).toBe(false);
    // The others' members arrive at this replica's next exchanges: two seconds after one replica's call.
    expect(cohort(await spread(visits, 3))).toEqual([...Array(6).fill(false), ...Array(6).fill(true)]);
  });

  it("keeps a busy replica's publication within the store's limit, so the others still hear it", async () => {
    // The longest endpoint name and ids the policy allows: 320 of each kind would be ~90,000 characters.
    const endpoint = { name: "e".repeat(64), pageView: false, resourceSegment: 4 } as CompiledEndpoint;
    const store = new MemoryStore();
    const [busy, other] = [new CohortTracker(store), new CohortTracker(store)];
    const observe = async (tracker: CohortTracker, ip: string, atMs: number, id: number, cookie: string) => {
      await tracker.maybeExchange(signals.cohorts, T0 + atMs);
      const headers = new Map([["user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"], ["cookie", cookie]]);
      const request: NormalisedRequest = { method: "GET", path: `/api/v1/products/${id}`, query: "", host: "", headers, headerShape: "s", timeMs: T0 + atMs, anomalies: [], ipId: ip.padEnd(22, "x") };
      return tracker.observe(request, endpoint, signals, []).find((signal) => signal.code === "cohort.browser_without_session");
    };
    // All within one exchange period, so that only the full publication can carry them.
    for (let i = 0; i < 320; i++) {
      await observe(busy, `joined${i}`, 1, 100_000_000_000_000 + 7 * i, "");
      await observe(busy, `reader${i}`, 1, 200_000_000_000_000 + 7 * i, "sid=1");
    }
    await observe(busy, "late", 300, 300_000_000_000_000, "sid=1");
    const seen = await observe(other, "newcomer", 600, 400_000_000_000_000, "");
    // The newcomer joins the busy replica's cohort: its latest members reached this replica.
    expect(seen?.fired).toBe(true);
  });
});
