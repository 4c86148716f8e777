import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledScraping, CompiledSignals } from "../policy/signals.js";
import { RecentCounts } from "./recent-counts.js";
import { catalogueOutcomeOps, planScraping, resourceIdOf } from "./scraping.js";
import type { Signal } from "./signal.js";

/**
 * The scraping detector on its own: the resource a catalogue request names, the counters it
 * reads per address, network and device, and the signals their counts make. The store is a
 * table of counts per entity and counter name.
 */

const products = { name: "products", authentication: false, resourceSegment: 4 } as CompiledEndpoint;
const search = { name: "search", authentication: false } as CompiledEndpoint;

function get(path: string, overrides: Partial<NormalisedRequest> = {}): NormalisedRequest {
  return {
    method: "GET", path, query: "", host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [],
    ipId: "ip-1", subnet: "198.51.100.0/24", fingerprintId: "fp-1",
    ...overrides,
  };
}

function judge(signals: CompiledSignals, counts: Record<string, number>, request: NormalisedRequest, endpoint = products): Signal[] {
  const plan = planScraping(request, endpoint, signals);
  return plan.evaluate(plan.ops.map(({ entity, op }) => counts[`${entity} ${op.name}`] ?? 0));
}

const byCode = (signals: Signal[]) => Object.fromEntries(signals.map((s) => [s.code, s]));
const scraping = (config: Partial<CompiledScraping>): CompiledSignals => ({ scraping: { windowMs: 600_000, distinctResources: {}, ...config } });

describe("resource ids", () => {
  it("takes the endpoint's segment of the path, cut to 64 characters, and none when the segment is empty or not configured", () => {
    expect(resourceIdOf(get("/api/v1/products/1234"), products)).toBe("1234");
    expect(resourceIdOf(get(`/api/v1/products/${"9".repeat(5000)}`), products)).toBe("9".repeat(64));
    expect(resourceIdOf(get("/api/v1/products/"), products)).toBeUndefined();
    expect(resourceIdOf(get("/api/v1"), products)).toBeUndefined();
    expect(resourceIdOf(get("/api/v1/products/1234"), search)).toBeUndefined();
  });
});

describe("scraping detector", () => {
  it("adds the resource to the distinct sets of each configured scope, per endpoint", () => {
    const signals = scraping({ distinctResources: { ip: { threshold: 60, weight: 25 }, fingerprint: { threshold: 100, weight: 20 } } });
    expect(planScraping(get("/api/v1/products/42"), products, signals).ops).toEqual([
      { entity: "ip:ip-1", op: { op: "distinct.add", name: "res:products", windowMs: 600_000, member: "42" } },
      { entity: "fp:fp-1", op: { op: "distinct.add", name: "res:products", windowMs: 600_000, member: "42" } },
    ]);
  });

  it("asks nothing without a scraping config, or for a request that names no resource and no query", () => {
    const signals = scraping({ distinctResources: { ip: { threshold: 60, weight: 25 } } });
    expect(planScraping(get("/api/v1/products/42"), products, {}).ops).toEqual([]);
    expect(planScraping(get("/api/v1/products/"), products, signals).ops).toEqual([]);
    expect(planScraping(get("/api/v1/products/"), products, signals).evaluate([])).toEqual([]);
  });

  it("fires breadth only above the threshold of each scope", () => {
    const signals = scraping({ distinctResources: { ip: { threshold: 60, weight: 25 }, subnet: { threshold: 200, weight: 15 }, fingerprint: { threshold: 100, weight: 20 } } });
    const found = byCode(judge(signals, { "ip:ip-1 res:products": 60, "net:198.51.100.0/24 res:products": 201, "fp:fp-1 res:products": 100 }, get("/api/v1/products/42")));
    expect(found["ip.distinct_resources"]).toEqual({ code: "ip.distinct_resources", value: 60, threshold: 60, weight: 25, fired: false, detail: "different resources fetched" });
    expect(found["subnet.distinct_resources"]).toMatchObject({ value: 201, threshold: 200, weight: 15, fired: true });
    expect(found["fingerprint.distinct_resources"]).toMatchObject({ value: 100, fired: false });
  });

  it("counts different searches by a short digest of the query, never the query itself", () => {
    const signals = scraping({ distinctQueries: { threshold: 30, weight: 20 } });
    const [op] = planScraping(get("/search", { query: "q=secret+words" }), search, signals).ops;
    expect(op).toMatchObject({ entity: "ip:ip-1", op: { op: "distinct.add", name: "queries:search", windowMs: 600_000 } });
    const member = (op!.op as { member: string }).member;
    expect(member).toMatch(/^[\w-]{16}$/);
    expect(member).not.toContain("secret");
    expect((planScraping(get("/search", { query: "q=other" }), search, signals).ops[0]!.op as { member: string }).member).not.toBe(member);
    expect(judge(signals, { "ip:ip-1 queries:search": 31 }, get("/search", { query: "q=x" }), search)).toEqual([
      { code: "ip.distinct_queries", value: 31, threshold: 30, weight: 20, fired: true },
    ]);
    expect(judge(signals, { "ip:ip-1 queries:search": 30 }, get("/search", { query: "q=x" }), search)[0]!.fired).toBe(false);
  });

  it("judges the share of catalogue answers that were 404 once there are enough of them", () => {
    const signals = scraping({ notFoundRatio: { minRequests: 20, threshold: 0.5, weight: 30 } });
    expect(planScraping(get("/api/v1/products/42"), products, signals).ops).toEqual([
      { entity: "ip:ip-1", op: { op: "window.add", name: "resp", windowMs: 600_000, amount: 0 } },
      { entity: "ip:ip-1", op: { op: "window.add", name: "nf", windowMs: 600_000, amount: 0 } },
    ]);
    const ratio = (responses: number, notFound: number) => judge(signals, { "ip:ip-1 resp": responses, "ip:ip-1 nf": notFound }, get("/api/v1/products/42"));
    expect(ratio(19, 19)).toEqual([]);
    expect(ratio(20, 10)).toEqual([{ code: "ip.not_found_ratio", value: 0.5, threshold: 0.5, weight: 30, fired: false }]);
    expect(ratio(30, 17)).toEqual([{ code: "ip.not_found_ratio", value: 0.57, threshold: 0.5, weight: 30, fired: true }]);
    // 404s counted before their responses (outcomes out of order) never make it over 1.
    expect(ratio(20, 30)[0]!.value).toBe(1);
  });

  it("counts a catalogue answer and whether it was a 404 on the access-log side", () => {
    const signals = scraping({ notFoundRatio: { minRequests: 20, threshold: 0.5, weight: 30 } });
    expect(catalogueOutcomeOps(signals, 404)).toEqual([
      { op: "window.add", name: "resp", windowMs: 600_000, amount: 1 },
      { op: "window.add", name: "nf", windowMs: 600_000, amount: 1 },
    ]);
    expect(catalogueOutcomeOps(signals, 200).map((op) => (op as { amount: number }).amount)).toEqual([1, 0]);
    expect(catalogueOutcomeOps(scraping({}), 404)).toEqual([]);
    expect(catalogueOutcomeOps({}, 404)).toEqual([]);
  });

  it("notices API requests from an address that never loads a page, and always measures its page views", () => {
    const signals = scraping({ noAssets: { minRequests: 10, weight: 20 } });
    expect(planScraping(get("/api/v1/products/42"), products, signals).ops).toEqual([
      { entity: "ip:ip-1", op: { op: "window.add", name: "api", windowMs: 600_000, amount: 1 } },
      { entity: "ip:ip-1", op: { op: "window.add", name: "pages", windowMs: 600_000, amount: 0 } },
    ]);
    const request = get("/api/v1/products/42");
    expect(judge(signals, { "ip:ip-1 api": 10, "ip:ip-1 pages": 0 }, request)).toEqual([
      { code: "ip.page_views", value: 0, weight: 0, fired: false },
      { code: "ip.no_page_views", value: 10, threshold: 10, weight: 20, fired: true, detail: "API requests without a page or asset view" },
    ]);
    expect(judge(signals, { "ip:ip-1 api": 9, "ip:ip-1 pages": 0 }, request)).toEqual([{ code: "ip.page_views", value: 0, weight: 0, fired: false }]);
    expect(judge(signals, { "ip:ip-1 api": 50, "ip:ip-1 pages": 1 }, request)).toEqual([{ code: "ip.page_views", value: 1, weight: 0, fired: false }]);
    // The page window is the sequence signal's when there is one (one counter for both readers).
    const withSequence = { ...signals, sequence: { windowMs: 1_800_000, weight: 10 } };
    expect(planScraping(request, products, withSequence).ops.map((o) => (o.op as { windowMs: number }).windowMs)).toEqual([1_800_000, 1_800_000]);
  });
});

describe("the fingerprint's resources from a recent copy", () => {
  const signals = scraping({ distinctResources: { ip: { threshold: 60, weight: 25 }, fingerprint: { threshold: 400, weight: 25 } } });
  const opOf = (plan: ReturnType<typeof planScraping>, entity: string) => plan.ops.find((o) => o.entity === entity)?.op;
  const T = 1_000 * 600_000 + 1_000;

  it("adds only, and reads the copy, while a fresh count under a second old is over the threshold; the address counts afresh", () => {
    const recent = new RecentCounts();
    const first = planScraping(get("/api/v1/products/1", { timeMs: T }), products, signals, recent);
    expect(opOf(first, "fp:fp-1")).not.toHaveProperty("count");
    first.evaluate(first.ops.map((o) => (o.entity === "fp:fp-1" ? 450 : 3)));
    const next = planScraping(get("/api/v1/products/2", { timeMs: T + 999 }), products, signals, recent);
    expect(opOf(next, "fp:fp-1")).toMatchObject({ count: false, member: "2" });
    expect(opOf(next, "ip:ip-1")).not.toHaveProperty("count");
    const found = byCode(next.evaluate(next.ops.map((o) => (o.entity === "fp:fp-1" ? 0 : 4))));
    expect(found["fingerprint.distinct_resources"]).toMatchObject({ value: 450, fired: true });
    expect(found["ip.distinct_resources"]).toMatchObject({ value: 4, fired: false });
    // A second old, the copy is refreshed by a fresh count.
    expect(opOf(planScraping(get("/api/v1/products/3", { timeMs: T + 1_000 }), products, signals, recent), "fp:fp-1")).not.toHaveProperty("count");
  });

  it("counts afresh while the copy is at or under the threshold, so the signal never fires late", () => {
    const recent = new RecentCounts();
    const first = planScraping(get("/api/v1/products/1", { timeMs: T }), products, signals, recent);
    first.evaluate(first.ops.map(() => 400));
    expect(opOf(planScraping(get("/api/v1/products/2", { timeMs: T + 10 }), products, signals, recent), "fp:fp-1")).not.toHaveProperty("count");
  });
});
