import { problem, type ParsedLine } from "./events.js";
import type { InputLine } from "./input.js";
import { recordedEvents, type RecordedRequest } from "./recorded.js";

/**
 * Envoy access logs written as JSON lines (a `json_format` file or stdout logger). Keys are
 * matched loosely so the common configurations all read: the snake_case names of Envoy's and
 * Istio's default formats (`start_time`, `method`, `response_code`…) and keys named after the
 * command operators themselves (`START_TIME`, `%RESPONSE_CODE%`, `REQ(X-FORWARDED-FOR)`…), and
 * the header names common custom formats use as keys (`x-envoy-origin-path`, `user-agent`,
 * `:authority`…). Traefik's JSON access log (`StartUTC`, `RequestPath`, `DownstreamStatus`,
 * `request_User-Agent`, `ClientHost`…) reads too.
 * `REQ(<header>)` keys also become request headers.
 */
const ALIASES: Record<keyof Fields, string[]> = {
  time: ["start_time", "timestamp", "@timestamp", "time", "startutc"],
  method: ["method", "request_method", "req(:method)", ":method", "requestmethod"],
  path: ["path", "req(x-envoy-original-path?:path)", "req(:path)", "original_path", "x-envoy-origin-path", "x-envoy-original-path", ":path", "requestpath"],
  protocol: ["protocol", "requestprotocol"],
  status: ["response_code", "status", "status_code", "downstreamstatus"],
  flags: ["response_flags"],
  duration: ["duration"],
  forwardedFor: ["x_forwarded_for", "forwarded_for", "req(x-forwarded-for)", "x-forwarded-for"],
  userAgent: ["user_agent", "req(user-agent)", "user-agent", "request_user-agent"],
  referer: ["referer", "referrer", "req(referer)"],
  requestId: ["request_id", "x_request_id", "req(x-request-id)", "x-request-id"],
  authority: ["authority", "host", "req(:authority)", ":authority", "requesthost"],
  client: ["clienthost", "downstream_remote_address", "downstream_remote_address_without_port", "client_ip", "downstream_peer_address"],
};

interface Fields {
  time: unknown;
  method: unknown;
  path: unknown;
  protocol: unknown;
  status: unknown;
  flags: unknown;
  duration: unknown;
  forwardedFor: unknown;
  userAgent: unknown;
  referer: unknown;
  requestId: unknown;
  authority: unknown;
  client: unknown;
}

const LOOKUP = new Map(Object.entries(ALIASES).flatMap(([field, keys]) => keys.map((key) => [key, field as keyof Fields])));

/** `%REQ(User-Agent)%` → `req(user-agent)`: what the aliases are written in. */
function normaliseKey(key: string): string {
  return key.replace(/^%|%$/g, "").toLowerCase();
}

/** True when a JSON object reads as an Envoy access-log line (a start time and a path at least). */
export function looksLikeEnvoyJson(json: unknown): boolean {
  if (typeof json !== "object" || json === null) return false;
  const fields = new Set(Object.keys(json).map((key) => LOOKUP.get(normaliseKey(key))));
  return fields.has("time") && fields.has("path");
}

export function parseEnvoyLine(input: InputLine, scenario: string): ParsedLine {
  const { number, text } = input;
  if (text.trim() === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return input.terminated
      ? problem(number, "not_json", "not JSON")
      : problem(number, "truncated", "the last line is cut short (no newline, not valid JSON): the file looks truncated");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return problem(number, "invalid", "not a JSON object");
  const { fields, headers } = collect(json as Record<string, unknown>);
  const timeMs = typeof fields.time === "string" ? Date.parse(fields.time) : NaN;
  if (!Number.isFinite(timeMs)) return problem(number, "invalid", "no readable start time (start_time or START_TIME)");
  const path = textOf(fields.path);
  if (!path) return problem(number, "invalid", "no path (path or REQ(:PATH))");
  return recordedEvents(recordedFrom(number, timeMs, path, fields, headers), scenario);
}

function collect(json: Record<string, unknown>): { fields: Partial<Fields>; headers: Record<string, string> } {
  const fields: Partial<Fields> = {};
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(json)) {
    const normal = normaliseKey(key);
    const field = LOOKUP.get(normal);
    if (field) fields[field] = value;
    const header = /^req\(([^?)]+)/.exec(normal)?.[1];
    if (header && !header.startsWith(":") && typeof value === "string" && value !== "-") headers[header] = value;
  }
  return { fields, headers };
}

function recordedFrom(line: number, timeMs: number, path: string, fields: Partial<Fields>, headers: Record<string, string>): RecordedRequest {
  // A header whose key the format has was recorded even when its value is "-": the client sent none.
  const recordedHeaders = [...Object.keys(headers), ...(fields.userAgent !== undefined ? ["user-agent"] : []), ...(fields.referer !== undefined ? ["referer"] : [])];
  const userAgent = textOf(fields.userAgent);
  const referer = textOf(fields.referer);
  if (userAgent) headers["user-agent"] = userAgent;
  if (referer) headers.referer = referer;
  const status = Number(fields.status);
  const duration = Number(fields.duration);
  return {
    line,
    timeMs,
    method: textOf(fields.method)?.toUpperCase() ?? "GET",
    path,
    protocol: textOf(fields.protocol),
    host: textOf(fields.authority),
    status: Number.isInteger(status) && status > 0 ? status : undefined,
    clientIp: withoutPort(textOf(fields.client)),
    forwardedFor: textOf(fields.forwardedFor),
    headers,
    recordedHeaders,
    requestId: textOf(fields.requestId),
    durationMs: Number.isFinite(duration) && duration >= 0 ? duration : undefined,
    // UAEX: Envoy's ext_authz denied the request when it was recorded.
    deniedByAuthz: typeof fields.flags === "string" && fields.flags.split(",").includes("UAEX"),
  };
}

/** Envoy writes "-" for a missing value. */
function textOf(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" && value !== "-" ? value : typeof value === "number" ? String(value) : undefined;
}

function withoutPort(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1];
  return /^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(address) ? address.slice(0, address.lastIndexOf(":")) : address;
}
