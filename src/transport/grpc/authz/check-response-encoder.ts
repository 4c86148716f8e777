/**
 * envoy.service.auth.v3.CheckResponse to protobuf bytes, written by hand for the shapes
 * toCheckResponse() builds, the same bytes as protobufjs' serializer (proto-loader's
 * `encode(fromObject(message)).finish()`, then a copy) for them.
 *
 * Why by hand, and the wire rules it follows: ../protobuf-writer.ts.
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
import { ProtobufWriter, UNSUPPORTED, WIRE_VARINT, isSet, list, object, only, text, writeStruct } from "../protobuf-writer.js";

const APPEND_ACTIONS: Readonly<Record<string, number>> = {
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
};

const output = new ProtobufWriter(16 * 1024);

/**
 * The CheckResponse's bytes; protobufjs' (`fallback`) for a shape this encoder leaves to it.
 * Bytes identical to the fallback's for every shape it encodes itself.
 */
export function encodeCheckResponse<Message extends object>(message: Message, fallback: (message: Message) => Buffer): Buffer {
  return output.encodeOrUndefined(checkResponse, message as Record<string, unknown>) ?? fallback(message);
}

function integer(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value > 0x7fffffff || value < -0x80000000) throw UNSUPPORTED;
  return value;
}

const CHECK_RESPONSE_FIELDS = ["status", "denied_response", "ok_response", "dynamic_metadata"] as const;
const STATUS_FIELDS = ["code", "message"] as const;
const DENIED_FIELDS = ["status", "headers", "body"] as const;
const HTTP_STATUS_FIELDS = ["code"] as const;
const OK_FIELDS = ["headers", "headers_to_remove", "response_headers_to_add", "query_parameters_to_remove"] as const;
const HEADER_OPTION_FIELDS = ["header", "append_action", "keep_empty_value"] as const;
const HEADER_FIELDS = ["key", "value"] as const;

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
    writeStruct(output, object(message.dynamic_metadata));
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
      output.boolField(4, option.keep_empty_value);
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
