import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledScraping, CompiledSignals } from "../policy/signals.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { EntityOp } from "../state/store.js";
import { shortDigest } from "./digests.js";
import { COUNTER_NAMES, entitiesOf, named, pageViewWindowMs } from "./entities.js";
import type { RecentCounts } from "./recent-counts.js";
import { namedOps, NO_PLAN, type ResultReader, type Signal, type SignalPlan } from "./signal.js";

/** Longest resource id kept: ids are store members, and an attacker chooses them. */
const MAX_RESOURCE_ID = 64;
/** Names of the distinct-resource ops per scope, and the prefixes of the counters' names. */
const RESOURCE_KEYS = { ip: "res.ip", subnet: "res.subnet", fingerprint: "res.fingerprint" } as const;
const RESOURCE_SCOPES = ["ip", "subnet", "fingerprint"] as const;
const BREADTH_CODES = { ip: "ip.distinct_resources", subnet: "subnet.distinct_resources", fingerprint: "fingerprint.distinct_resources" } as const;
const RESOURCES_PREFIX = `${COUNTER_NAMES.resources}:`;
const QUERIES_PREFIX = `${COUNTER_NAMES.queries}:`;

/** The resource id a catalogue request names, cut to a bounded length; undefined when none. */
export function resourceIdOf(request: NormalisedRequest, endpoint: CompiledEndpoint): string | undefined {
  if (endpoint.resourceSegment === undefined) return undefined;
  const segment = segmentAt(request.path, endpoint.resourceSegment);
  return segment ? segment.slice(0, MAX_RESOURCE_ID) : undefined;
}

/** `path.split("/")[index]`, or "" where that is undefined, without the array: a Check asks three times. */
function segmentAt(path: string, index: number): string {
  let start = 0;
  for (let i = 0; i < index; i++) {
    const slash = path.indexOf("/", start);
    if (slash < 0) return "";
    start = slash + 1;
  }
  const end = path.indexOf("/", start);
  return path.slice(start, end < 0 ? path.length : end);
}

/**
 * Scraping and enumeration on catalogue and search endpoints: how many different resources (or
 * queries) one IP, subnet or fingerprint fetched, how often its catalogue requests hit 404, and
 * whether it calls the API without ever loading a page. One script call per entity. With
 * `recent`, the fingerprint's count is read from a copy at most a second old while that copy is
 * over the threshold (RecentCounts: the signal fires exactly as with a fresh count).
 */
export function planScraping(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals, recent?: RecentCounts): SignalPlan {
  const config = signals.scraping;
  const resource = resourceIdOf(request, endpoint);
  if (!config || (resource === undefined && request.query === "")) return NO_PLAN;
  const entities = entitiesOf(request);
  const { ops, add, reader } = namedOps();
  const windowMs = config.windowMs;
  const fixed = fixedOpsOf(endpoint, config, signals);
  // The resources behind one fingerprint: a key every browser of one header set shares, a
  // crowd of shoppers and a distributed scraper alike (recent-counts.ts).
  const fingerprintLimit = config.distinctResources.fingerprint;
  const fingerprintKey = recent && fingerprintLimit && resource !== undefined && entities.fingerprint ? `${entities.fingerprint}\u0000${COUNTER_NAMES.resources}:${endpoint.name}` : undefined;
  const fingerprintCopy = fingerprintKey === undefined ? undefined : recent!.usable(fingerprintKey, windowMs, request.timeMs, fingerprintLimit!.threshold);
  if (resource !== undefined) {
    for (const scope of RESOURCE_SCOPES) {
      if (config.distinctResources[scope]) {
        const name = fixed.resources;
        // A copy in use: the resource is still added, its count not asked for.
        const op: EntityOp = scope === "fingerprint" && fingerprintCopy !== undefined
          ? { op: "distinct.add", name, windowMs, member: resource, count: false }
          : { op: "distinct.add", name, windowMs, member: resource };
        add(RESOURCE_KEYS[scope], entities[scope], op);
      }
    }
    if (fixed.responses && fixed.notFound) {
      add("resp", entities.ip, fixed.responses);
      add("nf", entities.ip, fixed.notFound);
    }
  } else if (config.distinctQueries) {
    const query = shortDigest("sha1", request.query, 16);
    add("queries", entities.ip, { op: "distinct.add", name: fixed.queries, windowMs, member: query });
  }
  if (fixed.apiRequests && fixed.pageViews) {
    add("api", entities.ip, fixed.apiRequests);
    add("pages", entities.ip, fixed.pageViews);
  }
  return {
    ops,
    evaluate(results) {
      const read = reader(results);
      const value: ResultReader = fingerprintCopy === undefined ? read : (key) => (key === "res.fingerprint" ? fingerprintCopy : read(key));
      const fresh = fingerprintKey !== undefined && fingerprintCopy === undefined ? read("res.fingerprint") : undefined;
      if (fresh !== undefined) recent!.remember(fingerprintKey!, windowMs, request.timeMs, fresh);
      return [...breadthSignals(value, config), ...notFoundSignal(value, config), ...noAssetsSignal(value, config)];
    },
  };
}



/**
 * An endpoint's scraping op names and the ops no request changes (reads, the API request
 * count), built on its first Check and kept while its compiled policy lives, as velocity's are.
 * Stores never change an op.
 */
interface FixedScrapingOps {
  /** What they were built for: an endpoint object planned under other signals (tests) is built again. */
  signals: CompiledSignals;
  resources: string;
  queries: string;
  responses?: EntityOp;
  notFound?: EntityOp;
  apiRequests?: EntityOp;
  pageViews?: EntityOp;
}

const FIXED_OPS = new WeakMap<CompiledEndpoint, FixedScrapingOps>();

function fixedOpsOf(endpoint: CompiledEndpoint, config: CompiledScraping, signals: CompiledSignals): FixedScrapingOps {
  let fixed = FIXED_OPS.get(endpoint);
  if (fixed?.signals !== signals) {
    const windowMs = config.windowMs;
    const pageWindow = pageViewWindowMs(signals);
    const counted = config.noAssets && pageWindow;
    fixed = {
      signals,
      resources: named(RESOURCES_PREFIX, endpoint.name),
      queries: named(QUERIES_PREFIX, endpoint.name),
      ...(config.notFoundRatio
        ? {
            responses: { op: "window.add", name: COUNTER_NAMES.catalogueResponses, windowMs, amount: 0 },
            notFound: { op: "window.add", name: COUNTER_NAMES.notFound, windowMs, amount: 0 },
          }
        : {}),
      ...(counted
        ? {
            apiRequests: { op: "window.add", name: COUNTER_NAMES.apiRequests, windowMs: pageWindow, amount: 1 },
            pageViews: { op: "window.add", name: COUNTER_NAMES.pageViews, windowMs: pageWindow, amount: 0 },
          }
        : {}),
    };
    FIXED_OPS.set(endpoint, fixed);
  }
  return fixed;
}

function breadthSignals(value: ResultReader, config: CompiledScraping): Signal[] {
  const found: Signal[] = [];
  for (const scope of RESOURCE_SCOPES) {
    const measured = value(RESOURCE_KEYS[scope]);
    const limit = config.distinctResources[scope];
    if (measured !== undefined && limit) {
      found.push({ code: BREADTH_CODES[scope], value: measured, threshold: limit.threshold, weight: limit.weight, fired: measured > limit.threshold, detail: "different resources fetched" });
    }
  }
  const queries = value("queries");
  if (queries !== undefined && config.distinctQueries) {
    const limit = config.distinctQueries;
    found.push({ code: "ip.distinct_queries", value: queries, threshold: limit.threshold, weight: limit.weight, fired: queries > limit.threshold });
  }
  return found;
}

function notFoundSignal(value: ResultReader, config: CompiledScraping): Signal[] {
  const responses = value("resp");
  const limit = config.notFoundRatio;
  if (responses === undefined || !limit || responses < limit.minRequests) return [];
  const ratio = Math.min(1, Math.round(((value("nf") ?? 0) / responses) * 100) / 100);
  return [{ code: "ip.not_found_ratio", value: ratio, threshold: limit.threshold, weight: limit.weight, fired: ratio > limit.threshold }];
}

function noAssetsSignal(value: ResultReader, config: CompiledScraping): Signal[] {
  const api = value("api");
  const pages = value("pages");
  const limit = config.noAssets;
  if (api === undefined || pages === undefined || !limit) return [];
  // The page count itself is measured for the catalogue cohort; it never adds risk by itself.
  const measured: Signal = { code: "ip.page_views", value: pages, weight: 0, fired: false };
  if (api < limit.minRequests || pages > 0) return [measured];
  return [measured, { code: "ip.no_page_views", value: api, threshold: limit.minRequests, weight: limit.weight, fired: true, detail: "API requests without a page or asset view" }];
}

/** Access-log side: counts a catalogue response per IP, and whether it was a 404. */
export function catalogueOutcomeOps(signals: CompiledSignals, statusCode: number): EntityOp[] {
  const config = signals.scraping;
  if (!config?.notFoundRatio) return [];
  const windowMs = config.windowMs;
  return [
    { op: "window.add", name: COUNTER_NAMES.catalogueResponses, windowMs, amount: 1 },
    { op: "window.add", name: COUNTER_NAMES.notFound, windowMs, amount: statusCode === 404 ? 1 : 0 },
  ];
}
