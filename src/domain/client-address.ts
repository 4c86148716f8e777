import ipaddr from "ipaddr.js";
import { TwoGenerationCache } from "./two-generation-cache.js";

export interface ParsedAddress {
  /** Canonical text: dotted quad for IPv4 (also for IPv4-mapped IPv6), RFC 5952 for IPv6. */
  ip: string;
  address: ipaddr.IPv4 | ipaddr.IPv6;
}

/**
 * Parses an address as it appears in X-Forwarded-For, x-envoy-external-address or a socket
 * address: tolerates surrounding spaces, brackets and a port, unwraps IPv4-mapped IPv6 so one
 * client has one identity, and drops IPv6 zone ids. Returns undefined for anything else.
 */
export function parseAddress(text: string | undefined): ParsedAddress | undefined {
  if (!text) return undefined;
  if (text.length > MAX_REMEMBERED_TEXT) return parseUncached(text);
  const known = PARSED.get(text);
  if (known !== undefined) return known ?? undefined;
  const parsed = parseUncached(text);
  PARSED.set(text, parsed ? Object.freeze(parsed) : null);
  return parsed;
}

/**
 * Addresses parsed, by their text (null: not an address). The same few thousand clients send
 * most Checks and a replay reads each client's address again on every line; parsing with
 * ipaddr.js and writing the canonical text back cost about 2% of a replayed request. What is
 * remembered is frozen: callers share it. Longer texts are not remembered.
 */
const PARSED = new TwoGenerationCache<ParsedAddress | null>(10_000, 1_000_000, (parsed) => (parsed ? parsed.ip.length + 64 : 0));
const MAX_REMEMBERED_TEXT = 128;

function parseUncached(text: string): ParsedAddress | undefined {
  const plain = plainIPv4(text);
  if (plain) return plain;
  let candidate = text.trim();
  const bracketed = candidate.match(/^\[([^\]]+)\](?::\d+)?$/);
  if (bracketed) candidate = bracketed[1]!;
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(candidate)) candidate = candidate.slice(0, candidate.lastIndexOf(":"));
  candidate = candidate.replace(/%.*$/, "");
  if (candidate.length > 64) return undefined;
  let address = parseEither(candidate);
  if (address === undefined) return undefined;
  if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    address = (address as ipaddr.IPv6).toIPv4Address();
  }
  const ip = address.kind() === "ipv4" ? address.toString() : (address as ipaddr.IPv6).toRFC5952String();
  return { ip, address };
}

/**
 * A dotted quad as most addresses arrive (four decimal octets of at most 255, no leading zero,
 * nothing around them), read by hand: the text is its own canonical form. Everything else,
 * including a leading zero (octal to ipaddr.js), is left to ipaddr.js. Every new client of a
 * Check or a replay is parsed once: about 2.5 µs through the patterns below and ipaddr.js.
 */
function plainIPv4(text: string): ParsedAddress | undefined {
  const octets = [0, 0, 0, 0];
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 46 /* . */) {
      if (digits === 0 || octet === 3) return undefined;
      octets[octet++] = value;
      value = 0;
      digits = 0;
    } else if (code >= 48 && code <= 57 && !(digits > 0 && value === 0)) {
      value = value * 10 + (code - 48);
      if (value > 255) return undefined;
      digits++;
    } else return undefined;
  }
  if (octet !== 3 || digits === 0) return undefined;
  octets[3] = value;
  return { ip: text, address: new ipaddr.IPv4(octets) };
}

/**
 * ipaddr.isValid then ipaddr.parse, with the same answers, for the address of every Check: those
 * try IPv6 first, which throws for every IPv4 address, and parse it up to three times. An IPv6
 * address always has a colon and an IPv4 form of ipaddr's never does, so the colon picks the family.
 */
function parseEither(candidate: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (candidate.includes(":")) return ipaddr.IPv6.isValid(candidate) ? ipaddr.IPv6.parse(candidate) : undefined;
  return ipaddr.IPv4.isValid(candidate) ? ipaddr.IPv4.parse(candidate) : undefined;
}

/**
 * The network the address belongs to, e.g. 203.0.113.0/24 or 2001:db8:1::/48. Subnets stay in
 * clear. Masks the parsed address's bytes (called for every Check: re-parsing a CIDR text was
 * about 1% of a served Check); a prefix outside the family's range is an error, as before.
 */
export function subnetOf(parsed: ParsedAddress, prefixV4: number, prefixV6: number): string {
  const known = SUBNETS.get(parsed);
  if (known !== undefined && known.prefixV4 === prefixV4 && known.prefixV6 === prefixV6) return known.subnet;
  const subnet = subnetUncached(parsed, prefixV4, prefixV6);
  if (Object.isFrozen(parsed)) SUBNETS.set(parsed, { prefixV4, prefixV6, subnet });
  return subnet;
}

/** The last network worked out for each remembered address (parseAddress), kept while the address is. */
const SUBNETS = new WeakMap<ParsedAddress, { prefixV4: number; prefixV6: number; subnet: string }>();

function subnetUncached(parsed: ParsedAddress, prefixV4: number, prefixV6: number): string {
  const v4 = parsed.address.kind() === "ipv4";
  const prefix = v4 ? prefixV4 : prefixV6;
  const bytes = parsed.address.toByteArray();
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) throw new Error(`ipaddr: invalid prefix length ${prefix}`);
  for (let i = 0; i < bytes.length; i++) {
    const kept = Math.min(8, Math.max(0, prefix - 8 * i));
    bytes[i] = bytes[i]! & ((0xff00 >> kept) & 0xff);
  }
  const network = ipaddr.fromByteArray(bytes);
  return `${v4 ? network.toString() : (network as ipaddr.IPv6).toRFC5952String()}/${prefix}`;
}
