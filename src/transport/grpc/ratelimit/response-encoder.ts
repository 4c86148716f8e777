/**
 * RateLimitResponse to protobuf bytes for ShouldRateLimit's answers, written by hand.
 *
 * Why by hand: @grpc/proto-loader serializes every message as protobufjs'
 * `encode(fromObject(message)).finish()`, which builds a message object per nested message and a
 * queued write operation per field before it copies anything into the buffer: about 5 µs of
 * CPU per ShouldRateLimit answer (two statuses, three headers, the metadata Struct) on the bench
 * machine, a tenth of what Palisade adds to a gRPC server's work per call. No maintained library
 * encodes a plain object of known shape straight into bytes without that machinery, and the
 * response is a small fixed set of fields, so it is written here: one pass into a scratch
 * buffer, nested messages given their length afterwards.
 *
 * Only the shape toRateLimitResponse builds is encoded here (overall_code, statuses with their
 * limit, remaining and reset, response_headers_to_add as plain key/value, dynamic_metadata as a
 * Struct of JSON values). Anything else a caller may put in a RateLimitResponse (quota,
 * request_headers_to_add, raw_body, an unknown enum name, a negative or fractional number)
 * makes `encodeRateLimitResponse` answer undefined, and the caller uses protobufjs instead; the
 * unit tests decode both encoders' bytes with protobufjs and compare.
 */
import type { ServiceDefinition } from "@grpc/grpc-js";
import type { RateLimitImplementation, RateLimitResponse, Struct, Value } from "../protos.js";

const CODES: Readonly<Record<string, number>> = { UNKNOWN: 0, OK: 1, OVER_LIMIT: 2 };
const UNITS: Readonly<Record<string, number>> = { UNKNOWN: 0, SECOND: 1, MINUTE: 2, HOUR: 3, DAY: 4, MONTH: 5, YEAR: 6, WEEK: 7 };

/** Thrown inside the encoder for a message it does not encode; never leaves this module. */
class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported("not encoded by hand");

/** Deeper Struct nesting than this is left to protobufjs. */
const MAX_DEPTH = 32;

/** Appends protobuf wire data to one growing scratch buffer, reused from call to call. */
class Writer {
  buffer = Buffer.allocUnsafe(4096);
  at = 0;

  reserve(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }

  /** A varint of a whole number in [0, 2^53). */
  varint(value: number): void {
    this.reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.at++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.at++] = rest;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.at++] = value;
  }

  double(value: number): void {
    this.reserve(8);
    this.buffer.writeDoubleLE(value, this.at);
    this.at += 8;
  }

  /** A length-delimited UTF-8 string after its tag byte. */
  string(tag: number, value: string): void {
    // At most three bytes per UTF-16 unit: a string of under 43 units has a one-byte length.
    const most = value.length * 3;
    this.reserve(most + 6);
    this.buffer[this.at++] = tag;
    if (most < 0x80) {
      const written = this.#short(value, this.at + 1);
      this.buffer[this.at] = written;
      this.at += written + 1;
    } else {
      this.varint(Buffer.byteLength(value));
      this.at += this.buffer.write(value, this.at);
    }
  }

  /** A short string's UTF-8 at `at`: ASCII copied in a loop, cheaper than a call into C++ for a header name. */
  #short(value: string, at: number): number {
    const buffer = this.buffer;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) return buffer.write(value, at);
      buffer[at + i] = code;
    }
    return value.length;
  }

  /** Starts a length-delimited message after its tag byte; `end()` fills in its length. */
  begin(tag: number): number {
    this.reserve(2);
    this.buffer[this.at++] = tag;
    this.at++; // one byte for the length, the usual case; end() moves the body when it needs more
    return this.at;
  }

  end(start: number): void {
    const length = this.at - start;
    if (length < 0x80) {
      this.buffer[start - 1] = length;
      return;
    }
    let extra = 0;
    for (let rest = length; rest >= 0x80; rest = Math.floor(rest / 0x80)) extra++;
    this.reserve(extra);
    this.buffer.copy(this.buffer, start + extra, start, this.at);
    this.at = start - 1;
    this.varint(length);
    this.at += length;
  }
}

const writer = new Writer();

/** The rate-limit service's definition with ShouldRateLimit's answers encoded here, protobufjs' serializer kept for the rest. */
export function withHandEncodedResponses(definition: ServiceDefinition<RateLimitImplementation>): ServiceDefinition<RateLimitImplementation> {
  const method = definition.ShouldRateLimit;
  const protobufjs = method.responseSerialize;
  return { ...definition, ShouldRateLimit: { ...method, responseSerialize: (response: RateLimitResponse) => encodeRateLimitResponse(response) ?? protobufjs(response) } };
}

/** The response's protobuf bytes, or undefined when it holds something only protobufjs encodes. */
export function encodeRateLimitResponse(response: RateLimitResponse): Buffer | undefined {
  if (response.request_headers_to_add?.length || response.raw_body?.length || response.quota) return undefined;
  writer.at = 0;
  try {
    encodeResponse(response);
  } catch (error) {
    if (error === UNSUPPORTED) return undefined;
    throw error;
  }
  const bytes = Buffer.allocUnsafe(writer.at); // from Node's pool: small answers share its slabs
  writer.buffer.copy(bytes, 0, 0, writer.at);
  return bytes;
}

function encodeResponse(response: RateLimitResponse): void {
  if (response.overall_code != null) {
    writer.byte(0x08);
    writer.varint(enumNumber(response.overall_code, CODES));
  }
  for (const status of response.statuses ?? []) {
    const start = writer.begin(0x12);
    encodeStatus(status);
    writer.end(start);
  }
  for (const header of response.response_headers_to_add ?? []) {
    if (header.raw_value?.length) throw UNSUPPORTED;
    const start = writer.begin(0x1a);
    if (header.key != null) writer.string(0x0a, text(header.key));
    if (header.value != null) writer.string(0x12, text(header.value));
    writer.end(start);
  }
  if (response.dynamic_metadata) {
    const start = writer.begin(0x32);
    encodeStruct(response.dynamic_metadata, 0);
    writer.end(start);
  }
}

function encodeStatus(status: NonNullable<RateLimitResponse["statuses"]>[number]): void {
  if (status.quota) throw UNSUPPORTED;
  if (status.code != null) {
    writer.byte(0x08);
    writer.varint(enumNumber(status.code, CODES));
  }
  const limit = status.current_limit;
  if (limit) {
    const start = writer.begin(0x12);
    if (limit.requests_per_unit != null) {
      writer.byte(0x08);
      writer.varint(uint32(limit.requests_per_unit));
    }
    if (limit.unit != null) {
      writer.byte(0x10);
      writer.varint(enumNumber(limit.unit, UNITS));
    }
    if (limit.name != null) writer.string(0x1a, text(limit.name));
    writer.end(start);
  }
  if (status.limit_remaining != null) {
    writer.byte(0x18);
    writer.varint(uint32(status.limit_remaining));
  }
  const reset = status.duration_until_reset;
  if (reset) {
    const start = writer.begin(0x22);
    if (reset.seconds != null) {
      writer.byte(0x08);
      writer.varint(whole(Number(reset.seconds), Number.MAX_SAFE_INTEGER));
    }
    if (reset.nanos != null) {
      writer.byte(0x10);
      writer.varint(whole(reset.nanos, 0x7fff_ffff));
    }
    writer.end(start);
  }
}

function encodeStruct(struct: Struct, depth: number): void {
  if (depth > MAX_DEPTH) throw UNSUPPORTED;
  const fields = struct.fields;
  if (!fields) return;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    const entry = writer.begin(0x0a);
    writer.string(0x0a, key);
    if (value != null) {
      const start = writer.begin(0x12);
      encodeValue(value, depth);
      writer.end(start);
    }
    writer.end(entry);
  }
}

/** A google.protobuf.Value as toValue() builds it: one of its fields set. */
function encodeValue(value: Value, depth: number): void {
  if (value.nullValue != null) {
    if (value.nullValue !== "NULL_VALUE" && value.nullValue !== 0) throw UNSUPPORTED;
    writer.byte(0x08);
    writer.byte(0);
  } else if (value.numberValue != null) {
    if (typeof value.numberValue !== "number") throw UNSUPPORTED;
    writer.byte(0x11);
    writer.double(value.numberValue);
  } else if (value.stringValue != null) {
    writer.string(0x1a, text(value.stringValue));
  } else if (value.boolValue != null) {
    if (typeof value.boolValue !== "boolean") throw UNSUPPORTED;
    writer.byte(0x20);
    writer.byte(value.boolValue ? 1 : 0);
  } else if (value.structValue != null) {
    const start = writer.begin(0x2a);
    encodeStruct(value.structValue, depth + 1);
    writer.end(start);
  } else if (value.listValue != null) {
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const start = writer.begin(0x32);
    for (const item of value.listValue.values ?? []) {
      const itemStart = writer.begin(0x0a);
      if (item != null) encodeValue(item, depth + 1);
      writer.end(itemStart);
    }
    writer.end(start);
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

function whole(value: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) throw UNSUPPORTED;
  return value;
}

function text(value: unknown): string {
  if (typeof value !== "string") throw UNSUPPORTED;
  return value;
}
