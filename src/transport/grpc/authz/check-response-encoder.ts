/**
 * envoy.service.auth.v3.CheckResponse's bytes written straight from a decision: the converter
 * tells the answer (describeCheckResponse) and this sink writes each part as it is told, where
 * the message object (toCheckResponse) and then its encoding built some thirty objects per Check
 * and walked them again with a shape check on each. The bytes are protobufjs' for that object
 * (proto-loader's `encode(fromObject(message)).finish()`); check-response-encoder.test.ts holds
 * them to it on every action and on arbitrary decisions.
 *
 * Why by hand, and the wire rules it follows: ../protobuf-writer.ts. As protobufjs writes them:
 * fields in field-number order, every set field written (zeros and empty strings included),
 * Struct entries in the order they were set, lengths as varints in front of their message.
 */
import type { Decision, Reason } from "../../../domain/decision.js";
import { ProtobufWriter } from "../protobuf-writer.js";
import { describeCheckResponse, type CheckResponseOptions, type CheckResponseSink } from "./converter.js";

/** HeaderValueOption.append_action OVERWRITE_IF_EXISTS_OR_ADD, what the converter's every header asks for. */
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

/** CheckResponse fields. */
const STATUS = 1;
const DENIED_RESPONSE = 2;
const OK_RESPONSE = 3;
const DYNAMIC_METADATA = 4;
/** DeniedHttpResponse: status (an envoy.type.v3.HttpStatus, its code field 1), headers, body. */
const DENIED_STATUS = 1;
const DENIED_BODY = 3;
/** Headers are field 2 of both DeniedHttpResponse and OkHttpResponse. */
const HEADERS = 2;
const OK_HEADERS_TO_REMOVE = 5;
/** google.protobuf.Struct's map entries (1: key 1, value 2) and Value's kinds. */
const STRUCT_FIELDS = 1;
const NULL_VALUE = 1;
const NUMBER_VALUE = 2;
const STRING_VALUE = 3;
const BOOL_VALUE = 4;
const LIST_VALUE = 6;

/** The CheckResponse that answers `decision`, as the bytes grpc-js sends. */
export function encodeCheckResponse(decision: Decision, options: CheckResponseOptions): Buffer {
  output.position = 0;
  describeCheckResponse(decision, options, sink);
  return output.copyOut();
}

const output = new ProtobufWriter(16 * 1024);

/** Writes into `output`; one at a time (the event loop encodes one answer at a time). */
class CheckResponseBytes implements CheckResponseSink {
  /** Where the open response (denied or ok) and the metadata start, for their lengths. */
  #response = 0;
  #metadata = 0;
  #entry = 0;

  status(code: number): void {
    const start = output.open(STATUS);
    output.varintField(1, code);
    output.close(start);
  }
  beginDenied(httpStatus: number): void {
    this.#response = output.open(DENIED_RESPONSE);
    const status = output.open(DENIED_STATUS);
    output.varintField(1, httpStatus);
    output.close(status);
  }
  beginOk(): void {
    this.#response = output.open(OK_RESPONSE);
  }
  header(key: string, value: string): void {
    const option = output.open(HEADERS);
    const header = output.open(1);
    output.string(1, key);
    output.string(2, value);
    output.close(header);
    output.varintField(3, OVERWRITE_IF_EXISTS_OR_ADD);
    output.close(option);
  }
  headerToRemove(name: string): void {
    output.string(OK_HEADERS_TO_REMOVE, name);
  }
  body(text: string): void {
    output.string(DENIED_BODY, text);
  }
  endResponse(): void {
    output.close(this.#response);
  }
  beginMetadata(): void {
    this.#metadata = output.open(DYNAMIC_METADATA);
  }
  text(key: string, value: string): void {
    const start = this.#openEntry(key);
    output.string(STRING_VALUE, value);
    this.#closeEntry(start);
  }
  number(key: string, value: number): void {
    const start = this.#openEntry(key);
    if (Number.isFinite(value)) output.double(NUMBER_VALUE, value);
    else output.varintField(NULL_VALUE, 0);
    this.#closeEntry(start);
  }
  bool(key: string, value: boolean): void {
    const start = this.#openEntry(key);
    output.boolField(BOOL_VALUE, value);
    this.#closeEntry(start);
  }
  reasonCodes(key: string, reasons: readonly Reason[]): void {
    const start = this.#openEntry(key);
    const list = output.open(LIST_VALUE);
    for (const reason of reasons) {
      const item = output.open(1);
      output.string(STRING_VALUE, reason.code);
      output.close(item);
    }
    output.close(list);
    this.#closeEntry(start);
  }
  endMetadata(): void {
    output.close(this.#metadata);
  }

  /** Opens a Struct entry (one at a time: the converter's values are not Structs) and its Value; returns the Value's start. */
  #openEntry(key: string): number {
    this.#entry = output.open(STRUCT_FIELDS);
    output.string(1, key);
    return output.open(2);
  }
  #closeEntry(valueStart: number): void {
    output.close(valueStart);
    output.close(this.#entry);
  }
}

const sink = new CheckResponseBytes();
