import type { CompiledProbeList, CompiledProbing, ProbeTarget } from "../policy/probes.js";
import { headerKnown, type NormalisedRequest } from "../domain/request.js";
import type { EntityOp } from "../state/store.js";
import { shortDigest } from "./digests.js";
import { entitiesOf } from "./entities.js";
import { namedOps, NO_PLAN, type Signal, type SignalPlan } from "./signal.js";

/** Store names of the per-client probing evidence; the access-log side fills `missing` and `errors`. */
const NAMES = { probes: "probe", requests: "probe.req", errors: "probe.err", missing: "probe.miss", agents: "probe.ua", queries: "probe.qs", unauthorized: "probe.401" } as const;

/** HTTP versions that exist; anything else in a request line is a tool or garbage. */
const HTTP_VERSIONS = new Set(["HTTP/0.9", "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/3", "HTTP/3.0"]);

/**
 * Missing stylesheets, scripts, images and fonts are the site's own broken links, which every
 * reader of the page trips over: they are not counted as a client probing for paths.
 */
export const STATIC_ASSET = /\.(?:css|js|mjs|map|png|jpe?g|gif|ico|svg|webp|avif|bmp|woff2?|ttf|otf|eot)$/i;

/** Decoding stops after this many rounds: enough for double and triple encoding, bounded for the rest. */
const MAX_DECODE_ROUNDS = 3;

/**
 * Percent-decodes until nothing changes (double encoding such as `%252e%252e%252f` included),
 * byte for byte so malformed escapes cannot throw, and turns backslashes into slashes, so a
 * probe list sees the request as the application behind the proxy might finally read it.
 */
export function decodeFully(text: string): string {
  // Most texts hold no escape and no backslash: no regular expression for them.
  if (!text.includes("%")) return text.includes("\\") ? text.replace(/\\/g, "/") : text;
  let current = text;
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    const next = current.replace(/%([0-9a-fA-F]{2})/g, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === current) break;
    current = next;
  }
  return current.replace(/\\/g, "/");
}

/** The parts of a request a probe list can be matched against, decoded once and only when asked for. */
function probeTexts(request: NormalisedRequest): (target: ProbeTarget) => string {
  const raw = rawTarget(request);
  // A plain object of at most five fields: lighter than a Map made on every Check.
  const texts: Partial<Record<ProbeTarget, string>> = {};
  return (target) => (texts[target] ??= probeText(request, raw, target));
}

function probeText(request: NormalisedRequest, raw: string, target: ProbeTarget): string {
  const queryAt = raw.indexOf("?");
  const rawPath = queryAt >= 0 ? raw.slice(0, queryAt) : raw;
  const rawQuery = queryAt >= 0 ? raw.slice(queryAt + 1) : "";
  switch (target) {
    case "path":
      return decodeFully(rawPath);
    case "query":
      return decodeFully(rawQuery.replace(/\+/g, " "));
    case "request":
      return rawQuery === "" ? decodeFully(rawPath) : `${decodeFully(rawPath)}?${decodeFully(rawQuery.replace(/\+/g, " "))}`;
    case "user-agent":
      return request.headers.get("user-agent") ?? "";
    case "headers":
      return [...request.headers].map(([name, value]) => `${name}: ${value}`).join("\n");
  }
}

/** Why the request line itself is suspect: an HTTP version that does not exist, or a proxy request. */
export function protocolProblem(request: NormalisedRequest): string | undefined {
  if (request.protocol !== undefined && request.protocol !== "" && !HTTP_VERSIONS.has(request.protocol.toUpperCase())) return "unknown HTTP version";
  if (request.method === "CONNECT") return "CONNECT (proxy request)";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rawTarget(request))) return "absolute URL (proxy request)";
  return undefined;
}

function rawTarget(request: NormalisedRequest): string {
  return request.target ?? (request.query === "" ? request.path : `${request.path}?${request.query}`);
}

const shortHash = (text: string) => shortDigest("sha1", text, 16);

/**
 * Evidence about one client from every request it makes, named endpoint or not: which probe
 * lists the request matches (`probe.<list>`), a bad request line (`request.bad_protocol`), and
 * per IP over the window: different probe requests (`ip.probes`), different missing paths, the
 * share of errors and the 401s the site answered (`ip.missing_paths`, `ip.error_ratio`,
 * `ip.auth_failures`, from the access log),
 * different user agents (`ip.user_agents`) and query strings (`ip.query_flood`). One script
 * call on the IP's keys.
 */
export function planProbing(request: NormalisedRequest, config: CompiledProbing | undefined): SignalPlan {
  if (!config) return NO_PLAN;
  const text = probeTexts(request);
  const matched = matchingLists(config.lists, text);
  const badProtocol = config.protocol ? protocolProblem(request) : undefined;
  const ip = entitiesOf(request).ip;
  const { ops, add, reader } = namedOps();
  const windowMs = config.windowMs;
  const certain = matched.length === 0 ? NO_LISTS : matched.filter((list) => list.threshold === undefined);
  const probing = certain.length > 0 || badProtocol !== undefined;
  // The request's digest is a member only of the probes' set or a counted list's: most requests need none.
  const requestKey = (config.probes && probing) || matched.length > certain.length ? shortHash(`${request.method} ${rawTarget(request)}`) : undefined;
  const fixed = fixedOpsOf(config);
  if (config.probes) add("probes", ip, probing ? { op: "distinct.add", name: NAMES.probes, windowMs, member: requestKey } : fixed.probesRead);
  for (const list of matched) {
    if (list.threshold !== undefined) add(`list.${list.name}`, ip, { op: "distinct.add", name: `${NAMES.probes}:${list.name}`, windowMs, member: requestKey });
  }
  if (config.missingPaths) add("missing", ip, fixed.missing);
  if (config.errorRatio) {
    add("requests", ip, fixed.requests);
    add("errors", ip, fixed.errors);
  }
  if (config.authFailures) add("unauthorized", ip, fixed.unauthorized);
  const agent = request.headers.get("user-agent");
  if (config.userAgents && headerKnown(request, "user-agent")) {
    add("agents", ip, { op: "distinct.add", name: NAMES.agents, windowMs, member: shortHash(agent ?? "") });
  }
  if (config.queryFlood && request.query !== "") add("queries", ip, { op: "distinct.add", name: NAMES.queries, windowMs, member: shortHash(request.query) });
  return {
    ops,
    evaluate(results) {
      const value = reader(results);
      const found: Signal[] = matched.length === 0 ? [] : matched.flatMap((list): Signal[] => {
        const detail = `matches the ${list.name} list (${list.target})`;
        if (list.threshold === undefined) return [{ code: `probe.${list.name}`, value: 1, weight: list.weight, fired: true, detail }];
        const seen = value(`list.${list.name}`);
        if (seen === undefined) return [];
        return [{ code: `probe.${list.name}`, value: seen, threshold: list.threshold, weight: list.weight, fired: seen > list.threshold, detail, windowMs }];
      });
      if (badProtocol && config.protocol) found.push({ code: "request.bad_protocol", value: 1, weight: config.protocol.weight, fired: true, detail: badProtocol });
      pushCount(found, value("probes"), "ip.probes", config.probes, "probe requests", windowMs);
      pushCount(found, value("missing"), "ip.missing_paths", config.missingPaths, "different paths answered with an error", windowMs);
      pushCount(found, value("agents"), "ip.user_agents", config.userAgents, "different user agents", windowMs);
      pushCount(found, value("unauthorized"), "ip.auth_failures", config.authFailures, "responses 401 on any path", windowMs);
      pushCount(found, value("queries"), "ip.query_flood", config.queryFlood, "different query strings", windowMs);
      const requests = value("requests");
      const limit = config.errorRatio;
      if (requests !== undefined && limit && requests >= limit.minRequests) {
        const ratio = Math.min(1, Math.round(((value("errors") ?? 0) / requests) * 100) / 100);
        found.push({ code: "ip.error_ratio", value: ratio, threshold: limit.threshold, weight: limit.weight, fired: ratio > limit.threshold, windowMs });
      }
      return found;
    },
  };
}

const NO_LISTS: readonly CompiledProbeList[] = [];

/** The ops of planProbing that no request changes (reads, and the request count), the same on every Check. */
interface FixedProbingOps {
  probesRead: EntityOp;
  missing: EntityOp;
  requests: EntityOp;
  errors: EntityOp;
  unauthorized: EntityOp;
}

/** Built on a probing config's first Check and kept while its compiled policy lives; stores never change an op. */
const FIXED_OPS = new WeakMap<CompiledProbing, FixedProbingOps>();

function fixedOpsOf(config: CompiledProbing): FixedProbingOps {
  let fixed = FIXED_OPS.get(config);
  if (fixed === undefined) {
    const windowMs = config.windowMs;
    fixed = {
      probesRead: { op: "distinct.add", name: NAMES.probes, windowMs, member: undefined },
      missing: { op: "distinct.add", name: NAMES.missing, windowMs },
      requests: { op: "window.add", name: NAMES.requests, windowMs, amount: 1 },
      errors: { op: "window.add", name: NAMES.errors, windowMs, amount: 0 },
      unauthorized: { op: "window.add", name: NAMES.unauthorized, windowMs, amount: 0 },
    };
    FIXED_OPS.set(config, fixed);
  }
  return fixed;
}

/**
 * The lists whose pattern the request matches, in the policy's order. Almost every request
 * matches none: then no array is made for it (this runs on every Check).
 */
function matchingLists(lists: readonly CompiledProbeList[], text: (target: ProbeTarget) => string): readonly CompiledProbeList[] {
  let matched: CompiledProbeList[] | undefined;
  for (const list of lists) if (list.pattern.test(text(list.target))) (matched ??= []).push(list);
  return matched ?? NO_LISTS;
}

/** A counter's signal, when it was counted and its limit is configured. */
function pushCount(found: Signal[], measured: number | undefined, code: string, limit: { threshold: number; weight: number } | undefined, detail: string, windowMs: number): void {
  if (measured === undefined || !limit) return;
  const rounded = Math.round(measured * 100) / 100;
  found.push({ code, value: rounded, threshold: limit.threshold, weight: limit.weight, fired: rounded > limit.threshold, detail, windowMs });
}

/**
 * Access-log side: a response with one of the `missingPaths` statuses adds its path to the
 * client's missing paths and counts an error; a 401 counts towards `ip.auth_failures`. Other
 * responses cost nothing, so the store work
 * grows with errors, not with traffic.
 */
export function probingOutcomeOps(config: CompiledProbing | undefined, statusCode: number, path: string | undefined): EntityOp[] {
  if (config?.authFailures && statusCode === 401) return [{ op: "window.add", name: NAMES.unauthorized, windowMs: config.windowMs, amount: 1 }];
  const statuses = config?.missingPaths?.statuses ?? [400, 403, 404];
  if (!config || !statuses.includes(statusCode)) return [];
  const bare = (path ?? "/").split("?")[0]!;
  const ops: EntityOp[] = [];
  if (config.missingPaths && !STATIC_ASSET.test(bare)) {
    ops.push({ op: "distinct.add", name: NAMES.missing, windowMs: config.windowMs, member: shortHash(bare) });
  }
  if (config.errorRatio) ops.push({ op: "window.add", name: NAMES.errors, windowMs: config.windowMs, amount: 1 });
  return ops;
}
