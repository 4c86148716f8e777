import ipaddr from "ipaddr.js";
import type { ParsedAddress } from "../domain/client-address.js";

export type ListEffect = "block" | "allow" | "label";

export interface CidrList {
  name: string;
  effect: ListEffect;
  weight: number;
  ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][];
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
export function rangesContain(ranges: CidrList["ranges"], parsed: ParsedAddress): boolean {
  return ranges.some(([range, bits]) => range.kind() === parsed.address.kind() && parsed.address.match(range, bits));
}

/** Every list whose ranges contain the address. Linear in the number of ranges: lists are small. */
export function listsContaining(lists: readonly CidrList[], parsed: ParsedAddress | undefined): ListMembership[] {
  if (!parsed) return [];
  const found: ListMembership[] = [];
  for (const list of lists) {
    if (rangesContain(list.ranges, parsed)) found.push({ name: list.name, effect: list.effect, weight: list.weight });
  }
  return found;
}
