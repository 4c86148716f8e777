import { descriptorId, type DescriptorLevel, type DescriptorNode } from "./config.js";
import type { DescriptorEntry } from "./request.js";

/** The configured descriptor a request descriptor reached, and how statistics name it. */
export interface Match {
  node: DescriptorNode;
  /**
   * envoyproxy/ratelimit's statistics key below the domain: `key_value` for each level matched by
   * value, `key` for a default match, joined by dots. Request values appear only where a node
   * asks for detailed_metric.
   */
  statsKey: string;
  /** The same with no request values at all, for when detailed series must be rolled up. */
  rollupStatsKey: string;
}

/** Longest request value shown in a statistics key; longer ones are cut, so labels stay small. */
const MAX_STATS_VALUE_LENGTH = 64;

/**
 * Walks the configuration one level per request entry, as envoyproxy/ratelimit does: at each
 * level the most specific descriptor wins — the exact key and value, then the longest `value*`
 * prefix, then the key's default (no value) — and the walk never backtracks. A request with more
 * entries than the configuration has levels matches nothing, and so does one that stops at a
 * descriptor without a rate_limit.
 */
export function matchDescriptor(root: DescriptorLevel, entries: readonly DescriptorEntry[]): Match | undefined {
  let level: DescriptorLevel | undefined = root;
  let node: DescriptorNode | undefined;
  const stats: string[] = [];
  const rollup: string[] = [];
  for (const entry of entries) {
    node = level && findAtLevel(level, entry);
    if (!node) return undefined;
    rollup.push(statsSegment(node, entry, false));
    stats.push(statsSegment(node, entry, node.detailedMetric));
    level = node.children;
  }
  if (!node?.rule) return undefined;
  return { node, statsKey: stats.join("."), rollupStatsKey: rollup.join(".") };
}

function findAtLevel(level: DescriptorLevel, entry: DescriptorEntry): DescriptorNode | undefined {
  const exact = level.exact.get(descriptorId(entry.key, entry.value));
  if (exact) return exact;
  const prefixed = level.prefixes.get(entry.key)?.find(({ prefix }) => entry.value.startsWith(prefix));
  return prefixed?.node ?? level.anyValue.get(entry.key);
}

/** `key_value` for a match by value; for a match by key alone `key`, or `key_<value>` when detailed. */
function statsSegment(node: DescriptorNode, entry: DescriptorEntry, detailed: boolean): string {
  if (detailed) return `${entry.key}_${shorten(entry.value)}`;
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
