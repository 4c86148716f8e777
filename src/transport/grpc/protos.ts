/**
 * Loads Palisade's own wire-compatible copies of Envoy's protos (proto/ at the repo root) and
 * describes the message shapes the gRPC adapters read and write.
 *
 * Messages are plain objects with snake_case keys (keepCase). Two loader choices matter:
 * - `longs: Number`: every 64-bit field we touch (timestamps, byte counts, sizes) fits in a
 *   double, and numbers are what the pipeline computes with.
 * - google/protobuf/*.proto always comes from protobufjs's bundled copy, whatever includeDirs
 *   say. Its Value fields are camelCase (`stringValue`…), so Struct must be built with
 *   toStruct() below; snake_case keys are silently dropped on the wire.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

// ---------------------------------------------------------------------------------------------
// Locating and loading the protos
// ---------------------------------------------------------------------------------------------

/** A file that only our proto tree has, so an unrelated `proto/` directory is never picked. */
const MARKER = path.join("envoy", "service", "auth", "v3", "external_auth.proto");

/**
 * The directory holding our .proto files: the nearest `proto/` above this module. Works from
 * src/ (tsx, vitest) and from dist/src/ after tsc, because proto/ stays at the repo root.
 */
export function findProtoDir(startDir: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = path.resolve(startDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "proto");
    if (fs.existsSync(path.join(candidate, MARKER))) return candidate;
    if (path.dirname(dir) === dir) {
      throw new Error(`Palisade proto directory not found above ${startDir}`);
    }
  }
}

export const PROTO_FILES = [
  "envoy/service/auth/v3/external_auth.proto",
  "envoy/service/ratelimit/v3/rls.proto",
  "envoy/service/accesslog/v3/als.proto",
  "grpc/health/v1/health.proto",
] as const;

/** Loader options shared by the service and by the contract tests' upstream decoder. */
export const LOADER_OPTIONS: Omit<protoLoader.Options, "includeDirs"> = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export function loadPackageDefinition(protoDir: string = findProtoDir()): protoLoader.PackageDefinition {
  return protoLoader.loadSync([...PROTO_FILES], { ...LOADER_OPTIONS, includeDirs: [protoDir] });
}

// ---------------------------------------------------------------------------------------------
// Service handles
// ---------------------------------------------------------------------------------------------

export interface AuthorizationImplementation extends grpc.UntypedServiceImplementation {
  Check: grpc.handleUnaryCall<CheckRequest, CheckResponse>;
}

export interface RateLimitImplementation extends grpc.UntypedServiceImplementation {
  ShouldRateLimit: grpc.handleUnaryCall<RateLimitRequest, RateLimitResponse>;
}

export interface AccessLogImplementation extends grpc.UntypedServiceImplementation {
  StreamAccessLogs: grpc.handleClientStreamingCall<StreamAccessLogsMessage, StreamAccessLogsResponse>;
}

export interface HealthImplementation extends grpc.UntypedServiceImplementation {
  Check: grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse>;
  Watch: grpc.handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse>;
}

/** One service: its definition for `server.addService` and a client constructor for tests. */
export interface ServiceHandle<Implementation> {
  definition: grpc.ServiceDefinition<Implementation>;
  Client: grpc.ServiceClientConstructor;
}

export interface PalisadeServices {
  authorization: ServiceHandle<AuthorizationImplementation>;
  rateLimit: ServiceHandle<RateLimitImplementation>;
  accessLog: ServiceHandle<AccessLogImplementation>;
  health: ServiceHandle<HealthImplementation>;
}

let cachedServices: PalisadeServices | undefined;

/** The four gRPC services Palisade serves, loaded once per process. */
export function palisadeServices(): PalisadeServices {
  cachedServices ??= buildServices(grpc.loadPackageDefinition(loadPackageDefinition()));
  return cachedServices;
}

function buildServices(root: grpc.GrpcObject): PalisadeServices {
  return {
    authorization: serviceHandle(root, "envoy.service.auth.v3.Authorization"),
    rateLimit: serviceHandle(root, "envoy.service.ratelimit.v3.RateLimitService"),
    accessLog: serviceHandle(root, "envoy.service.accesslog.v3.AccessLogService"),
    health: serviceHandle(root, "grpc.health.v1.Health"),
  };
}

/** Looks up a service by its fully-qualified name in a loadPackageDefinition() result. */
export function serviceHandle<Implementation>(root: grpc.GrpcObject, fullName: string): ServiceHandle<Implementation> {
  let node: unknown = root;
  for (const part of fullName.split(".")) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  if (typeof node !== "function" || !("service" in node)) {
    throw new Error(`gRPC service ${fullName} not found in the loaded protos`);
  }
  const Client = node as grpc.ServiceClientConstructor;
  return { definition: Client.service as grpc.ServiceDefinition<Implementation>, Client };
}

// ---------------------------------------------------------------------------------------------
// google.protobuf well-known types
// ---------------------------------------------------------------------------------------------

/** int64/uint64 fields: numbers when decoded (longs: Number); strings are accepted on encode. */
export type Int64 = number | string;

export interface Timestamp {
  seconds?: Int64;
  nanos?: number;
}

export interface Duration {
  seconds?: Int64;
  nanos?: number;
}

/** Wrapper types (UInt32Value, UInt64Value, BoolValue…): absent means "not set". */
export interface WrappedValue<T> {
  value?: T;
}

export interface Any {
  type_url?: string;
  value?: Uint8Array;
}

/**
 * google.protobuf.Value as protobufjs's bundled descriptor names it: camelCase, even with
 * keepCase. `kind` is filled in by the decoder (oneofs: true) and ignored by the encoder.
 */
export interface Value {
  nullValue?: "NULL_VALUE" | 0;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: Struct | null;
  listValue?: ListValue | null;
  kind?: "nullValue" | "numberValue" | "stringValue" | "boolValue" | "structValue" | "listValue";
}

export interface Struct {
  fields?: Record<string, Value>;
}

export interface ListValue {
  values?: Value[];
}

/** Timestamp → ms since the epoch; undefined when absent, unparseable or not after the epoch. */
export function timestampToMs(timestamp: Timestamp | null | undefined): number | undefined {
  const ms = wellKnownToMs(timestamp);
  return ms !== undefined && ms > 0 ? ms : undefined;
}

/** Duration → ms; undefined when absent or unparseable. */
export function durationToMs(duration: Duration | null | undefined): number | undefined {
  return wellKnownToMs(duration);
}

function wellKnownToMs(value: Timestamp | Duration | null | undefined): number | undefined {
  if (!value || typeof value !== "object") return undefined;
  const seconds = Number(value.seconds ?? 0);
  const nanos = Number(value.nanos ?? 0);
  if (!Number.isFinite(seconds) || !Number.isFinite(nanos)) return undefined;
  return seconds * 1000 + Math.trunc(nanos / 1e6);
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Builds a Struct the loaded serializer encodes in full. Keys whose value is undefined (or a
 * function/symbol) are left out; non-finite numbers become null, as in JSON.
 */
export function toStruct(object: Record<string, unknown>): Struct {
  const fields: Record<string, Value> = {};
  for (const [key, raw] of Object.entries(object)) {
    const value = toValue(raw);
    if (value !== undefined) fields[key] = value;
  }
  return { fields };
}

export function toValue(raw: unknown): Value | undefined {
  if (raw === null) return { nullValue: "NULL_VALUE" };
  switch (typeof raw) {
    case "string":
      return { stringValue: raw };
    case "boolean":
      return { boolValue: raw };
    case "number":
      return Number.isFinite(raw) ? { numberValue: raw } : { nullValue: "NULL_VALUE" };
    case "bigint":
      return { numberValue: Number(raw) };
    case "object":
      return objectToValue(raw);
    default:
      return undefined;
  }
}

function objectToValue(raw: object): Value {
  if (Array.isArray(raw)) {
    const values = raw.map((item) => toValue(item) ?? { nullValue: "NULL_VALUE" as const });
    return { listValue: { values } };
  }
  if (raw instanceof Date) return { stringValue: raw.toISOString() };
  return { structValue: toStruct(raw as Record<string, unknown>) };
}

/** Reads a decoded Struct back into plain JSON. Missing or malformed input gives `{}`. */
export function fromStruct(struct: Struct | null | undefined): { [key: string]: JsonValue } {
  const result: { [key: string]: JsonValue } = {};
  const fields = struct?.fields;
  if (!fields || typeof fields !== "object") return result;
  for (const [key, value] of Object.entries(fields)) {
    result[key] = fromValue(value);
  }
  return result;
}

export function fromValue(value: Value | null | undefined): JsonValue {
  if (!value || typeof value !== "object") return null;
  if (typeof value.stringValue === "string") return value.stringValue;
  if (typeof value.numberValue === "number") return value.numberValue;
  if (typeof value.boolValue === "boolean") return value.boolValue;
  if (value.structValue) return fromStruct(value.structValue);
  if (value.listValue) return (value.listValue.values ?? []).map(fromValue);
  return null;
}

// ---------------------------------------------------------------------------------------------
// envoy.config.core.v3 / envoy.type.v3 / google.rpc
// ---------------------------------------------------------------------------------------------

export interface SocketAddress {
  protocol?: "TCP" | "UDP";
  address?: string;
  port_value?: number;
  named_port?: string;
}

export interface Address {
  socket_address?: SocketAddress | null;
  pipe?: { path?: string; mode?: number } | null;
  address?: "socket_address" | "pipe";
}

export interface HeaderValue {
  key?: string;
  value?: string;
  /** Used instead of `value` when Envoy sends raw header bytes. */
  raw_value?: Uint8Array;
}

export type HeaderAppendAction =
  | "APPEND_IF_EXISTS_OR_ADD"
  | "ADD_IF_ABSENT"
  | "OVERWRITE_IF_EXISTS_OR_ADD"
  | "OVERWRITE_IF_EXISTS";

export interface HeaderValueOption {
  header?: HeaderValue | null;
  append_action?: HeaderAppendAction;
  keep_empty_value?: boolean;
}

export interface HeaderMap {
  headers?: HeaderValue[];
}

export interface Metadata {
  filter_metadata?: Record<string, Struct>;
}

export interface QueryParameter {
  key?: string;
  value?: string;
}

/** envoy.type.v3.HttpStatus: write the HTTP status number; decoding yields the enum name. */
export interface HttpStatus {
  code?: number | string;
}

/** google.rpc.Status. */
export interface RpcStatus {
  code?: number;
  message?: string;
}

export interface Node {
  id?: string;
  cluster?: string;
  metadata?: Struct | null;
}

// ---------------------------------------------------------------------------------------------
// envoy.service.auth.v3
// ---------------------------------------------------------------------------------------------

export interface Peer {
  address?: Address | null;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
}

export interface AttributeHttpRequest {
  id?: string;
  method?: string;
  headers?: Record<string, string>;
  header_map?: HeaderMap | null;
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  size?: Int64;
  protocol?: string;
  body?: string;
  raw_body?: Uint8Array;
}

export interface AttributeContext {
  source?: Peer | null;
  destination?: Peer | null;
  request?: { time?: Timestamp | null; http?: AttributeHttpRequest | null } | null;
  context_extensions?: Record<string, string>;
  metadata_context?: Metadata | null;
  route_metadata_context?: Metadata | null;
  tls_session?: { sni?: string } | null;
}

export interface CheckRequest {
  attributes?: AttributeContext | null;
}

export interface OkHttpResponse {
  headers?: HeaderValueOption[];
  headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[];
  query_parameters_to_set?: QueryParameter[];
  query_parameters_to_remove?: string[];
}

export interface DeniedHttpResponse {
  status?: HttpStatus | null;
  headers?: HeaderValueOption[];
  body?: string;
}

export interface CheckResponse {
  status?: RpcStatus | null;
  ok_response?: OkHttpResponse | null;
  denied_response?: DeniedHttpResponse | null;
  /** Set by the decoder (oneofs: true); ignored on encode. */
  http_response?: "ok_response" | "denied_response";
  dynamic_metadata?: Struct | null;
}

// ---------------------------------------------------------------------------------------------
// envoy.service.ratelimit.v3
// ---------------------------------------------------------------------------------------------

export type RateLimitUnit = "UNKNOWN" | "SECOND" | "MINUTE" | "HOUR" | "DAY" | "MONTH" | "YEAR" | "WEEK";

export interface RateLimitDescriptor {
  entries?: { key?: string; value?: string }[];
  limit?: { requests_per_unit?: number; unit?: RateLimitUnit } | null;
  /** Per-descriptor cost (newer Envoys); overrides the request's hits_addend when set. */
  hits_addend?: WrappedValue<Int64> | null;
}

export interface RateLimitRequest {
  domain?: string;
  descriptors?: RateLimitDescriptor[];
  /** 0 means 1. */
  hits_addend?: number;
}

export type RateLimitCode = "UNKNOWN" | "OK" | "OVER_LIMIT";

export interface RateLimitQuota {
  requests?: number;
  valid_until?: Timestamp | null;
  id?: string;
}

export interface DescriptorStatus {
  code?: RateLimitCode;
  current_limit?: { name?: string; requests_per_unit?: number; unit?: RateLimitUnit } | null;
  limit_remaining?: number;
  duration_until_reset?: Duration | null;
  quota?: RateLimitQuota | null;
}

export interface RateLimitResponse {
  overall_code?: RateLimitCode;
  statuses?: DescriptorStatus[];
  /** Plain HeaderValue here, unlike ext_authz's HeaderValueOption. */
  response_headers_to_add?: HeaderValue[];
  request_headers_to_add?: HeaderValue[];
  raw_body?: Uint8Array;
  dynamic_metadata?: Struct | null;
  quota?: RateLimitQuota | null;
}

// ---------------------------------------------------------------------------------------------
// envoy.service.accesslog.v3 / envoy.data.accesslog.v3
// ---------------------------------------------------------------------------------------------

export interface ResponseFlags {
  rate_limited?: boolean;
  unauthorized_details?: { reason?: "REASON_UNSPECIFIED" | "EXTERNAL_SERVICE" } | null;
  rate_limit_service_error?: boolean;
  no_healthy_upstream?: boolean;
  upstream_request_timeout?: boolean;
  local_reset?: boolean;
  upstream_remote_reset?: boolean;
  upstream_connection_failure?: boolean;
  upstream_connection_termination?: boolean;
  upstream_overflow?: boolean;
  no_route_found?: boolean;
  downstream_connection_termination?: boolean;
  stream_idle_timeout?: boolean;
  [flag: string]: unknown;
}

export interface AccessLogCommon {
  sample_rate?: number;
  downstream_remote_address?: Address | null;
  downstream_local_address?: Address | null;
  downstream_direct_remote_address?: Address | null;
  start_time?: Timestamp | null;
  time_to_last_rx_byte?: Duration | null;
  time_to_first_upstream_tx_byte?: Duration | null;
  time_to_last_upstream_tx_byte?: Duration | null;
  time_to_first_upstream_rx_byte?: Duration | null;
  time_to_last_upstream_rx_byte?: Duration | null;
  time_to_first_downstream_tx_byte?: Duration | null;
  time_to_last_downstream_tx_byte?: Duration | null;
  upstream_remote_address?: Address | null;
  upstream_cluster?: string;
  response_flags?: ResponseFlags | null;
  metadata?: Metadata | null;
  route_name?: string;
  duration?: Duration | null;
  stream_id?: string;
  access_log_type?: string;
}

export interface HTTPRequestProperties {
  request_method?: string;
  scheme?: string;
  authority?: string;
  port?: WrappedValue<number> | null;
  path?: string;
  user_agent?: string;
  referer?: string;
  forwarded_for?: string;
  request_id?: string;
  original_path?: string;
  request_headers_bytes?: Int64;
  request_body_bytes?: Int64;
  request_headers?: Record<string, string>;
}

export interface HTTPResponseProperties {
  response_code?: WrappedValue<number> | null;
  response_headers_bytes?: Int64;
  response_body_bytes?: Int64;
  response_headers?: Record<string, string>;
  response_trailers?: Record<string, string>;
  response_code_details?: string;
}

export interface HTTPAccessLogEntry {
  common_properties?: AccessLogCommon | null;
  protocol_version?: "PROTOCOL_UNSPECIFIED" | "HTTP10" | "HTTP11" | "HTTP2" | "HTTP3";
  request?: HTTPRequestProperties | null;
  response?: HTTPResponseProperties | null;
}

export interface TCPAccessLogEntry {
  common_properties?: AccessLogCommon | null;
  connection_properties?: { received_bytes?: Int64; sent_bytes?: Int64 } | null;
}

export interface StreamAccessLogsMessage {
  /** Only in the first message of a stream. */
  identifier?: { node?: Node | null; log_name?: string } | null;
  http_logs?: { log_entry?: HTTPAccessLogEntry[] } | null;
  tcp_logs?: { log_entry?: TCPAccessLogEntry[] } | null;
  log_entries?: "http_logs" | "tcp_logs";
}

export type StreamAccessLogsResponse = Record<string, never>;

// ---------------------------------------------------------------------------------------------
// grpc.health.v1
// ---------------------------------------------------------------------------------------------

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

export interface HealthCheckRequest {
  service?: string;
}

export interface HealthCheckResponse {
  status?: ServingStatus;
}
