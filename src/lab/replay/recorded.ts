import { RECORDED_HEADERS_EXTENSION } from "../../domain/request.js";
import type { CheckRequest, HTTPAccessLogEntry, RequestMethod } from "../../transport/grpc/protos.js";
import { timestamp, UNLABELLED, type ReplayEvent } from "./events.js";

/** What a web server's access log tells about one request: enough to rebuild both messages. */
export interface RecordedRequest {
  line: number;
  timeMs: number;
  method: string;
  /** Path with query string. */
  path: string;
  protocol?: string;
  host?: string;
  status?: number;
  /** The client as the proxy saw it. */
  clientIp?: string;
  /** X-Forwarded-For as recorded, when the log has it. */
  forwardedFor?: string;
  /** Lower-case request header names. */
  headers: Record<string, string>;
  /**
   * The headers the log format records, sent or not (a combined log has a user-agent field
   * even when the client sent none). Any other header is unknown, not absent.
   */
  recordedHeaders: readonly string[];
  requestId?: string;
  durationMs?: number;
  /** The recording proxy's ext_authz denied it (response flag UAEX). */
  deniedByAuthz?: boolean;
}

/**
 * The CheckRequest Envoy would have sent and the entry it would have logged. Logs carry no
 * bodies, so login usernames are unknown: identity signals cannot fire on imported traffic.
 */
export function recordedEvents(recorded: RecordedRequest, scenario: string): ReplayEvent[] {
  const requestId = recorded.requestId ?? `line-${recorded.line}`;
  const base = { line: recorded.line, scenario, label: UNLABELLED };
  return [
    { ...base, kind: "check", timeMs: recorded.timeMs, request: checkRequest(recorded, requestId) },
    { ...base, kind: "access_log", timeMs: recorded.timeMs + (recorded.durationMs ?? 0), entry: accessLogEntry(recorded, requestId) },
  ];
}

function checkRequest(recorded: RecordedRequest, requestId: string): CheckRequest {
  const forwardedFor = recorded.forwardedFor ?? recorded.clientIp;
  const headers: Record<string, string> = { ...recorded.headers, "x-request-id": requestId };
  if (forwardedFor) headers["x-forwarded-for"] = forwardedFor;
  const known = [...new Set([...recorded.recordedHeaders, ...Object.keys(headers)])];
  return {
    attributes: {
      context_extensions: { [RECORDED_HEADERS_EXTENSION]: known.join(",") },
      source: recorded.clientIp ? { address: { socket_address: { address: recorded.clientIp, port_value: 0 } } } : null,
      request: {
        time: timestamp(recorded.timeMs),
        http: { id: requestId, method: recorded.method, path: recorded.path, host: recorded.host ?? "", protocol: recorded.protocol ?? "", headers },
      },
    },
  };
}

function accessLogEntry(recorded: RecordedRequest, requestId: string): HTTPAccessLogEntry {
  return {
    common_properties: {
      start_time: timestamp(recorded.timeMs),
      downstream_remote_address: recorded.clientIp ? { socket_address: { address: recorded.clientIp, port_value: 0 } } : null,
      response_flags: recorded.deniedByAuthz ? { unauthorized_details: { reason: "EXTERNAL_SERVICE" } } : null,
    },
    request: {
      // As logged: nothing encodes this entry, and a log may hold methods Envoy's enum lacks.
      request_method: recorded.method as RequestMethod,
      path: recorded.path,
      authority: recorded.host ?? "",
      request_id: requestId,
      user_agent: recorded.headers["user-agent"] ?? "",
      referer: recorded.headers.referer ?? "",
    },
    response: recorded.status === undefined ? null : { response_code: { value: recorded.status } },
  };
}
