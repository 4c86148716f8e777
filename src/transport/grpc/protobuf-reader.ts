/**
 * Protobuf wire reading for the messages Palisade decodes by hand (Check's CheckRequest, in
 * authz/check-request-decoder.ts; ShouldRateLimit's RateLimitRequest, in
 * ratelimit/request-decoder.ts): the counterpart of protobuf-writer.ts.
 *
 * Why by hand: see check-request-decoder.ts. This file holds the wire rules, kept strict where
 * protobufjs is lenient, so that whatever the hand decoder accepts protobufjs reads the same
 * way (check-request-decoder.test.ts holds both to it):
 * - a varint read as 32 bits (tags, lengths, int32, enums, bools) has 1 to 5 bytes, or 10 (a
 *   negative int32); protobufjs skips the 6th to 10th bytes unread, so other lengths are refused;
 * - a string or sub-message must end inside its message (protobufjs cuts such a string short);
 * - a declared field must come with its declared wire type (protobufjs reads it as declared
 *   whatever the wire says); undeclared fields are skipped by their wire type, as protobufjs does;
 * - messages nest at most 100 deep, counted as protobufjs counts (its limit, protoc's too).
 * Anything else throws a `ProtobufDecodeError` naming the byte.
 */
import { WIRE_FIXED64, WIRE_LENGTH, WIRE_VARINT } from "./protobuf-writer.js";

const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

/** Deepest message nesting read, as protobufjs (and protoc) allow. */
const MAX_DEPTH = 100;

const TWO_POWER_32 = 4294967296;

/** Bytes that are no message of the expected type: the client's fault (src/domain/errors.ts). */
export class ProtobufDecodeError extends Error {
  override name = "ProtobufDecodeError";
  readonly code = "grpc.malformed_message";
}

/** A tag: field number and wire type in one varint. */
export const varintTag = (field: number) => field * 8 + WIRE_VARINT;
export const fixed64Tag = (field: number) => field * 8 + WIRE_FIXED64;
export const lengthTag = (field: number) => field * 8 + WIRE_LENGTH;

/** Bit n set for each declared field n: a declared field with another wire type is refused. */
export const declared = (...fields: number[]) => fields.reduce((mask, field) => mask | (1 << field), 0);

const MALFORMED = Symbol("malformed message");

/**
 * grpc-js' deserializer from a hand decoder. Bytes that are no such message become a message
 * carrying the decoder's error, which the service answers with INVALID_ARGUMENT: a thrown error
 * would be answered by grpc-js itself, with INTERNAL (a bug's status) and no details.
 */
export function deserializer<Message extends object>(decode: (bytes: Buffer) => Message): (bytes: Buffer) => Message {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (error) {
      if (error instanceof ProtobufDecodeError) return { [MALFORMED]: error } as Message;
      throw error;
    }
  };
}

/** The decoder's error when `message` came from bytes that are no message of its type. */
export function malformation(message: object): ProtobufDecodeError | undefined {
  return (message as { [MALFORMED]?: ProtobufDecodeError })[MALFORMED];
}

/** A field the decoder knows but does not keep: checked the way protobufjs would read it. */
export type FieldShape = "varint32" | "varint64" | "fixed64" | "length" | MessageShape | MapShape;
export interface MessageShape {
  readonly fields: Readonly<Record<number, FieldShape>>;
}
/** map<string, value>: entries with the key as field 1 and the value as field 2. */
export interface MapShape {
  readonly mapOf: FieldShape;
}

function wireTypeOf(shape: FieldShape): number {
  if (shape === "varint32" || shape === "varint64") return WIRE_VARINT;
  return shape === "fixed64" ? WIRE_FIXED64 : WIRE_LENGTH;
}

/**
 * UTF-8 text of a buffer's bytes, malformed sequences replaced: Node's own `utf8Slice` where it
 * has it (what protobufjs calls too; `toString` checks its arguments first, 54 against 75 ns for
 * a 10-byte header in process), else `toString`.
 */
const nativeSlice = (Buffer.prototype as { utf8Slice?: (start: number, end: number) => string }).utf8Slice;
const utf8Slice: (buffer: Buffer, start: number, end: number) => string = nativeSlice
  ? (buffer, start, end) => nativeSlice.call(buffer, start, end)
  : (buffer, start, end) => buffer.toString("utf8", start, end);

export class ProtobufReader {
  position = 0;

  constructor(readonly buffer: Buffer) {}

  fail(problem: string): never {
    throw new ProtobufDecodeError(`${problem} at byte ${this.position} of ${this.buffer.length}`);
  }

  /** A message's nesting depth checked on entry, as protobufjs checks it. */
  enter(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`messages nested deeper than ${MAX_DEPTH}`);
  }

  /** A varint read as 32 bits (the bits above dropped, as protobufjs drops them). */
  varint32(end: number): number {
    const buffer = this.buffer;
    let position = this.position;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (position >= end) this.fail("varint cut short");
      const byte = buffer[position++]!;
      value |= (byte & 127) << shift;
      if (byte < 128) {
        this.position = position;
        return value >>> 0;
      }
    }
    // Ten bytes, as a negative int32 is written: the last must end the varint.
    if (position + 5 > end) this.fail("varint cut short");
    for (let i = 0; i < 4; i++) if (buffer[position++]! < 128) this.fail("varint of 6 to 9 bytes");
    if (buffer[position++]! >= 128) this.fail("varint longer than 10 bytes");
    this.position = position;
    return value >>> 0;
  }

  /** An int64 as a number: the nearest double to its value, as protobufjs' `longs: Number` gives. */
  int64(end: number): number {
    const buffer = this.buffer;
    let low = 0;
    let high = 0;
    for (let index = 0; index < 10; index++) {
      if (this.position >= end) this.fail("varint cut short");
      const byte = buffer[this.position++]!;
      const bits = byte & 127;
      if (index < 4) low |= bits << (index * 7);
      else if (index === 4) {
        low |= bits << 28;
        high |= bits >> 4;
      } else high |= bits << (index * 7 - 32);
      if (byte < 128) return (high | 0) * TWO_POWER_32 + (low >>> 0);
    }
    return this.fail("varint longer than 10 bytes");
  }

  double(end: number): number {
    if (this.position + 8 > end) this.fail("double cut short");
    const value = this.buffer.readDoubleLE(this.position);
    this.position += 8;
    return value;
  }

  /** The end of the length-delimited field starting here, checked to lie inside `end`. */
  delimited(end: number): number {
    const length = this.varint32(end);
    if (length > end - this.position) this.fail(`length ${length} past the end of its message`);
    return this.position + length;
  }

  string(end: number): string {
    const stop = this.delimited(end);
    const start = this.position;
    this.position = stop;
    return utf8Slice(this.buffer, start, stop);
  }

  /** Bytes as protobufjs gives them: a view into the message's buffer, a fresh empty one when empty. */
  bytes(end: number): Buffer {
    const stop = this.delimited(end);
    const start = this.position;
    this.position = stop;
    return start === stop ? Buffer.alloc(0) : this.buffer.subarray(start, stop);
  }

  /**
   * A field the decoder's switch did not take: a declared one (bit `field` of `declared` set)
   * arrived with the wrong wire type, or it is undeclared and skipped like protobufjs skips it.
   */
  other(tag: number, declared: number, end: number, depth: number): void {
    const field = tag >>> 3;
    if (field < 32 && (declared >>> field) & 1) this.fail(`field ${field} with wire type ${tag & 7}`);
    this.skip(tag & 7, end, depth);
  }

  private skip(wireType: number, end: number, depth: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        do if (this.position >= end) this.fail("varint cut short");
        while (this.buffer[this.position++]! >= 128);
        return;
      case WIRE_FIXED64:
        return this.advance(8, end);
      case WIRE_LENGTH:
        this.position = this.delimited(end);
        return;
      case WIRE_START_GROUP:
        if (depth > MAX_DEPTH) this.fail(`groups nested deeper than ${MAX_DEPTH}`);
        for (let tag = this.varint32(end); (tag & 7) !== WIRE_END_GROUP; tag = this.varint32(end)) this.skip(tag & 7, end, depth + 1);
        return;
      case WIRE_FIXED32:
        return this.advance(4, end);
      default:
        this.fail(`wire type ${wireType}`);
    }
  }

  private advance(bytes: number, end: number): void {
    if (this.position + bytes > end) this.fail("fixed-width field cut short");
    this.position += bytes;
  }

  /** A known field's value checked and passed over; `depth` is its message's. */
  pass(shape: FieldShape, end: number, depth: number): void {
    if (shape === "varint32") this.varint32(end);
    else if (shape === "varint64") this.int64(end);
    else if (shape === "fixed64") this.advance(8, end);
    else if (shape === "length") this.position = this.delimited(end);
    else if ("mapOf" in shape) this.passEntry(shape.mapOf, this.delimited(end), depth);
    else this.passMessage(shape, this.delimited(end), depth + 1);
  }

  private passMessage(shape: MessageShape, end: number, depth: number): void {
    this.enter(depth);
    while (this.position < end) {
      const tag = this.varint32(end);
      const field = shape.fields[tag >>> 3];
      if (field === undefined) this.skip(tag & 7, end, depth);
      else if ((tag & 7) !== wireTypeOf(field)) this.fail(`field ${tag >>> 3} with wire type ${tag & 7}`);
      else this.pass(field, end, depth);
    }
  }

  /** A map entry, read at its message's depth as protobufjs' map code reads it. */
  private passEntry(valueShape: FieldShape, end: number, depth: number): void {
    let valued = false;
    while (this.position < end) {
      const tag = this.varint32(end);
      if (tag === KEY_TAG) this.position = this.delimited(end);
      else if (tag >>> 3 === 2 && (tag & 7) === wireTypeOf(valueShape)) {
        this.pass(valueShape, end, depth);
        valued = true;
      } else this.other(tag, ENTRY_FIELDS, end, depth);
    }
    if (!valued && typeof valueShape === "object") this.missingEntryValue();
  }

  /** protobufjs fails on it too (its toObject reads the null it leaves), so the bytes are refused. */
  missingEntryValue(): never {
    return this.fail("map entry without its message value");
  }
}

const KEY_TAG = 1 * 8 + WIRE_LENGTH;
/** The key (1) and value (2) of a map entry. */
export const ENTRY_FIELDS = (1 << 1) | (1 << 2);

/** Sets `key` as an own property, `__proto__` included, as protobufjs sets map keys. */
export function setEntry<Value>(into: Record<string, Value>, key: string, value: Value): void {
  if (key === "__proto__") Object.defineProperty(into, key, { value, enumerable: true, configurable: true, writable: true });
  else into[key] = value;
}
