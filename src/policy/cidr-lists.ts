import ipaddr from "ipaddr.js";
import type { ParsedAddress } from "../domain/client-address.js";
import type { FeedFormat } from "./feed-formats.js";
import type { RangeSet } from "./range-set.js";

export type ListEffect = "block" | "allow" | "label";

export interface CidrList {
  name: string;
  effect: ListEffect;
  weight: number;
  /** The inline and file ranges, merged for O(log n) look-ups. */
  set: RangeSet;
  /** Ranges the policy and its files named, before merging. */
  entries: number;
  /** Feeds the service loads and refreshes itself (src/app/reputation-feeds.ts). */
  feeds: readonly FeedSource[];
}

/** A reputation feed: a file or an HTTP(S) URL in one of the feed formats, reloaded every `refreshMs`. */
export interface FeedSource {
  source: string;
  format: FeedFormat;
  column?: string | number;
  refreshMs: number;
}

/**
 * The ranges of the feeds currently loaded (last good copy of each), keyed by list name. A port:
 * the service fills it from files and URLs, the decision core only reads it.
 */
export interface FeedLookup {
  has(list: string, address: ParsedAddress): boolean;
}

/** A list the client address is on. */
export interface ListMembership {
  name: string;
  effect: ListEffect;
  weight: number;
}

/** Parses CIDR text (a bare address counts as a /32 or /128); undefined when it is not one. */
export function parseCidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  const trimmed = text.trim();
  try {
    if (trimmed.includes("/")) return ipaddr.parseCIDR(trimmed);
    const address = ipaddr.parse(trimmed);
    return [address, address.kind() === "ipv4" ? 32 : 128];
  } catch {
    return undefined;
  }
}

/** True when one of the ranges contains the address (same address family only). */
export function rangesContain(ranges: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][], parsed: ParsedAddress): boolean {
  return ranges.some(([range, bits]) => range.kind() === parsed.address.kind() && parsed.address.match(range, bits));
}

/** Every list whose ranges or loaded feeds contain the address: one binary search per list and feed. */
export function listsContaining(lists: readonly CidrList[], parsed: ParsedAddress | undefined, feeds?: FeedLookup): ListMembership[] {
  if (!parsed) return [];
  const found: ListMembership[] = [];
  for (const list of lists) {
    const listed = list.set.has(parsed.address) || (list.feeds.length > 0 && feeds !== undefined && feeds.has(list.name, parsed));
    if (listed) found.push({ name: list.name, effect: list.effect, weight: list.weight });
  }
  return found;
}
