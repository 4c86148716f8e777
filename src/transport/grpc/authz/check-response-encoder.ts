/**
 * envoy.service.auth.v3.CheckResponse to protobuf bytes, written by hand for the shapes
 * toCheckResponse() builds, the same bytes as protobufjs' serializer (proto-loader's
 * `encode(fromObject(message)).finish()`, then a copy) for them.
 *
 * Why by hand: in a CPU profile of the server under the Check bench, serialising the response
 * was 8% of the process's busy time, a third of it protobufjs' fromObject (a message instance
 * built from the plain object, enums looked up by name), then the writer's list of operations
 * and one native call per string of 40 characters or more, and a final copy. No library encodes
 * plain objects of a known shape straight into one buffer; protobufjs' static code generation
 * (pbjs) still goes through fromObject for plain objects.
 *
 * What it does not know it leaves to protobufjs: any field outside the subset below (a Status'
 * details, an OkHttpResponse's query_parameters_to_set, an enum name it does not know, a value
 * of an unexpected type) sends the whole message through `fallback`. check-response-encoder.test.ts
 * compares its bytes with protobufjs' on every shape the converter builds and on edge cases.
 *
 * Byte for byte as protobufjs writes them: fields in field-number order; every field that is
 * set (not null or undefined) is written, zeros and empty strings included (proto-loader's
 * fromObject sets them as own properties, and its encoder writes own properties); map entries
 * in the object's key order; lengths as varints in front of their message.
 */


const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;

const APPEND_ACTIONS: Readonly<Record<string, number>> = {
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
};

/** Thrown inside the encoder for a shape it leaves to protobufjs; never escapes encodeCheckResponse. */
class Unsupported extends Error {}

/** Rather than Error's stack capture for every fallback: one instance, thrown as a signal. */
const UNSUPPORTED = new Unsupported("shape left to protobufjs");

/**
 * A growable scratch buffer, reused by every call (the event loop runs one encode at a time);
 * each call returns a copy of its bytes, which grpc-js keeps until the stream has written them.
 */
class Output {
  buffer = Buffer.allocUnsafe(16 * 1024);
  view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  position = 0;

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

  /** An unsigned varint below 2^32. */
  varint32(value: number): void {
    this.ensure(5);
    let rest = value >>> 0;
    while (rest > 127) {
      this.buffer[this.position++] = (rest & 127) | 128;
      rest >>>= 7;
    }
    this.buffer[this.position++] = rest;
  }

  /** int32 as protobuf writes it: a negative value as the ten-byte varint of its 64-bit form. */
  int32(value: number): void {
    if (value >= 0) return this.varint32(value);
    this.ensure(10);
    let low = value >>> 0;
    for (let i = 0; i < 4; i++) {
      this.buffer[this.position++] = (low & 127) | 128;
      low >>>= 7;
    }
    // Bits 28–31 of the low word and the high word's ones, then the rest of the ones.
    this.buffer[this.position++] = (low & 15) | 0x70 | 128;
    for (let i = 0; i < 4; i++) this.buffer[this.position++] = 0xff;
    this.buffer[this.position++] = 1;
  }

  tag(field: number, wireType: number): void {
    this.byte((field << 3) | wireType);
  }

  string(field: number, value: string): void {
    this.tag(field, WIRE_LENGTH);
    const length = value.length;
    // Short ASCII text (header names and values, pseudonyms, codes) in a loop; anything else
    // through Buffer's UTF-8 writer, at most 3 bytes a UTF-16 unit.
    if (length < 128) {
      let ascii = true;
      for (let i = 0; i < length; i++) {
        if (value.charCodeAt(i) > 127) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.ensure(length + 1);
        this.buffer[this.position++] = length;
        for (let i = 0; i < length; i++) this.buffer[this.position++] = value.charCodeAt(i);
        return;
      }
    }
    const bytes = Buffer.byteLength(value, "utf8");
    this.varint32(bytes);
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
    this.varint32(length);
    this.position += length;
  }
}

const output = new Output();

/**
 * The CheckResponse's bytes; protobufjs' (`fallback`) for a shape this encoder leaves to it.
 * Bytes identical to the fallback's for every shape it encodes itself.
 */
export function encodeCheckResponse<Message extends object>(message: Message, fallback: (message: Message) => Buffer): Buffer {
  output.position = 0;
  try {
    checkResponse(message as Record<string, unknown>);
  } catch (error) {
    if (error !== UNSUPPORTED) throw error;
    return fallback(message);
  }
  const bytes = Buffer.allocUnsafe(output.position);
  output.buffer.copy(bytes, 0, 0, output.position);
  return bytes;
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function object(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw UNSUPPORTED;
  return value as Record<string, unknown>;
}

function text(value: unknown): string {
  if (typeof value !== "string") throw UNSUPPORTED;
  return value;
}

function integer(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value > 0x7fffffff || value < -0x80000000) throw UNSUPPORTED;
  return value;
}

function list(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw UNSUPPORTED;
  return value;
}

/** Only the named fields may be set; anything else goes to protobufjs. */
function only(message: Record<string, unknown>, known: readonly string[]): void {
  for (const key in message) {
    if (isSet(message[key]) && !known.includes(key)) throw UNSUPPORTED;
  }
}

const CHECK_RESPONSE_FIELDS = ["status", "denied_response", "ok_response", "dynamic_metadata"] as const;
const STATUS_FIELDS = ["code", "message"] as const;
const DENIED_FIELDS = ["status", "headers", "body"] as const;
const HTTP_STATUS_FIELDS = ["code"] as const;
const OK_FIELDS = ["headers", "headers_to_remove", "response_headers_to_add", "query_parameters_to_remove"] as const;
const HEADER_OPTION_FIELDS = ["header", "append_action", "keep_empty_value"] as const;
const HEADER_FIELDS = ["key", "value"] as const;
const STRUCT_FIELDS = ["fields"] as const;
const LIST_FIELDS = ["values"] as const;
const VALUE_FIELDS = ["nullValue", "numberValue", "stringValue", "boolValue", "structValue", "listValue"] as const;

function checkResponse(message: Record<string, unknown>): void {
  only(message, CHECK_RESPONSE_FIELDS);
  if (isSet(message.status)) {
    const start = output.open(1);
    rpcStatus(object(message.status));
    output.close(start);
  }
  if (isSet(message.denied_response)) {
    const start = output.open(2);
    deniedResponse(object(message.denied_response));
    output.close(start);
  }
  if (isSet(message.ok_response)) {
    const start = output.open(3);
    okResponse(object(message.ok_response));
    output.close(start);
  }
  if (isSet(message.dynamic_metadata)) {
    const start = output.open(4);
    struct(object(message.dynamic_metadata));
    output.close(start);
  }
}

/** google.rpc.Status: code (1), message (2). */
function rpcStatus(status: Record<string, unknown>): void {
  only(status, STATUS_FIELDS);
  if (isSet(status.code)) {
    output.tag(1, WIRE_VARINT);
    output.int32(integer(status.code));
  }
  if (isSet(status.message)) output.string(2, text(status.message));
}

/** DeniedHttpResponse: status (1, envoy.type.v3.HttpStatus), headers (2), body (3). */
function deniedResponse(denied: Record<string, unknown>): void {
  only(denied, DENIED_FIELDS);
  if (isSet(denied.status)) {
    const status = object(denied.status);
    only(status, HTTP_STATUS_FIELDS);
    const start = output.open(1);
    // StatusCode is an enum whose numbers are the HTTP codes: only numbers are taken here.
    if (isSet(status.code)) {
      output.tag(1, WIRE_VARINT);
      output.int32(integer(status.code));
    }
    output.close(start);
  }
  if (isSet(denied.headers)) headerOptions(2, list(denied.headers));
  if (isSet(denied.body)) output.string(3, text(denied.body));
}

/** OkHttpResponse: headers (2), headers_to_remove (5), response_headers_to_add (6), query_parameters_to_remove (8). */
function okResponse(ok: Record<string, unknown>): void {
  only(ok, OK_FIELDS);
  if (isSet(ok.headers)) headerOptions(2, list(ok.headers));
  if (isSet(ok.headers_to_remove)) strings(5, list(ok.headers_to_remove));
  if (isSet(ok.response_headers_to_add)) headerOptions(6, list(ok.response_headers_to_add));
  if (isSet(ok.query_parameters_to_remove)) strings(8, list(ok.query_parameters_to_remove));
}

function strings(field: number, values: unknown[]): void {
  for (const value of values) output.string(field, text(value));
}

/** HeaderValueOption: header (1: key 1, value 2), append_action (3), keep_empty_value (4). */
function headerOptions(field: number, options: unknown[]): void {
  for (const item of options) {
    const option = object(item);
    only(option, HEADER_OPTION_FIELDS);
    const start = output.open(field);
    if (isSet(option.header)) {
      const header = object(option.header);
      only(header, HEADER_FIELDS);
      const inner = output.open(1);
      if (isSet(header.key)) output.string(1, text(header.key));
      if (isSet(header.value)) output.string(2, text(header.value));
      output.close(inner);
    }
    if (isSet(option.append_action)) {
      output.tag(3, WIRE_VARINT);
      output.int32(appendAction(option.append_action));
    }
    if (isSet(option.keep_empty_value)) {
      if (typeof option.keep_empty_value !== "boolean") throw UNSUPPORTED;
      output.tag(4, WIRE_VARINT);
      output.byte(option.keep_empty_value ? 1 : 0);
    }
    output.close(start);
  }
}

function appendAction(value: unknown): number {
  if (typeof value === "number") return integer(value);
  const number = typeof value === "string" ? APPEND_ACTIONS[value] : undefined;
  if (number === undefined) throw UNSUPPORTED;
  return number;
}

/** google.protobuf.Struct: fields (1), a map of string to Value, in key order. */
function struct(message: Record<string, unknown>): void {
  only(message, STRUCT_FIELDS);
  if (!isSet(message.fields)) return;
  const fields = object(message.fields);
  // Own keys only, as protobufjs reads them (a `__proto__` key set by assignment is not one).
  for (const key of Object.keys(fields)) {
    const entry = output.open(1);
    output.string(1, key);
    // protobufjs writes an entry's value message even when it is empty.
    const start = output.open(2);
    const value = fields[key];
    if (isSet(value)) protobufValue(object(value));
    output.close(start);
    output.close(entry);
  }
}

/**
 * google.protobuf.Value, camelCase as protobufjs' bundled descriptor has it: null_value (1),
 * number_value (2), string_value (3), bool_value (4), struct_value (5), list_value (6).
 */
function protobufValue(value: Record<string, unknown>): void {
  only(value, VALUE_FIELDS);
  if (isSet(value.nullValue)) {
    if (value.nullValue !== "NULL_VALUE" && value.nullValue !== 0) throw UNSUPPORTED;
    output.tag(1, WIRE_VARINT);
    output.byte(0);
  }
  if (isSet(value.numberValue)) {
    if (typeof value.numberValue !== "number") throw UNSUPPORTED;
    output.double(2, value.numberValue);
  }
  if (isSet(value.stringValue)) output.string(3, text(value.stringValue));
  if (isSet(value.boolValue)) {
    if (typeof value.boolValue !== "boolean") throw UNSUPPORTED;
    output.tag(4, WIRE_VARINT);
    output.byte(value.boolValue ? 1 : 0);
  }
  if (isSet(value.structValue)) {
    const start = output.open(5);
    struct(object(value.structValue));
    output.close(start);
  }
  if (isSet(value.listValue)) {
    const listValue = object(value.listValue);
    only(listValue, LIST_FIELDS);
    const start = output.open(6);
    if (isSet(listValue.values)) {
      for (const item of list(listValue.values)) {
        const inner = output.open(1);
        protobufValue(object(item));
        output.close(inner);
      }
    }
    output.close(start);
  }
}
