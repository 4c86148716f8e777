import { hash } from "node:crypto";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import { PASS_COOKIE, PASS_HEADER } from "../policy/challenge-schema.js";
import type { FieldSource } from "../policy/schema.js";
import { clientIdentity } from "../privacy/client-identity.js";
import { usernameNeighbourhood } from "../privacy/username-neighbourhood.js";
import { canonicalUsername } from "../domain/username.js";
import type { Pseudonymiser } from "../privacy/pseudonymiser.js";
import { cookieValue, namedCookieValues } from "../domain/cookies.js";
import { parseAddress, subnetOf, type ParsedAddress } from "../domain/client-address.js";
import type { GeoInfo, GeoLookup } from "../domain/geo.js";
import { RECORDED_HEADERS_EXTENSION, type HttpAttributes, type NormalisedRequest } from "../domain/request.js";

/** How event time is trusted (docs/design.md, event time). */
export interface EventTimeSettings {
  /** Serving mode: an event time further than this from the local clock is replaced by it. */
  maxSkewMs: number;
  /** Replay mode: trust the event time whatever it says. */
  trust: boolean;
}

export interface NormaliseContext {
  policy: CompiledPolicy;
  pseudonymiser: Pseudonymiser;
  eventTime: EventTimeSettings;
  nowMs: number;
  /** GeoIP and ASN databases, when the service has them. */
  geo?: GeoLookup;
}

/** Longest path kept; anything longer is cut (and flagged) so keys and logs stay bounded. */
const MAX_PATH_LENGTH = 2048;
/** Usernames longer than this are cut before hashing: no real account name is this long. */

export interface Normalised {
  request: NormalisedRequest;
  /** The policy endpoint the route matched. */
  endpoint?: CompiledEndpoint;
  /** The parsed client address, for reputation look-ups; never stored or logged. */
  address?: ParsedAddress;
}

/** Turns what the transport saw into the request the signals and rules work on. */
export function normalise(attrs: HttpAttributes, context: NormaliseContext): Normalised {
  const { policy, pseudonymiser } = context;
  const anomalies: string[] = [];
  const headers = boundedHeaders(attrs.headers, policy.limits, anomalies);
  const method = (attrs.method ?? headers.get(":method") ?? "GET").toUpperCase().slice(0, 16);
  const target = (attrs.path ?? headers.get(":path") ?? "/").slice(0, MAX_PATH_LENGTH);
  const { path, query } = normalisePath(attrs.path ?? headers.get(":path") ?? "/", anomalies);
  const address = clientAddress(attrs, headers, policy.client, anomalies);
  const endpoint = policy.endpointFor(method, path);
  const body = endpoint?.username || endpoint?.session || endpoint?.password ? parseBody(attrs.body, headers, policy.limits.maxBodyBytes, anomalies) : undefined;
  const username = endpoint?.username && extractField(endpoint.username, body, headers);
  const identity = clientIdentity({ address, username }, policy.client, pseudonymiser);
  const session = endpoint?.session ? extractField(endpoint.session, body, headers) : undefined;
  const password = endpoint?.password ? extractField(endpoint.password, body, headers) : undefined;
  const fingerprint = fingerprintSource(headers, policy.fingerprint);
  const geo = address && context.geo ? safeGeo(context.geo, address.ip, anomalies) : undefined;
  const request: NormalisedRequest = {
    requestId: attrs.requestId?.slice(0, 128),
    method,
    path,
    target,
    query,
    host: (attrs.host ?? headers.get(":authority") ?? headers.get("host") ?? "").slice(0, 256),
    headers,
    clientIp: address?.ip,
    subnet: identity.subnet,
    endpoint: endpoint?.name,
    ipId: identity.ipId,
    usernameId: identity.usernameId,
    usernameNeighbourhood: identity.usernameId && keepsSessionAccounts(headers, policy) ? usernameNeighbourhood(canonicalUsername(username)!, pseudonymiser) : undefined,
    sessionId: session ? pseudonymiser.pseudonymise("session", session) : undefined,
    fingerprintId: fingerprint ? pseudonymiser.pseudonymise("fingerprint", fingerprint) : undefined,
    deviceId: deviceCookieOf(headers, policy.signals.accountHistory?.deviceCookies, pseudonymiser),
    passwordSha1: password ? hash("sha1", password, "hex") : undefined,
    headerShape: headerShape(attrs.headers),
    tlsFingerprint: policy.fingerprint.tlsHeader ? headers.get(policy.fingerprint.tlsHeader)?.slice(0, 128) : undefined,
    // An edge that geolocates already says so in a header; it wins over the database.
    country: countryFrom(headers, policy.signals.geo?.countryHeader) ?? geo?.country,
    asn: geo?.asn,
    asnOrganisation: geo?.asnOrganisation?.slice(0, 128),
    hosting: geo ? geo.hosting : undefined,
    location: geo?.latitude !== undefined && geo.longitude !== undefined
      ? { latitude: geo.latitude, longitude: geo.longitude, accuracyKm: geo.accuracyKm ?? 0 }
      : undefined,
    passToken: policy.challenge.proofOfWork ? (headers.get(PASS_HEADER) ?? cookieValue(headers.get("cookie"), PASS_COOKIE)) : undefined,
    timeMs: eventTime(attrs.timeMs, context, anomalies),
    protocol: attrs.protocol?.slice(0, 32),
    recordedHeaders: recordedHeaders(attrs.contextExtensions),
    anomalies,
  };
  return { request, endpoint, address };
}

/** A login whose browser session the session's accounts are counted on: only its name's neighbourhood is ever read (a sessionless bot's would be hashed for nothing). */
function keepsSessionAccounts(headers: Map<string, string>, policy: CompiledPolicy): boolean {
  const cohorts = policy.signals.cohorts;
  return cohorts?.sessionAccounts !== undefined && namedCookieValues(headers.get("cookie"), cohorts.sessionCookies) !== undefined;
}

function recordedHeaders(extensions: Map<string, string> | undefined): ReadonlySet<string> | undefined {
  const names = extensions?.get(RECORDED_HEADERS_EXTENSION);
  return names === undefined ? undefined : new Set(names.split(",").map((name) => name.trim().toLowerCase()).filter(Boolean));
}

function boundedHeaders(
  raw: Map<string, string>,
  limits: CompiledPolicy["limits"],
  anomalies: string[],
): Map<string, string> {
  if (raw.size > limits.maxHeaders) anomalies.push("headers_too_many");
  else if (withinAsIs(raw, limits.maxHeaderBytes)) return raw; // what the loop below would copy, entry for entry
  const kept = new Map<string, string>();
  let bytes = 0;
  for (const [name, value] of raw) {
    bytes += name.length + value.length;
    if (kept.size >= limits.maxHeaders || bytes > limits.maxHeaderBytes) break;
    kept.set(name.toLowerCase(), value);
  }
  if (bytes > limits.maxHeaderBytes) anomalies.push("headers_too_large");
  return kept;
}

/** Headers under the byte ceiling whose names are lower case already (the gRPC converter's are): no copy needed. */
function withinAsIs(raw: Map<string, string>, maxBytes: number): boolean {
  let bytes = 0;
  for (const [name, value] of raw) {
    bytes += name.length + value.length;
    if (bytes > maxBytes || name !== name.toLowerCase()) return false;
  }
  return true;
}

/**
 * Drops query and fragment, decodes percent-escapes of unreserved characters only (so
 * `/api/%761` and `/api/v1` are one route, while an encoded `/` stays a different path),
 * collapses repeated slashes and resolves dot segments, as Envoy's normalize_path would.
 */
function normalisePath(raw: string, anomalies: string[]): { path: string; query: string } {
  let text = raw;
  if (text.length > MAX_PATH_LENGTH) {
    anomalies.push("path_too_long");
    text = text.slice(0, MAX_PATH_LENGTH);
  }
  const fragmentAt = text.indexOf("#");
  const beforeFragment = fragmentAt >= 0 ? text.slice(0, fragmentAt) : text;
  const queryAt = beforeFragment.indexOf("?");
  const rawPath = queryAt >= 0 ? beforeFragment.slice(0, queryAt) : beforeFragment;
  const query = queryAt >= 0 ? beforeFragment.slice(queryAt + 1) : "";
  // Most paths are normal already: the steps below would give them back unchanged.
  if (alreadyNormal(rawPath)) return { path: rawPath, query };
  // Most paths hold no escape: no regular expression for them.
  const decoded = !rawPath.includes("%") ? rawPath : rawPath.replace(/%([0-9a-fA-F]{2})/g, (escape, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(char) ? char : escape.toUpperCase();
  });
  const segments: string[] = [];
  for (const segment of decoded.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      anomalies.push("path_traversal");
      segments.pop();
    } else segments.push(segment);
  }
  const trailing = decoded.length > 1 && decoded.endsWith("/") && segments.length > 0 ? "/" : "";
  return { path: `/${segments.join("/")}${trailing}`, query };
}

/**
 * A path the steps of normalisePath give back as it is: it starts with a slash and has no
 * percent-escape, no empty segment (`//`) and no `.` or `..` segment. The one trailing slash
 * such a path may end with is kept by those steps too.
 */
function alreadyNormal(path: string): boolean {
  if (path.charCodeAt(0) !== 47 /* / */ || path.includes("%") || path.includes("//")) return false;
  for (let at = path.indexOf("/."); at >= 0; at = path.indexOf("/.", at + 1)) {
    const after = path.charCodeAt(at + 2);
    if (Number.isNaN(after) || after === 47) return false; // "/." ending a segment
    if (after === 46 /* . */) {
      const next = path.charCodeAt(at + 3);
      if (Number.isNaN(next) || next === 47) return false; // "/.."
    }
  }
  return true;
}

/** The client address the pipeline would use for these attributes, for tools that tally clients. */
export function clientAddressOf(attrs: HttpAttributes, client: CompiledPolicy["client"]): ParsedAddress | undefined {
  return clientAddress(attrs, attrs.headers, client, []);
}

/** The client's network exactly as a Check would see it: for the challenge listener behind the same Envoy. */
export function clientSubnet(attrs: HttpAttributes, policy: CompiledPolicy): string | undefined {
  const address = clientAddressOf(attrs, policy.client);
  return address && subnetOf(address, policy.client.subnetPrefixV4, policy.client.subnetPrefixV6);
}

function clientAddress(
  attrs: HttpAttributes,
  headers: Map<string, string>,
  client: CompiledPolicy["client"],
  anomalies: string[],
): ParsedAddress | undefined {
  let chosen: ParsedAddress | undefined;
  if (client.ipSource === "x-envoy-external-address") {
    chosen = parseAddress(headers.get("x-envoy-external-address"));
  } else if (client.ipSource === "x-forwarded-for") {
    // The rightmost `trustedHops` entries were appended by our own proxies; the one before them
    // is the first address no one we trust vouches for, and so the client as far as we can tell.
    chosen = parseAddress(untrustedHop(headers.get("x-forwarded-for") ?? "", client.trustedHops));
  }
  if (!chosen && client.ipSource !== "peer") anomalies.push("client_address_missing");
  // The peer is parsed only when no header named the client (most Checks never need it).
  const address = chosen ?? parseAddress(attrs.peerAddress);
  if (!address) anomalies.push("no_client_address");
  return address;
}

/** The non-blank entry `trustedHops` places from the right; a header of one entry (most) is not split. */
function untrustedHop(header: string, trustedHops: number): string | undefined {
  if (!header.includes(",")) return trustedHops === 0 && header.trim() !== "" ? header : undefined;
  const hops = header.split(",").filter((entry) => entry.trim() !== "");
  return hops[hops.length - 1 - trustedHops];
}

/** One decoder for every body: without `stream` a TextDecoder keeps no state between calls. */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

function parseBody(
  body: Uint8Array | undefined,
  headers: Map<string, string>,
  maxBytes: number,
  anomalies: string[],
): { json?: unknown; form?: URLSearchParams } | undefined {
  if (!body || body.length === 0) return undefined;
  if (body.length > maxBytes) {
    anomalies.push("body_too_large");
    return undefined;
  }
  let text: string;
  try {
    text = STRICT_UTF8.decode(body);
  } catch {
    anomalies.push("body_not_utf8");
    return undefined;
  }
  const contentType = headers.get("content-type") ?? "";
  if (contentType.includes("application/x-www-form-urlencoded")) return { form: new URLSearchParams(text) };
  try {
    return { json: JSON.parse(text) };
  } catch {
    anomalies.push("body_unparsable");
    return undefined;
  }
}

function extractField(
  source: FieldSource,
  body: { json?: unknown; form?: URLSearchParams } | undefined,
  headers: Map<string, string>,
): string | undefined {
  if ("header" in source) return headers.get(source.header) || undefined;
  if ("cookie" in source) return cookieValue(headers.get("cookie"), source.cookie);
  if ("formField" in source) return body?.form?.get(source.formField) ?? undefined;
  const value = jsonPointer(body?.json, source.jsonPointer);
  return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
}

/** RFC 6901 JSON pointer look-up. */
function jsonPointer(document: unknown, pointer: string): unknown {
  let node = document;
  for (const token of pointer.slice(1).split("/")) {
    const key = token.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function fingerprintSource(headers: Map<string, string>, config: CompiledPolicy["fingerprint"]): string | undefined {
  const parts = config.headers.map((name) => headers.get(name) ?? "");
  if (config.tlsHeader) parts.push(headers.get(config.tlsHeader) ?? "");
  return parts.some((part) => part !== "") ? parts.join("\u0000") : undefined;
}

/**
 * Envoy and the proxies before it add their own headers; only the names the client chose, in
 * its order, say what kind of client it is. Order survives because the converter reads
 * Envoy's ordered header_map when present.
 */
const PROXY_HEADER = /^(:|x-forwarded-|x-envoy-|x-request-id$|x-b3-|traceparent$|tracestate$|x-real-ip$|via$|forwarded$|content-length$)/;

/** The first named device cookie present, pseudonymised (cut to 256 characters first: a value is client-supplied). */
function deviceCookieOf(headers: Map<string, string>, names: readonly string[] | undefined, pseudonymiser: Pseudonymiser): string | undefined {
  if (!names || names.length === 0) return undefined;
  const cookies = headers.get("cookie");
  for (const name of names) {
    const value = cookieValue(cookies, name);
    if (value) return pseudonymiser.pseudonymise("session", value.slice(0, 256));
  }
  return undefined;
}

function headerShape(headers: Map<string, string>): string {
  let node = shapes;
  let taken = 0;
  for (const name of headers.keys()) {
    if (taken >= MAX_SHAPE_NAMES) break;
    const next = node.next.get(name);
    if (next === undefined) return rememberShape(headers);
    if (next !== node) {
      node = next;
      taken++;
    }
  }
  return node.shape ?? rememberShape(headers);
}

/** The shape worked out from the names themselves, and the tree's path to it laid down. */
function rememberShape(headers: Map<string, string>): string {
  if (shapeEdges >= MAX_SHAPE_EDGES || shapeChars >= MAX_SHAPE_CHARS) {
    shapes = { next: new Map() };
    shapeEdges = 0;
    shapeChars = 0;
  }
  const names: string[] = [];
  let node = shapes;
  for (const name of headers.keys()) {
    if (names.length >= MAX_SHAPE_NAMES) break;
    const proxy = PROXY_HEADER.test(name);
    if (!proxy) names.push(name);
    let next = node.next.get(name);
    if (next === undefined) {
      next = proxy ? node : { next: new Map() };
      node.next.set(name, next);
      shapeEdges++;
      shapeChars += name.length;
    }
    node = next;
  }
  return (node.shape ??= hash("sha1", names.join(","), "base64url").slice(0, 12));
}

/** A database that fails on one address (a corrupt record) costs that request its geography, nothing more. */
function safeGeo(geo: GeoLookup, ip: string, anomalies: string[]): GeoInfo | undefined {
  try {
    return geo.lookup(ip);
  } catch {
    anomalies.push("geoip_lookup_failed");
    return undefined;
  }
}

/** Most of the client's header names a shape is made of. */
const MAX_SHAPE_NAMES = 64;

/**
 * Shapes remembered as a tree of header names: a Check walks its names down from the root, one
 * Map look-up each (the header Map has hashed the names already), and finds its shape at the
 * node it ends on; a proxy's name leads back to the node it left. Before, the client's names
 * were each tested against PROXY_HEADER, joined and the joined text hashed into a Map: twice the
 * CPU for a browser's dozen headers. Browsers and clients send few distinct orders; a flood of
 * invented ones only empties the tree at its bounds and is hashed as before. Not secret:
 * header names.
 */
interface ShapeNode {
  shape?: string;
  readonly next: Map<string, ShapeNode>;
}
let shapes: ShapeNode = { next: new Map() };
let shapeEdges = 0;
let shapeChars = 0;
const MAX_SHAPE_EDGES = 16_384;
const MAX_SHAPE_CHARS = 1_000_000;

function countryFrom(headers: Map<string, string>, header: string | undefined): string | undefined {
  const value = header ? headers.get(header)?.trim().toUpperCase() : undefined;
  return value && /^[A-Z]{2}$/.test(value) ? value : undefined;
}

function eventTime(stamped: number | undefined, context: NormaliseContext, anomalies: string[]): number {
  if (stamped === undefined || !Number.isFinite(stamped)) return context.nowMs;
  if (context.eventTime.trust) return stamped;
  if (Math.abs(stamped - context.nowMs) > context.eventTime.maxSkewMs) {
    anomalies.push("event_time_skewed");
    return context.nowMs;
  }
  return stamped;
}
