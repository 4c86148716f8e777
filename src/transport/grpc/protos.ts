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
import { deserializeCheckRequest } from "./authz/check-request-decoder.js";
import { deserializeRateLimitRequest } from "./ratelimit/request-decoder.js";

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

/** A CheckResponse's bytes (authz/check-response-encoder.ts, what the service answers with), or a message object for protobufjs. */
export type CheckAnswer = CheckResponse | Buffer;

export interface AuthorizationImplementation extends grpc.UntypedServiceImplementation {
  Check: grpc.handleUnaryCall<CheckRequest, CheckAnswer>;
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
    authorization: withCheckCodecs(serviceHandle(root, "envoy.service.auth.v3.Authorization")),
    rateLimit: withRateLimitDecoder(serviceHandle(root, "envoy.service.ratelimit.v3.RateLimitService")),
    accessLog: serviceHandle(root, "envoy.service.accesslog.v3.AccessLogService"),
    health: serviceHandle(root, "grpc.health.v1.Health"),
  };
}

/**
 * Check's requests decoded by check-request-decoder.ts (what protobufjs reads, narrowed to the
 * fields the service uses); its responses arrive as bytes already (check-response-encoder.ts,
 * the same bytes as protobufjs' for the converter's message), which go out as they are, and
 * protobufjs encodes a message object. The server and the warm-up both take the definition from here.
 */
function withCheckCodecs(handle: ServiceHandle<AuthorizationImplementation>): ServiceHandle<AuthorizationImplementation> {
  const check = handle.definition.Check;
  const protobufjs = check.responseSerialize;
  const responseSerialize = (message: CheckAnswer): Buffer => (Buffer.isBuffer(message) ? message : protobufjs(message));
  const codecs = { requestDeserialize: deserializeCheckRequest, responseSerialize };
  return { ...handle, definition: { ...handle.definition, Check: { ...check, ...codecs } } };
}

/** ShouldRateLimit's requests decoded by ratelimit/request-decoder.ts, for the same reason as Check's. */
function withRateLimitDecoder(handle: ServiceHandle<RateLimitImplementation>): ServiceHandle<RateLimitImplementation> {
  const method = { ...handle.definition.ShouldRateLimit, requestDeserialize: deserializeRateLimitRequest };
  return { ...handle, definition: { ...handle.definition, ShouldRateLimit: method } };
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
// Message types, generated from proto/ by @grpc/proto-loader's proto-loader-gen-types with the
// loader options above (`npm run protos:types`; checked in under generated/ so that lint, build
// and editors need no step before them, and test/contract/generated-types.test.ts keeps them
// current). The names below are the input shapes (every field optional), which is what the
// adapters build and also what a decoded message satisfies.
// ---------------------------------------------------------------------------------------------

import type { Timestamp } from "./generated/google/protobuf/Timestamp.js";
import type { Duration } from "./generated/google/protobuf/Duration.js";
import type { Struct } from "./generated/google/protobuf/Struct.js";
import type { Value } from "./generated/google/protobuf/Value.js";
import type { CheckRequest } from "./generated/envoy/service/auth/v3/CheckRequest.js";
import type { CheckResponse } from "./generated/envoy/service/auth/v3/CheckResponse.js";
import type { RateLimitRequest } from "./generated/envoy/service/ratelimit/v3/RateLimitRequest.js";
import type { RateLimitResponse } from "./generated/envoy/service/ratelimit/v3/RateLimitResponse.js";
import type { StreamAccessLogsMessage } from "./generated/envoy/service/accesslog/v3/StreamAccessLogsMessage.js";
import type { StreamAccessLogsResponse } from "./generated/envoy/service/accesslog/v3/StreamAccessLogsResponse.js";
import type { HealthCheckRequest } from "./generated/grpc/health/v1/HealthCheckRequest.js";
import type { HealthCheckResponse } from "./generated/grpc/health/v1/HealthCheckResponse.js";

export type { Timestamp, Duration, Struct, Value, CheckRequest, CheckResponse, RateLimitRequest, RateLimitResponse, StreamAccessLogsMessage, StreamAccessLogsResponse, HealthCheckRequest, HealthCheckResponse };
export type { HeaderValueOption } from "./generated/envoy/config/core/v3/HeaderValueOption.js";
export type { HeaderValue } from "./generated/envoy/config/core/v3/HeaderValue.js";
export type {
  AttributeContext,
  _envoy_service_auth_v3_AttributeContext_HttpRequest as AttributeHttpRequest,
} from "./generated/envoy/service/auth/v3/AttributeContext.js";
export type { DeniedHttpResponse } from "./generated/envoy/service/auth/v3/DeniedHttpResponse.js";
export type { OkHttpResponse } from "./generated/envoy/service/auth/v3/OkHttpResponse.js";
export type { Metadata } from "./generated/envoy/config/core/v3/Metadata.js";
export type { RequestMethod } from "./generated/envoy/config/core/v3/RequestMethod.js";
export type { RateLimitDescriptor } from "./generated/envoy/extensions/common/ratelimit/v3/RateLimitDescriptor.js";
export type { StatusCode } from "./generated/envoy/type/v3/StatusCode.js";
export type { RateLimitUnit } from "./generated/envoy/type/v3/RateLimitUnit.js";
export type {
  _envoy_service_ratelimit_v3_RateLimitResponse_DescriptorStatus as DescriptorStatus,
} from "./generated/envoy/service/ratelimit/v3/RateLimitResponse.js";
export type { HTTPAccessLogEntry } from "./generated/envoy/data/accesslog/v3/HTTPAccessLogEntry.js";

/** grpc.health.v1.HealthCheckResponse.ServingStatus as the loader gives enums (strings). */
export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

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
