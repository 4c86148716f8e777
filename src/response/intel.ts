import { createHash } from "node:crypto";
import ipaddr from "ipaddr.js";
import type { DecisionRecord } from "./decision-records.js";

/**
 * Threat intelligence to share: the networks Palisade quarantined or blocked, with what acted
 * and when. Built from the shared decision records, whose clients are pseudonyms: only their
 * networks (subnets, which name no one) travel, never an address, username, session or pseudonym.
 */
export interface AttackSource {
  /** The network in clear, e.g. 203.0.113.0/24, or coarser when asked. */
  network: string;
  /** The policy rules that quarantined or blocked it: the attack family as the policy names it. */
  rules: string[];
  endpoints: string[];
  firstSeen: string;
  lastSeen: string;
  /** Decisions counted against it. */
  count: number;
}

export type IntelFormat = "json" | "csv" | "crowdsec" | "stix";

const SHARED_ACTIONS = new Set(["quarantine", "block"]);

/** Networks of quarantine and block records, merged per network; `prefix` coarsens them (e.g. 16 or 32). */
export function attackSources(records: readonly DecisionRecord[], prefix?: { v4?: number; v6?: number }): AttackSource[] {
  const byNetwork = new Map<string, AttackSource>();
  for (const record of records) {
    if (!SHARED_ACTIONS.has(record.action) || !record.network) continue;
    const network = coarsen(record.network, prefix);
    if (!network) continue;
    const source = byNetwork.get(network) ?? { network, rules: [], endpoints: [], firstSeen: record.first, lastSeen: record.last, count: 0 };
    if (record.rule && !source.rules.includes(record.rule)) source.rules.push(record.rule);
    if (record.endpoint && !source.endpoints.includes(record.endpoint)) source.endpoints.push(record.endpoint);
    if (record.first < source.firstSeen) source.firstSeen = record.first;
    if (record.last > source.lastSeen) source.lastSeen = record.last;
    source.count += record.count;
    byNetwork.set(network, source);
  }
  return [...byNetwork.values()].sort((a, b) => b.count - a.count || a.network.localeCompare(b.network));
}

/** A network cut to a shorter prefix; never made longer (a /24 stays a /24 when /32 is asked). */
function coarsen(network: string, prefix: { v4?: number; v6?: number } | undefined): string | undefined {
  if (!ipaddr.isValidCIDR(network)) return undefined;
  const [address, bits] = ipaddr.parseCIDR(network);
  const wanted = address.kind() === "ipv4" ? prefix?.v4 : prefix?.v6;
  if (wanted === undefined || wanted >= bits) return network;
  const base = address.kind() === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${wanted}`) : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${wanted}`);
  return `${base.kind() === "ipv6" ? (base as ipaddr.IPv6).toRFC5952String() : base.toString()}/${wanted}`;
}

/**
 * The sources in a partner's format: JSON, CSV with a header, the JSON list CrowdSec's
 * `cscli decisions import` reads (scope Range, type ban, for `banFor`), or a STIX 2.1 bundle of
 * indicators (one per network, its id derived from the network and first sighting).
 */
export function intelText(sources: readonly AttackSource[], format: IntelFormat, banFor = "4h"): string {
  switch (format) {
    case "json":
      return `${JSON.stringify({ sources }, null, 2)}\n`;
    case "csv":
      return [
        "network,rules,endpoints,first_seen,last_seen,count",
        ...sources.map((s) => [s.network, s.rules.join(" "), s.endpoints.join(" "), s.firstSeen, s.lastSeen, String(s.count)].map(csvField).join(",")),
      ].join("\n") + "\n";
    case "stix":
      return `${JSON.stringify(stixBundle(sources), null, 2)}\n`;
    case "crowdsec":
      return `${JSON.stringify(sources.map((s) => ({ value: s.network, scope: "Range", type: "ban", duration: banFor, origin: "palisade", reason: `palisade: ${s.rules.join(", ") || "blocked"}` })), null, 2)}\n`;
  }
}

function stixBundle(sources: readonly AttackSource[]) {
  const objects = sources.map((s) => ({
    type: "indicator",
    spec_version: "2.1",
    id: `indicator--${uuidFrom(`${s.network} ${s.firstSeen}`)}`,
    created: s.firstSeen,
    modified: s.lastSeen,
    name: `Palisade: ${s.network}`,
    description: `Quarantined or blocked by ${s.rules.join(", ") || "a rule"} on ${s.endpoints.join(", ") || "the site"}: ${s.count} decisions`,
    indicator_types: ["malicious-activity"],
    pattern: `[${s.network.includes(":") ? "ipv6-addr" : "ipv4-addr"}:value = '${s.network}']`,
    pattern_type: "stix",
    valid_from: s.firstSeen,
    labels: s.rules,
  }));
  return { type: "bundle", id: `bundle--${uuidFrom(objects.map((o) => o.id).join(" "))}`, objects };
}

/** A name-based UUID (version 5 layout over SHA-256), so the same source keeps its id. */
function uuidFrom(name: string): string {
  const hex = createHash("sha256").update(name).digest("hex");
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function csvField(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
