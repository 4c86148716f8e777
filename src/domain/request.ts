/**
 * What a transport knows about an HTTP request, before any policy is applied. The gRPC
 * adapter fills it from an ext_authz CheckRequest; replay fills it from recorded traffic.
 * Header names are lower-case, as Envoy sends them.
 */
export interface HttpAttributes {
  /** Envoy's x-request-id (CheckRequest request.http.id). */
  requestId?: string;
  method?: string;
  /** Path including the query string, as Envoy sends it. */
  path?: string;
  host?: string;
  scheme?: string;
  protocol?: string;
  headers: Map<string, string>;
  /** Request body as received (Envoy's with_request_body), possibly truncated. */
  body?: Uint8Array;
  /** TCP peer address (often a load balancer). */
  peerAddress?: string;
  /** Event time stamped by Envoy, ms since the epoch. */
  timeMs?: number;
  /** Context extensions and metadata from the route, flattened to strings. */
  contextExtensions?: Map<string, string>;
}

/** The context extension replay sets on imported requests: the header names the log kept. */
export const RECORDED_HEADERS_EXTENSION = "palisade.recorded_headers";

/** False when the request came from a log that did not record `name`: absent is then unknown. */
export function headerKnown(request: Pick<NormalisedRequest, "recordedHeaders">, name: string): boolean {
  return request.recordedHeaders === undefined || request.recordedHeaders.has(name);
}

/**
 * Ceilings on the headers a transport converts and a policy may allow (`limits.maxHeaders`,
 * `limits.maxHeaderBytes`): a request past them costs no more than one at them.
 */
export const HEADER_CEILING = { entries: 1024, bytes: 1024 * 1024 } as const;

/** A request after normalisation: the input to signals and rules. */
export interface NormalisedRequest {
  requestId?: string;
  method: string;
  /** Path without the query string, percent-decoding normalised. */
  path: string;
  /** The request target as the client sent it (path and query, before any decoding), bounded. */
  target?: string;
  query: string;
  host: string;
  headers: Map<string, string>;
  /** Client IP in canonical form; undefined when none could be determined. */
  clientIp?: string;
  /** Client subnet in CIDR notation (a /24 or /48 by default); stays in clear. */
  subnet?: string;
  /** Endpoint name from the policy, when the route matched one. */
  endpoint?: string;
  /** Pseudonyms: raw identifiers never leave normalisation. */
  ipId?: string;
  usernameId?: string;
  /**
   * Truncated keyed hashes of the username and of each name one character shorter: names one
   * typo apart share one (privacy/username-neighbourhood.ts). Only where the policy counts a
   * session's accounts.
   */
  usernameNeighbourhood?: readonly string[];
  sessionId?: string;
  fingerprintId?: string;
  /**
   * Pseudonym of the first of `accountHistory.deviceCookies` the request carries: the device as
   * the site named it, which survives a browser update and a new network.
   */
  deviceId?: string;
  /**
   * SHA-1 of the password, for the breached-password list and spraying checks. It lives in this
   * object for one Check and is never stored or logged; the password itself is not kept.
   */
  passwordSha1?: string;
  /** Hash of the header names in the order the client sent them: clients of one kind share it. */
  headerShape: string;
  /** JA3/JA4 value from the configured TLS fingerprint header: it names client software, not a person. */
  tlsFingerprint?: string;
  /** A pass token from the built-in challenge (header or cookie), when the policy has one. */
  passToken?: string;
  /** ISO country code: the configured geo header's when it carries one, else the GeoIP database's. */
  country?: string;
  /** Autonomous system of the client address (GeoIP ASN database). */
  asn?: number;
  asnOrganisation?: string;
  /** The address is in a hosting or data-centre provider's network (hosting ASN list). */
  hosting?: boolean;
  /** Where the GeoIP database places the address, for impossible-travel checks. */
  location?: { latitude: number; longitude: number; accuracyKm: number };
  /** Event time used for every window, ms since the epoch. */
  timeMs: number;
  /** HTTP version as the proxy saw it ("HTTP/1.1"), when it said. */
  protocol?: string;
  /**
   * Recorded traffic (an imported access log) keeps only some headers: these. A signal that
   * needs another header cannot tell whether the client sent it, so it must not fire. Undefined
   * when the proxy passed every header, as Envoy does.
   */
  recordedHeaders?: ReadonlySet<string>;
  /** Problems found while normalising (oversized headers, bad body…), as stable codes. */
  anomalies: string[];
}
