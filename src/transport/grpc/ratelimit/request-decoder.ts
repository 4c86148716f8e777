/**
 * envoy.service.ratelimit.v3.RateLimitRequest from protobuf bytes, decoded by hand in the shape
 * proto-loader gives it (snake_case, enums as names, uint64 as numbers) with the defaults
 * `toRateLimitRequest` (converter.ts) reads: an entry's key and value "", an override's
 * requests_per_unit 0 and unit UNKNOWN, a hits_addend wrapper's value 0.
 *
 * Why by hand: proto-loader's `toObject(decode(bytes))` builds a message instance per descriptor
 * and entry, then copies each into a plain object with every default. The contract is
 * check-request-decoder.ts' (held by request-decoder.test.ts against protobufjs): what this
 * accepts, protobufjs accepts and `toRateLimitRequest` reads the same from both; what protobufjs
 * refuses, this refuses; refused bytes answer INVALID_ARGUMENT (deserializer, ../protobuf-reader.ts).
 *
 * Field numbers are those of proto/envoy/service/ratelimit/v3/rls.proto and
 * proto/envoy/extensions/common/ratelimit/v3/ratelimit.proto.
 */
import { ProtobufReader, declared, deserializer, lengthTag, varintTag } from "../protobuf-reader.js";
import type { RateLimitDescriptor, RateLimitRequest, RateLimitUnit } from "../protos.js";

type Entry = NonNullable<RateLimitDescriptor["entries"]>[number];
type Override = NonNullable<RateLimitDescriptor["limit"]>;

/** envoy.type.v3.RateLimitUnit by number; a number it does not name stays a number, as protobufjs leaves it. */
const UNIT_NAMES: readonly RateLimitUnit[] = ["UNKNOWN", "SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR", "WEEK"];

const TWO_POWER_64 = 2 ** 64;

/** grpc-js' deserializer for ShouldRateLimit: malformed bytes give a request `malformation` names. */
export const deserializeRateLimitRequest = deserializer(decodeRateLimitRequest);

/** Decodes a RateLimitRequest; throws ProtobufDecodeError for bytes that are not one. */
export function decodeRateLimitRequest(bytes: Buffer): RateLimitRequest {
  const reader = new ProtobufReader(bytes);
  const end = bytes.length;
  const request: RateLimitRequest = { domain: "", descriptors: [], hits_addend: 0 };
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(2)) request.descriptors!.push(descriptor(reader, reader.delimited(end)));
    else if (tag === lengthTag(1)) request.domain = reader.string(end);
    else if (tag === varintTag(3)) request.hits_addend = reader.varint32(end);
    else reader.other(tag, REQUEST_FIELDS, end, 0);
  }
  return request;
}
const REQUEST_FIELDS = declared(1, 2, 3);

/** Depth 1: the request is 0, as protobufjs counts. */
function descriptor(reader: ProtobufReader, end: number): RateLimitDescriptor {
  reader.enter(1);
  const result: RateLimitDescriptor = { entries: [], limit: null, hits_addend: null };
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) result.entries!.push(entry(reader, reader.delimited(end)));
    else if (tag === lengthTag(2)) result.limit = override(reader, reader.delimited(end));
    else if (tag === lengthTag(3)) result.hits_addend = { value: uint64Value(reader, reader.delimited(end)) };
    else reader.other(tag, DESCRIPTOR_FIELDS, end, 1);
  }
  return result;
}
const DESCRIPTOR_FIELDS = declared(1, 2, 3);

function entry(reader: ProtobufReader, end: number): Entry {
  reader.enter(2);
  const result = { key: "", value: "" };
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) result.key = reader.string(end);
    else if (tag === lengthTag(2)) result.value = reader.string(end);
    else reader.other(tag, ENTRY_FIELDS, end, 2);
  }
  return result;
}
const ENTRY_FIELDS = declared(1, 2);

/** A second `limit` in one descriptor replaces the first, as protobufjs' decode replaces it. */
function override(reader: ProtobufReader, end: number): Override {
  reader.enter(2);
  const result: Override = { requests_per_unit: 0, unit: "UNKNOWN" };
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === varintTag(1)) result.requests_per_unit = reader.varint32(end);
    else if (tag === varintTag(2)) {
      const unit = reader.varint32(end) | 0;
      result.unit = UNIT_NAMES[unit] ?? (unit as unknown as RateLimitUnit);
    } else reader.other(tag, OVERRIDE_FIELDS, end, 2);
  }
  return result;
}
const OVERRIDE_FIELDS = declared(1, 2);

/** google.protobuf.UInt64Value's value: unsigned, as protobufjs' `longs: Number` reads a uint64. */
function uint64Value(reader: ProtobufReader, end: number): number {
  reader.enter(2);
  let value = 0;
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === varintTag(1)) {
      const signed = reader.int64(end);
      value = signed < 0 ? signed + TWO_POWER_64 : signed;
    } else reader.other(tag, UINT64_VALUE_FIELDS, end, 2);
  }
  return value;
}
const UINT64_VALUE_FIELDS = declared(1);
