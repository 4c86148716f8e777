import type { DescriptorLevel, DescriptorNode } from "./config.js";
import type { DescriptorEntry } from "./request.js";

/** The configured descriptor a request descriptor reached, and how statistics name it. */
export interface Match {
  node: DescriptorNode;
  /**
   * envoyproxy/ratelimit's statistics key below the domain: `key_value` for each level matched by
   * value, `key` for a default match, joined by dots. Request values appear only where the
   * matched limit asks for detailed_metric or a level for value_to_metric.
   */
  statsKey: string;
  /** The same with no request values at all, for when detailed series must be rolled up. */
  rollupStatsKey: string;
  /**
   * Per request entry, the wildcard pattern that stands for its value in the counter's identity
   * (share_threshold), or undefined where the value itself counts. Absent when no level shares.
   */
  sharedPatterns?: (string | undefined)[];
}

/**
 * Which wildcard wins when several match a value: `specific` (Palisade) tries the pattern with
 * the most literal text first; `file` (envoyproxy/ratelimit) tries them in file order.
 */
export type WildcardOrder = "specific" | "file";

/** Longest request value shown in a statistics key; longer ones are cut, so labels stay small. */
const MAX_STATS_VALUE_LENGTH = 64;

/**
 * Walks the configuration one level per request entry, as envoyproxy/ratelimit does: at each
 * level the most specific descriptor wins — the exact key and value, then a wildcard value
 * (where each `*` matches any text), then the key's default (no value) — and the walk never
 * backtracks. A request with more entries than the configuration has levels matches nothing,
 * and so does one that stops at a descriptor without a rate_limit.
 */
export function matchDescriptor(root: DescriptorLevel, entries: readonly DescriptorEntry[], order: WildcardOrder = "specific"): Match | undefined {
  // The usual case first, walked without a path: exact values and defaults without
  // value_to_metric all the way, whose match is the leaf's own, made once.
  let level: DescriptorLevel | undefined = root;
  let leaf: DescriptorNode | undefined;
  for (const entry of entries) {
    leaf = level?.exact.get(entry.key)?.get(entry.value);
    if (leaf === undefined) {
      const fallback = level?.anyValue.get(entry.key);
      if (fallback === undefined || fallback.valueToMetric || level!.wildcards.has(entry.key)) return matchAlongPath(root, entries, order);
      leaf = fallback;
    }
    level = leaf.children;
  }
  if (!leaf?.rule) return undefined;
  if (leaf.detailedMetric) return matchAlongPath(root, entries, order);
  let match = VALUE_FREE_MATCHES.get(leaf);
  if (match === undefined) {
    match = matchAlongPath(root, entries, order)!;
    VALUE_FREE_MATCHES.set(leaf, match);
  }
  return match;
}

/** matchDescriptor with the path kept, for statistics keys that hold request values or shared patterns. */
function matchAlongPath(root: DescriptorLevel, entries: readonly DescriptorEntry[], order: WildcardOrder): Match | undefined {
  let level: DescriptorLevel | undefined = root;
  const path: { node: DescriptorNode; how: MatchedBy }[] = [];
  for (const entry of entries) {
    const found: { node: DescriptorNode; how: MatchedBy } | undefined = level && findAtLevel(level, entry, order);
    if (!found) return undefined;
    path.push(found);
    level = found.node.children;
  }
  const leaf = path.at(-1)?.node;
  if (!leaf?.rule) return undefined;
  if (valueFree(path)) {
    const statsKey = statsKeyOf(path, entries, NONE_SHARED, false, false);
    return { node: leaf, statsKey, rollupStatsKey: statsKey };
  }
  const shared = path.map(({ node, how }) => (how === "wildcard" ? node.sharedPattern : undefined));
  const statsKey = statsKeyOf(path, entries, shared, leaf.detailedMetric, true);
  // Without a request value in any segment the rolled-up key is the same text: built once.
  const withRequestValues = leaf.detailedMetric || path.some(({ node, how }, i) => shared[i] === undefined && how !== "exact" && node.valueToMetric);
  const match: Match = { node: leaf, statsKey, rollupStatsKey: withRequestValues ? statsKeyOf(path, entries, shared, false, false) : statsKey };
  if (shared.some((pattern) => pattern !== undefined)) match.sharedPatterns = shared;
  return match;
}

type MatchedBy = "exact" | "wildcard" | "default";

/**
 * Matches of the leaves reached with no request value in their statistics key. A configured
 * node is reached by one path only and never changes (a reload builds new ones), so its match
 * is the same every time (callers only read it); held weakly, so a replaced configuration's
 * matches go with it.
 */
const VALUE_FREE_MATCHES = new WeakMap<DescriptorNode, Match>();
const NONE_SHARED: readonly undefined[] = [];

/**
 * Whether no segment of the statistics key holds a request value: every level matched by exact
 * value or by its key's default without value_to_metric, and the limit is not detailed.
 */
function valueFree(path: readonly { node: DescriptorNode; how: MatchedBy }[]): boolean {
  if (path[path.length - 1]!.node.detailedMetric) return false;
  for (const { node, how } of path) if (how === "wildcard" || (how === "default" && node.valueToMetric)) return false;
  return true;
}

function statsKeyOf(
  path: readonly { node: DescriptorNode; how: MatchedBy }[],
  entries: readonly DescriptorEntry[],
  shared: readonly (string | undefined)[],
  detailed: boolean,
  withValues: boolean,
): string {
  return path.map(({ node, how }, i) => statsSegment(node, how, entries[i]!, shared[i], detailed, withValues)).join(".");
}

function findAtLevel(level: DescriptorLevel, entry: DescriptorEntry, order: WildcardOrder): { node: DescriptorNode; how: MatchedBy } | undefined {
  const exact = level.exact.get(entry.key)?.get(entry.value);
  if (exact) return { node: exact, how: "exact" };
  const candidates = (order === "file" ? level.wildcards : level.wildcardsBySpecificity).get(entry.key);
  const wildcard = candidates?.find(({ parts }) => wildcardMatches(parts, entry.value));
  if (wildcard) return { node: wildcard.node, how: "wildcard" };
  const fallback = level.anyValue.get(entry.key);
  return fallback && { node: fallback, how: "default" };
}

/** Whether `value` matches a pattern split on its stars: each `*` stands for any text, even none. */
export function wildcardMatches(parts: readonly string[], value: string): boolean {
  const first = parts[0]!;
  const last = parts.at(-1)!;
  if (parts.length === 1) return value === first;
  if (value.length < parts.reduce((sum, part) => sum + part.length, 0)) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  let rest = value.slice(first.length, value.length - last.length);
  for (const part of parts.slice(1, -1)) {
    const at = rest.indexOf(part);
    if (at < 0) return false;
    rest = rest.slice(at + part.length);
  }
  return true;
}

/**
 * One level of a statistics key, as envoyproxy/ratelimit names it: the pattern for a shared
 * wildcard; the request's value where the limit is detailed, or where value_to_metric asks
 * (for a wildcard or default match); otherwise the configured value, or the key alone.
 */
function statsSegment(node: DescriptorNode, how: MatchedBy, entry: DescriptorEntry, shared: string | undefined, detailed: boolean, withValues: boolean): string {
  if (shared !== undefined) return `${entry.key}_${shared}`;
  const requestValue = withValues && (detailed || (how !== "exact" && node.valueToMetric));
  if (requestValue) return `${entry.key}_${shorten(entry.value)}`;
  return node.value === undefined ? entry.key : `${entry.key}_${node.value}`;
}

function shorten(value: string): string {
  return value.length > MAX_STATS_VALUE_LENGTH ? `${value.slice(0, MAX_STATS_VALUE_LENGTH)}…` : value;
}

/** Entries named in a statistics key of a descriptor that matched no configuration. */
const MAX_UNMATCHED_STATS_ENTRIES = 8;

/**
 * Statistics key for a descriptor that matched no configuration but carried Envoy's own limit:
 * its keys only (they come from Envoy's configuration; values come from clients), the first few.
 */
export function entriesStatsKey(entries: readonly DescriptorEntry[]): string {
  return entries
    .slice(0, MAX_UNMATCHED_STATS_ENTRIES)
    .map((entry) => shorten(entry.key))
    .join(".");
}
