import type { AccessLogLine, CheckLine, HistoryLine } from "../lines.js";

/** One request of the simulated storefront and the answer its application gives. */
export interface SimRequest {
  id: string;
  timeMs: number;
  method: string;
  /** Path with query string. */
  path: string;
  clientIp: string;
  clientPort: number;
  /** Lower-case names, in the order the client sends them. */
  headers: [string, string][];
  body?: string;
  http2: boolean;
  /** The application's answer, had Palisade let the request through. */
  status: number;
  responseBytes: number;
  /** Headers of that answer Envoy logs (`additional_response_headers_to_log`). */
  responseHeaders?: Record<string, string>;
  durationMs: number;
  scenario: string;
  label: string;
  causedBy?: string;
}

interface Site {
  host: string;
  loadBalancer: string;
}

/** RFC 3339 with milliseconds, as proto3 JSON writes timestamps. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** proto3 JSON writes a Duration as decimal seconds with an "s". */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

/**
 * The CheckRequest Envoy's ext_authz filter would send: pseudo-headers and Envoy's own
 * headers in the map, the client as the last X-Forwarded-For hop (Envoy appends the peer it
 * trusts), the body as raw_body (pack_as_bytes).
 */
export function checkLine(request: SimRequest, site: Site): CheckLine {
  const headers: Record<string, string> = {
    ":authority": site.host,
    ":method": request.method,
    ":path": request.path,
    ":scheme": "https",
  };
  for (const [name, value] of request.headers) headers[name] = value;
  headers["x-forwarded-for"] = request.clientIp;
  headers["x-forwarded-proto"] = "https";
  headers["x-request-id"] = request.id;
  const body = request.body === undefined ? undefined : Buffer.from(request.body, "utf8");
  const http: Record<string, unknown> = {
    id: request.id,
    method: request.method,
    headers,
    path: request.path,
    host: site.host,
    scheme: "https",
    protocol: request.http2 ? "HTTP/2" : "HTTP/1.1",
  };
  if (body) {
    http.size = String(body.length);
    http.rawBody = body.toString("base64");
  }
  return {
    type: "check",
    ...envelope(request, request.timeMs),
    checkRequest: {
      attributes: {
        source: { address: { socketAddress: { address: site.loadBalancer, portValue: request.clientPort } } },
        request: { time: isoTime(request.timeMs), http },
      },
    },
  };
}

/** An earlier sign-in of a returning account: its CheckRequest, as a `history` line. */
export function historyLine(request: SimRequest, site: Site): HistoryLine {
  const { checkRequest, ...envelopeFields } = checkLine(request, site);
  return { ...envelopeFields, type: "history", checkRequest };
}

/** The entry Envoy's gRPC access logger would send once the application answered. */
export function accessLogLine(request: SimRequest, site: Site): AccessLogLine {
  const header = (name: string) => request.headers.find(([key]) => key === name)?.[1];
  const requestProperties: Record<string, unknown> = {
    requestMethod: request.method,
    scheme: "https",
    authority: site.host,
    path: request.path,
    forwardedFor: request.clientIp,
    requestId: request.id,
    requestHeadersBytes: String(request.headers.reduce((sum, [k, v]) => sum + k.length + v.length + 4, 0)),
    requestBodyBytes: String(request.body === undefined ? 0 : Buffer.byteLength(request.body)),
  };
  const userAgent = header("user-agent");
  if (userAgent !== undefined) requestProperties.userAgent = userAgent;
  const referer = header("referer");
  if (referer !== undefined) requestProperties.referer = referer;
  return {
    type: "access_log",
    ...envelope(request, request.timeMs + request.durationMs),
    httpAccessLogEntry: {
      commonProperties: {
        downstreamRemoteAddress: { socketAddress: { address: request.clientIp, portValue: request.clientPort } },
        downstreamDirectRemoteAddress: { socketAddress: { address: site.loadBalancer, portValue: request.clientPort } },
        startTime: isoTime(request.timeMs),
        timeToLastDownstreamTxByte: seconds(request.durationMs),
        upstreamCluster: "storefront",
        duration: seconds(request.durationMs),
      },
      protocolVersion: request.http2 ? "HTTP2" : "HTTP11",
      request: requestProperties,
      response: {
        responseCode: request.status,
        responseBodyBytes: String(request.responseBytes),
        responseCodeDetails: "via_upstream",
        ...(request.responseHeaders && { responseHeaders: request.responseHeaders }),
      },
    },
  };
}

function envelope(request: SimRequest, timeMs: number) {
  const base = { time: isoTime(timeMs), scenario: request.scenario, label: request.label };
  return request.causedBy ? { ...base, causedBy: request.causedBy } : base;
}
