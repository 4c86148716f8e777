/**
 * RateLimitResponse to protobuf bytes for ShouldRateLimit's answers, written by hand; why, and
 * the wire rules it follows: ../protobuf-writer.ts.
 *
 * Only the shape toRateLimitResponse builds is encoded here (overall_code, statuses with their
 * limit, remaining and reset, response_headers_to_add as plain key/value, dynamic_metadata as a
 * Struct of JSON values). Anything else a caller may put in a RateLimitResponse (quota,
 * request_headers_to_add, raw_body, an unknown enum name, a negative or fractional number)
 * makes `encodeRateLimitResponse` answer undefined, and the caller uses protobufjs instead; the
 * unit tests decode both encoders' bytes with protobufjs and compare.
 */
import type { ServiceDefinition } from "@grpc/grpc-js";
import type { RateLimitImplementation, RateLimitResponse } from "../protos.js";
import { ProtobufWriter, UNSUPPORTED, text, whole, writeStruct } from "../protobuf-writer.js";

const CODES: Readonly<Record<string, number>> = { UNKNOWN: 0, OK: 1, OVER_LIMIT: 2 };
const UNITS: Readonly<Record<string, number>> = { UNKNOWN: 0, SECOND: 1, MINUTE: 2, HOUR: 3, DAY: 4, MONTH: 5, YEAR: 6, WEEK: 7 };

const writer = new ProtobufWriter(4096);

/** The rate-limit service's definition with ShouldRateLimit's answers encoded here, protobufjs' serializer kept for the rest. */
export function withHandEncodedResponses(definition: ServiceDefinition<RateLimitImplementation>): ServiceDefinition<RateLimitImplementation> {
  const method = definition.ShouldRateLimit;
  const protobufjs = method.responseSerialize;
  return { ...definition, ShouldRateLimit: { ...method, responseSerialize: (response: RateLimitResponse) => encodeRateLimitResponse(response) ?? protobufjs(response) } };
}

/** The response's protobuf bytes, or undefined when it holds something only protobufjs encodes. */
export function encodeRateLimitResponse(response: RateLimitResponse): Buffer | undefined {
  if (response.request_headers_to_add?.length || response.raw_body?.length || response.quota) return undefined;
  return writer.encodeOrUndefined(encodeResponse, response);
}

/** overall_code (1), statuses (2), response_headers_to_add (3), dynamic_metadata (6). */
function encodeResponse(response: RateLimitResponse): void {
  if (response.overall_code != null) writer.varintField(1, enumNumber(response.overall_code, CODES));
  for (const status of response.statuses ?? []) {
    const start = writer.open(2);
    encodeStatus(status);
    writer.close(start);
  }
  for (const header of response.response_headers_to_add ?? []) {
    if (header.raw_value?.length) throw UNSUPPORTED;
    const start = writer.open(3);
    if (header.key != null) writer.string(1, text(header.key));
    if (header.value != null) writer.string(2, text(header.value));
    writer.close(start);
  }
  if (response.dynamic_metadata) {
    const start = writer.open(6);
    writeStruct(writer, response.dynamic_metadata as Record<string, unknown>);
    writer.close(start);
  }
}

/** DescriptorStatus: code (1), current_limit (2), limit_remaining (3), duration_until_reset (4). */
function encodeStatus(status: NonNullable<RateLimitResponse["statuses"]>[number]): void {
  if (status.quota) throw UNSUPPORTED;
  if (status.code != null) writer.varintField(1, enumNumber(status.code, CODES));
  const limit = status.current_limit;
  if (limit) {
    // RateLimit: requests_per_unit (1), unit (2), name (3).
    const start = writer.open(2);
    if (limit.requests_per_unit != null) writer.varintField(1, uint32(limit.requests_per_unit));
    if (limit.unit != null) writer.varintField(2, enumNumber(limit.unit, UNITS));
    if (limit.name != null) writer.string(3, text(limit.name));
    writer.close(start);
  }
  if (status.limit_remaining != null) writer.varintField(3, uint32(status.limit_remaining));
  const reset = status.duration_until_reset;
  if (reset) {
    // google.protobuf.Duration: seconds (1), nanos (2).
    const start = writer.open(4);
    if (reset.seconds != null) writer.varintField(1, whole(Number(reset.seconds), Number.MAX_SAFE_INTEGER));
    if (reset.nanos != null) writer.varintField(2, whole(reset.nanos, 0x7fff_ffff));
    writer.close(start);
  }
}

function enumNumber(value: string | number, names: Readonly<Record<string, number>>): number {
  if (typeof value === "number") return whole(value, 0x7fff_ffff);
  if (!Object.hasOwn(names, value)) throw UNSUPPORTED;
  return names[value]!;
}

function uint32(value: number): number {
  return whole(value, 0xffff_ffff);
}
