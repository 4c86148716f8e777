/**
 * Protobuf wire writing for the answers Palisade encodes by hand (Check's CheckResponse, written
 * from the decision, and ShouldRateLimit's RateLimitResponse, with the google.protobuf.Struct it carries).
 *
 * Why by hand: @grpc/proto-loader serialises every message as protobufjs'
 * `encode(fromObject(message)).finish()`: a message instance per nested message, enums looked
 * up by name, a queued write operation per field, one native call per longer string, then a
 * copy. In CPU profiles of the server under the benches that was 8% of a Check's busy time and
 * about 5 µs of each ShouldRateLimit answer. No maintained library writes a plain object of a
 * known shape straight into one buffer (protobufjs' static code still goes through fromObject
 * for plain objects), so this file does it: one pass into a scratch buffer reused from call to
 * call, each nested message given its length afterwards.
 *
 * An encoder of a message object (ShouldRateLimit's) takes only the shapes its converter builds
 * and throws `UNSUPPORTED` for anything else, which `encodeOrUndefined` turns into undefined so
 * that the caller hands the message to protobufjs. Byte for byte as protobufjs writes: fields in field-number order, every
 * set field written (zeros and empty strings included), map entries in the object's key order.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH = 2;

/** Thrown inside an encoder for a shape it leaves to protobufjs; never escapes `encodeOrUndefined`. */
class Unsupported extends Error {}

/** One instance thrown as a signal, rather than Error's stack capture for every fallback. */
export const UNSUPPORTED = new Unsupported("shape left to protobufjs");

/** Deeper Struct nesting than this is left to protobufjs. */
const MAX_STRUCT_DEPTH = 32;

/** A growable scratch buffer; the event loop runs one encode at a time, so one per encoder. */
export class ProtobufWriter {
  buffer: Buffer;
  view: DataView;
  position = 0;

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  ensure(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.position + bytes));
    this.buffer.copy(grown, 0, 0, this.position);
    this.buffer = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  byte(value: number): void {
    this.ensure(1);
    this.buffer[this.position++] = value;
  }

  /** An unsigned varint of a whole number in [0, 2^53). */
  varint(value: number): void {
    this.ensure(8);
    let rest = value;
    if (rest <= 0x7fffffff) {
      while (rest > 127) {
        this.buffer[this.position++] = (rest & 127) | 128;
        rest >>>= 7;
      }
    } else {
      while (rest > 127) {
        this.buffer[this.position++] = (rest % 128) | 128;
        rest = Math.floor(rest / 128);
      }
    }
    this.buffer[this.position++] = rest;
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  varintField(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  boolField(field: number, value: boolean): void {
    this.tag(field, WIRE_VARINT);
    this.byte(value ? 1 : 0);
  }

  string(field: number, value: string): void {
    this.tag(field, WIRE_LENGTH);
    const length = value.length;
    // Short ASCII text (header names and values, pseudonyms, codes) copied in one pass, cheaper
    // than a call into C++; anything else through Buffer's UTF-8 writer. Buffer and position in
    // locals: through `this` every character cost a load and a store of each.
    if (length < 128) {
      this.ensure(length + 1);
      const buffer = this.buffer;
      const start = this.position + 1;
      let i = 0;
      for (let code; i < length && (code = value.charCodeAt(i)) < 128; i++) buffer[start + i] = code;
      if (i === length) {
        buffer[start - 1] = length;
        this.position = start + length;
        return;
      }
    }
    const bytes = Buffer.byteLength(value, "utf8");
    this.varint(bytes);
    this.ensure(bytes);
    this.position += this.buffer.write(value, this.position, bytes, "utf8");
  }

  double(field: number, value: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.view.setFloat64(this.position, value, true);
    this.position += 8;
  }

  /** Opens a length-delimited field; `close` writes its length in front of what followed. */
  open(field: number): number {
    this.tag(field, WIRE_LENGTH);
    this.ensure(1);
    this.position += 1; // room for a length below 128, the usual case
    return this.position;
  }

  close(start: number): void {
    const length = this.position - start;
    if (length < 128) {
      this.buffer[start - 1] = length;
      return;
    }
    let width = 1;
    for (let rest = length >>> 7; rest > 0; rest >>>= 7) width++;
    this.ensure(width - 1);
    this.buffer.copy(this.buffer, start + width - 1, start, this.position);
    this.position = start - 1;
    this.varint(length);
    this.position += length;
  }

  /** `encode`'s bytes, written from the start of the scratch buffer and copied out, or undefined when it threw `UNSUPPORTED`. */
  encodeOrUndefined<Message>(encode: (message: Message) => void, message: Message): Buffer | undefined {
    this.position = 0;
    try {
      // The message passed along rather than captured: no closure per answer.
      encode(message);
    } catch (error) {
      if (error === UNSUPPORTED) return undefined;
      throw error;
    }
    return this.copyOut();
  }

  /** What was written since `position` was last set to 0, copied out (grpc-js keeps it until the stream has written it). */
  copyOut(): Buffer {
    const bytes = Buffer.allocUnsafe(this.position); // from Node's pool: small answers share its slabs
    this.buffer.copy(bytes, 0, 0, this.position);
    return bytes;
  }
}

export function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

export function object(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw UNSUPPORTED;
  return value as Record<string, unknown>;
}

export function text(value: unknown): string {
  if (typeof value !== "string") throw UNSUPPORTED;
  return value;
}

export function list(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw UNSUPPORTED;
  return value;
}

/** A whole number in [0, max]. */
export function whole(value: unknown, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) throw UNSUPPORTED;
  return value;
}

/** Only the named fields may be set; anything else goes to protobufjs. */
export function only(message: Record<string, unknown>, known: readonly string[]): void {
  for (const key in message) {
    if (isSet(message[key]) && !known.includes(key)) throw UNSUPPORTED;
  }
}

const STRUCT_FIELDS = ["fields"] as const;
const LIST_FIELDS = ["values"] as const;
const VALUE_FIELDS = ["nullValue", "numberValue", "stringValue", "boolValue", "structValue", "listValue"] as const;

/** google.protobuf.Struct: fields (1), a map of string to Value, in key order. */
export function writeStruct(writer: ProtobufWriter, message: Record<string, unknown>, depth = 0): void {
  if (depth > MAX_STRUCT_DEPTH) throw UNSUPPORTED;
  only(message, STRUCT_FIELDS);
  if (!isSet(message.fields)) return;
  const fields = object(message.fields);
  // Own keys only, as protobufjs reads them (a `__proto__` key set by assignment is not one).
  for (const key of Object.keys(fields)) {
    const entry = writer.open(1);
    writer.string(1, key);
    // protobufjs writes an entry's value message even when it is empty.
    const start = writer.open(2);
    const value = fields[key];
    if (isSet(value)) writeValue(writer, object(value), depth);
    writer.close(start);
    writer.close(entry);
  }
}

/**
 * google.protobuf.Value, camelCase as protobufjs' bundled descriptor has it: null_value (1),
 * number_value (2), string_value (3), bool_value (4), struct_value (5), list_value (6).
 */
function writeValue(writer: ProtobufWriter, value: Record<string, unknown>, depth: number): void {
  only(value, VALUE_FIELDS);
  if (isSet(value.nullValue)) {
    if (value.nullValue !== "NULL_VALUE" && value.nullValue !== 0) throw UNSUPPORTED;
    writer.varintField(1, 0);
  }
  if (isSet(value.numberValue)) {
    if (typeof value.numberValue !== "number") throw UNSUPPORTED;
    writer.double(2, value.numberValue);
  }
  if (isSet(value.stringValue)) writer.string(3, text(value.stringValue));
  if (isSet(value.boolValue)) {
    if (typeof value.boolValue !== "boolean") throw UNSUPPORTED;
    writer.boolField(4, value.boolValue);
  }
  if (isSet(value.structValue)) {
    const start = writer.open(5);
    writeStruct(writer, object(value.structValue), depth + 1);
    writer.close(start);
  }
  if (isSet(value.listValue)) {
    if (depth > MAX_STRUCT_DEPTH) throw UNSUPPORTED;
    const listValue = object(value.listValue);
    only(listValue, LIST_FIELDS);
    const start = writer.open(6);
    if (isSet(listValue.values)) {
      for (const item of list(listValue.values)) {
        const inner = writer.open(1);
        writeValue(writer, object(item), depth + 1);
        writer.close(inner);
      }
    }
    writer.close(start);
  }
}
