import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledScraping } from "../policy/signals.js";
import { planScraping } from "./scraping.js";

/**
 * The scraping detector at its edges (scraping.test.ts plays the common cases): requests that
 * name neither a resource nor a query, a query on a policy that counts no queries, and a request
 * without an address, whose counts were never read and so make no signal.
 */

const products = { name: "products", authentication: false, resourceSegment: 2 } as CompiledEndpoint;
const search = { name: "search", authentication: false } as CompiledEndpoint;
const limit = { threshold: 5, weight: 20 };
const every: CompiledScraping = {
  windowMs: 600_000,
  distinctResources: { ip: limit, subnet: limit, fingerprint: limit },
  distinctQueries: limit,
  notFoundRatio: { minRequests: 0, threshold: 0.5, weight: 20 },
  noAssets: { minRequests: 0, weight: 20 },
};

function get(path: string, query = "", overrides: Partial<NormalisedRequest> = {}): NormalisedRequest {
  return { method: "GET", path, query, host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [], ipId: "ip-1", ...overrides };
}

describe("scraping at its edges", () => {
  it("plans nothing for a request that names neither a resource nor a query", () => {
    expect(planScraping(get("/products"), products, { scraping: every }).ops).toEqual([]);
    expect(planScraping(get("/search"), search, { scraping: every }).ops).toEqual([]);
  });

  it("counts no query where the policy counts none, and no API request without noAssets even where page views are counted", () => {
    const settings = { scraping: { ...every, distinctQueries: undefined, noAssets: undefined }, sequence: { windowMs: 600_000, weight: 20 } };
    expect(planScraping(get("/search", "q=shoes"), search, settings).ops).toEqual([]);
  });

  it("makes no signal from counts a request without an address never read", () => {
    const anonymous = { ipId: undefined, subnet: undefined, fingerprintId: undefined };
    const resource = planScraping(get("/products/7", "", anonymous), products, { scraping: every });
    expect(resource.ops).toEqual([]);
    expect(resource.evaluate([])).toEqual([]);
    const query = planScraping(get("/search", "q=shoes", anonymous), search, { scraping: every });
    expect(query.evaluate([])).toEqual([]);
  });
});
