/**
 * envoy.service.auth.v3.CheckRequest from protobuf bytes, decoded by hand into the fields
 * `toHttpAttributes` (converter.ts) reads, in the shape proto-loader gives them (snake_case,
 * int64 as numbers, Struct values camelCase).
 *
 * Why by hand: proto-loader decodes with protobufjs' `toObject(decode(bytes), options)`: every
 * field of every message (the destination peer, the metadata context, TLS, query, size…) made a
 * message instance, then copied again into a plain object with a default for each absent field.
 * In CPU profiles of the server under the Check bench that was 2.4–3.5% of the busy samples.
 * This decoder keeps only what the service reads and checks the rest without building it: in
 * process, 1.5 against 3.1 µs per storefront request (bench/check-decode-cpu.ts, BENCHMARKS.md).
 *
 * The contract, held by check-request-decoder.test.ts against protobufjs on generated requests,
 * truncated and corrupted bytes: what this decoder accepts, protobufjs accepts too and
 * `toHttpAttributes` reads the same from both; what protobufjs refuses, this refuses. It also
 * refuses a few things protobufjs reads leniently (the wire rules in ../protobuf-reader.ts).
 * Refused bytes throw a `ProtobufDecodeError`, which the service answers with INVALID_ARGUMENT.
 *
 * Field numbers are those of proto/envoy/service/auth/v3/attribute_context.proto (Envoy's, as
 * @grpc/grpc-js-xds vendors them); fields absent from that copy are skipped as unknown.
 */
import {
  ENTRY_FIELDS,
  ProtobufReader,
  declared,
  deserializer,
  fixed64Tag,
  lengthTag,
  setEntry,
  varintTag,
  type FieldShape,
  type MapShape,
  type MessageShape,
} from "../protobuf-reader.js";
import type {
  AttributeContext,
  AttributeHttpRequest,
  CheckRequest,
  HeaderValue,
  Metadata,
  Struct,
  Timestamp,
  Value,
} from "../protos.js";

type Peer = NonNullable<AttributeContext["source"]>;
type Address = NonNullable<Peer["address"]>;
type SocketAddress = NonNullable<Address["socket_address"]>;
type AttributeRequest = NonNullable<AttributeContext["request"]>;
type HeaderMap = NonNullable<AttributeHttpRequest["header_map"]>;

// Shapes of the messages checked but not kept.
const STRING_MAP: MapShape = { mapOf: "length" };
const PIPE: MessageShape = { fields: { 1: "length", 2: "varint32" } };
const SOCKET_ADDRESS: MessageShape = { fields: { 1: "varint32", 2: "length", 3: "varint32", 4: "length", 5: "length", 6: "varint32" } };
const ADDRESS: MessageShape = { fields: { 1: SOCKET_ADDRESS, 2: PIPE } };
const PEER: MessageShape = { fields: { 1: ADDRESS, 2: "length", 3: STRING_MAP, 4: "length", 5: "length" } };
const TLS_SESSION: MessageShape = { fields: { 1: "length" } };
const ANY: MessageShape = { fields: { 1: "length", 2: "length" } };
const valueFields: Record<number, FieldShape> = { 1: "varint32", 2: "fixed64", 3: "length", 4: "varint32" };
const VALUE: MessageShape = { fields: valueFields };
const STRUCT: MessageShape = { fields: { 1: { mapOf: VALUE } } };
const LIST_VALUE: MessageShape = { fields: { 1: VALUE } };
valueFields[5] = STRUCT;
valueFields[6] = LIST_VALUE;
const TYPED_METADATA: MapShape = { mapOf: ANY };
const METADATA: MessageShape = { fields: { 1: { mapOf: STRUCT }, 2: TYPED_METADATA } };

/** grpc-js' deserializer for Check: malformed bytes give a request `malformation` names (../protobuf-reader.ts). */
export const deserializeCheckRequest = deserializer(decodeCheckRequest);

/** Decodes a CheckRequest; throws ProtobufDecodeError for bytes that are not one. */
export function decodeCheckRequest(bytes: Buffer): CheckRequest {
  const reader = new ProtobufReader(bytes);
  const end = bytes.length;
  const request: CheckRequest = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) request.attributes = attributeContext(reader, reader.delimited(end), 1);
    else reader.other(tag, CHECK_REQUEST_FIELDS, end, 0);
  }
  return request;
}
const CHECK_REQUEST_FIELDS = declared(1);

function attributeContext(reader: ProtobufReader, end: number, depth: number): AttributeContext {
  reader.enter(depth);
  const context: AttributeContext = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    switch (tag) {
      case lengthTag(1):
        context.source = peer(reader, reader.delimited(end), depth + 1);
        break;
      case lengthTag(2):
        reader.pass(PEER, end, depth);
        break;
      case lengthTag(4):
        context.request = attributeRequest(reader, reader.delimited(end), depth + 1);
        break;
      case lengthTag(10):
        entry(reader, reader.delimited(end), depth, (context.context_extensions ??= {}), readText, "");
        break;
      case lengthTag(11):
        reader.pass(METADATA, end, depth);
        break;
      case lengthTag(12):
        reader.pass(TLS_SESSION, end, depth);
        break;
      case lengthTag(13):
        context.route_metadata_context = metadata(reader, reader.delimited(end), depth + 1);
        break;
      default:
        reader.other(tag, ATTRIBUTE_CONTEXT_FIELDS, end, depth);
    }
  }
  return context;
}
const ATTRIBUTE_CONTEXT_FIELDS = declared(1, 2, 4, 10, 11, 12, 13);

function peer(reader: ProtobufReader, end: number, depth: number): Peer {
  reader.enter(depth);
  const result: Peer = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) result.address = address(reader, reader.delimited(end), depth + 1);
    else if (tag === lengthTag(3)) reader.pass(STRING_MAP, end, depth);
    else if (tag === lengthTag(2) || tag === lengthTag(4) || tag === lengthTag(5)) reader.pass("length", end, depth);
    else reader.other(tag, PEER_FIELDS, end, depth);
  }
  return result;
}
const PEER_FIELDS = declared(1, 2, 3, 4, 5);

function address(reader: ProtobufReader, end: number, depth: number): Address {
  reader.enter(depth);
  const result: Address = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) result.socket_address = socketAddress(reader, reader.delimited(end), depth + 1);
    else if (tag === lengthTag(2)) reader.pass(PIPE, end, depth);
    else reader.other(tag, ADDRESS_FIELDS, end, depth);
  }
  return result;
}
const ADDRESS_FIELDS = declared(1, 2);

function socketAddress(reader: ProtobufReader, end: number, depth: number): SocketAddress {
  reader.enter(depth);
  const result: SocketAddress = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(2)) result.address = reader.string(end);
    else if (tag === varintTag(1) || tag === varintTag(3) || tag === varintTag(6)) reader.pass("varint32", end, depth);
    else if (tag === lengthTag(4) || tag === lengthTag(5)) reader.pass("length", end, depth);
    else reader.other(tag, SOCKET_ADDRESS_FIELDS, end, depth);
  }
  return result;
}
const SOCKET_ADDRESS_FIELDS = declared(1, 2, 3, 4, 5, 6);

function attributeRequest(reader: ProtobufReader, end: number, depth: number): AttributeRequest {
  reader.enter(depth);
  const result: AttributeRequest = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) result.time = timestamp(reader, reader.delimited(end), depth + 1);
    else if (tag === lengthTag(2)) result.http = httpRequest(reader, reader.delimited(end), depth + 1);
    else reader.other(tag, REQUEST_FIELDS, end, depth);
  }
  return result;
}
const REQUEST_FIELDS = declared(1, 2);

function timestamp(reader: ProtobufReader, end: number, depth: number): Timestamp {
  reader.enter(depth);
  const result = { seconds: 0, nanos: 0 };
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === varintTag(1)) result.seconds = reader.int64(end);
    else if (tag === varintTag(2)) result.nanos = reader.varint32(end) | 0;
    else reader.other(tag, TIMESTAMP_FIELDS, end, depth);
  }
  return result;
}
const TIMESTAMP_FIELDS = declared(1, 2);

function httpRequest(reader: ProtobufReader, end: number, depth: number): AttributeHttpRequest {
  reader.enter(depth);
  const http: AttributeHttpRequest = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    switch (tag) {
      case lengthTag(1):
        http.id = reader.string(end);
        break;
      case lengthTag(2):
        http.method = reader.string(end);
        break;
      case lengthTag(3):
        entry(reader, reader.delimited(end), depth, (http.headers ??= {}), readText, "");
        break;
      case lengthTag(4):
        http.path = reader.string(end);
        break;
      case lengthTag(5):
        http.host = reader.string(end);
        break;
      case lengthTag(6):
        http.scheme = reader.string(end);
        break;
      case lengthTag(7): // query
      case lengthTag(8): // fragment
        reader.pass("length", end, depth);
        break;
      case varintTag(9): // size
        reader.pass("varint64", end, depth);
        break;
      case lengthTag(10):
        http.protocol = reader.string(end);
        break;
      case lengthTag(11):
        http.body = reader.string(end);
        break;
      case lengthTag(12):
        http.raw_body = reader.bytes(end);
        break;
      case lengthTag(13):
        http.header_map = headerMap(reader, reader.delimited(end), depth + 1);
        break;
      default:
        reader.other(tag, HTTP_REQUEST_FIELDS, end, depth);
    }
  }
  return http;
}
const HTTP_REQUEST_FIELDS = declared(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13);

function headerMap(reader: ProtobufReader, end: number, depth: number): HeaderMap {
  reader.enter(depth);
  const headers: HeaderValue[] = [];
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) headers.push(headerValue(reader, reader.delimited(end), depth + 1));
    else reader.other(tag, HEADER_MAP_FIELDS, end, depth);
  }
  return { headers };
}
const HEADER_MAP_FIELDS = declared(1);

/** Key and value default to "" as protobufjs gives them: an empty value is still a header. */
function headerValue(reader: ProtobufReader, end: number, depth: number): HeaderValue {
  reader.enter(depth);
  const header: HeaderValue = { key: "", value: "" };
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) header.key = reader.string(end);
    else if (tag === lengthTag(2)) header.value = reader.string(end);
    else if (tag === lengthTag(3)) header.raw_value = reader.bytes(end);
    else reader.other(tag, HEADER_VALUE_FIELDS, end, depth);
  }
  return header;
}
const HEADER_VALUE_FIELDS = declared(1, 2, 3);

function metadata(reader: ProtobufReader, end: number, depth: number): Metadata {
  reader.enter(depth);
  const result: Metadata = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) entry(reader, reader.delimited(end), depth, (result.filter_metadata ??= {}), readStruct, undefined);
    else if (tag === lengthTag(2)) reader.pass(TYPED_METADATA, end, depth);
    else reader.other(tag, METADATA_FIELDS, end, depth);
  }
  return result;
}
const METADATA_FIELDS = declared(1, 2);

function struct(reader: ProtobufReader, end: number, depth: number): Struct {
  reader.enter(depth);
  const result: Struct = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) entry(reader, reader.delimited(end), depth, (result.fields ??= {}), readValue, undefined);
    else reader.other(tag, STRUCT_FIELDS, end, depth);
  }
  return result;
}
const STRUCT_FIELDS = declared(1);

/** Every member of the kind oneof that arrives is kept, as protobufjs keeps them. */
function value(reader: ProtobufReader, end: number, depth: number): Value {
  reader.enter(depth);
  const result: Value = {};
  while (reader.position < end) {
    const tag = reader.varint32(end);
    switch (tag) {
      case fixed64Tag(2):
        result.numberValue = reader.double(end);
        break;
      case lengthTag(3):
        result.stringValue = reader.string(end);
        break;
      case varintTag(4):
        result.boolValue = reader.varint32(end) !== 0;
        break;
      case lengthTag(5):
        result.structValue = struct(reader, reader.delimited(end), depth + 1);
        break;
      case varintTag(1): // null_value
        reader.pass("varint32", end, depth);
        break;
      case lengthTag(6): // list_value
        reader.pass(LIST_VALUE, end, depth);
        break;
      default:
        reader.other(tag, VALUE_FIELDS, end, depth);
    }
  }
  return result;
}
const VALUE_FIELDS = declared(1, 2, 3, 4, 5, 6);

/**
 * One map<string, …> entry, read at its message's depth as protobufjs reads entries. A text
 * value defaults to ""; a message value must be there (`absent` undefined).
 */
function entry<Entry>(
  reader: ProtobufReader,
  end: number,
  depth: number,
  into: Record<string, Entry>,
  read: (reader: ProtobufReader, end: number, depth: number) => Entry,
  absent: Entry | undefined,
): void {
  let key = "";
  let found = absent;
  while (reader.position < end) {
    const tag = reader.varint32(end);
    if (tag === lengthTag(1)) key = reader.string(end);
    else if (tag === lengthTag(2)) found = read(reader, end, depth);
    else reader.other(tag, ENTRY_FIELDS, end, depth);
  }
  if (found === undefined) reader.missingEntryValue();
  setEntry(into, key, found);
}

const readText = (reader: ProtobufReader, end: number) => reader.string(end);
const readStruct = (reader: ProtobufReader, end: number, depth: number) => struct(reader, reader.delimited(end), depth + 1);
const readValue = (reader: ProtobufReader, end: number, depth: number) => value(reader, reader.delimited(end), depth + 1);
