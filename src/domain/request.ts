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

/** A request after normalisation: the input to signals and rules. */
export interface NormalisedRequest {
  requestId?: string;
  method: string;
  /** Path without the query string, percent-decoding normalised. */
  path: string;
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
  sessionId?: string;
  fingerprintId?: string;
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
  /** ISO country code from the configured geo header, when there is one. */
  country?: string;
  /** Event time used for every window, ms since the epoch. */
  timeMs: number;
  /** Problems found while normalising (oversized headers, bad body…), as stable codes. */
  anomalies: string[];
}
