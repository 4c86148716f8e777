/**
 * The replica heap `site.catalogue_spread` and `session.first_reads` hold at their bounds: one
 * tracker fed product reads of distinct ids from distinct browser sessions until both tables are
 * full (65,536 ids, 20,000 sessions), heap measured after a forced GC before and after; with
 * `--one-session` every read is one session's, so only the ids' table fills.
 *
 *   node --expose-gc --import tsx bench/catalogue-spread-memory.ts [--one-session]
 */
import { CatalogueSpread } from "../src/detection/catalogue-spread.js";
import type { NormalisedRequest } from "../src/domain/request.js";
import type { CompiledEndpoint } from "../src/policy/compile.js";
import type { CompiledSignals } from "../src/policy/signals.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const cohorts: NonNullable<CompiledSignals["cohorts"]> = {
  windowMs: 600_000,
  sessionCookies: ["sid"],
  minMembers: 5,
  browserWithoutSession: 40,
  catalogueSpread: { windowMs: 3_600_000, catalogueSize: 10_000, minExpectedRepeats: 20, maxRepeatShare: 0.5, session: { minReads: 3, firstShare: 0.8, weight: 0 } },
};
const product = { name: "product", pageView: false, resourceSegment: 4 } as CompiledEndpoint;

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const oneSession = process.argv.includes("--one-session");
const before = heap();
const tracker = new CatalogueSpread();
const reads = 200_000;
for (let i = 0; i < reads; i++) {
  const request = {
    method: "GET",
    path: `/api/v1/products/${1_000_000 + i}`,
    query: "",
    host: "",
    headers: new Map([["cookie", oneSession ? "sid=one" : `sid=session-${i}`]]),
    headerShape: "s",
    timeMs: i,
    anomalies: [],
    ipId: `ip-${i}`,
  } as NormalisedRequest;
  tracker.observe(request, product, cohorts);
}
const after = heap();
const bytes = after - before;
// The figure read after the measurement keeps the tracker alive through it.
const figure = tracker.figure(reads, cohorts.catalogueSpread!);
console.log(JSON.stringify({ reads, heapBytes: bytes, heapMiB: Math.round((bytes / 1_048_576) * 10) / 10, windowReads: figure?.reads }));
