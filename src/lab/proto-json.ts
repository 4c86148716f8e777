/**
 * Reads protobuf's canonical JSON form (proto3 JSON mapping: lowerCamelCase names, 64-bit
 * integers as strings, bytes as base64, RFC 3339 timestamps, bare wrapper values, Struct as
 * plain JSON) into the object shape the gRPC layer uses (snake_case keys, numbers, Buffers),
 * driven by the same .proto descriptors the server loads. Strict: an unknown field or a value
 * of the wrong type is an error naming its path, so a bad line in a traffic file is reported
 * rather than half-read.
 *
 * Written by hand because no library fitted: protobufjs's fromObject knows neither the RFC 3339
 * and "1.5s" forms of Timestamp and Duration nor bare wrapper values, and @bufbuild/protobuf's
 * fromJson needs a registry of real FileDescriptorProtos, while @grpc/proto-loader hands out one
 * synthetic file per package with relative type names and no dependencies (tried: the registry
 * refuses it).
 */
import { loadPackageDefinition, toStruct, toValue } from "../transport/grpc/protos.js";

interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
  jsonName?: string;
}

interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  options: { mapEntry?: boolean } | null;
}

interface MessageType {
  fullName: string;
  descriptor: MessageDescriptor;
  /** Both spellings proto3 JSON parsers must accept: the JSON name and the field's own name. */
  fields: Map<string, FieldDescriptor>;
  /** Message types of this type's fields, resolved once (by field name). */
  targets: Map<string, MessageType | undefined>;
}

export class ProtoJsonError extends Error {
  override readonly name = "ProtoJsonError";
}

type Index = { messages: Map<string, MessageType> };

let cachedIndex: Index | undefined;

function index(): Index {
  if (cachedIndex) return cachedIndex;
  const messages = new Map<string, MessageType>();
  const add = (fullName: string, descriptor: MessageDescriptor) => {
    const fields = new Map<string, FieldDescriptor>();
    for (const field of descriptor.field) {
      fields.set(field.name, field);
      fields.set(field.jsonName || lowerCamel(field.name), field);
    }
    messages.set(fullName, { fullName, descriptor, fields, targets: new Map() });
    for (const nested of descriptor.nestedType) add(`${fullName}.${nested.name}`, nested);
  };
  for (const [name, definition] of Object.entries(loadPackageDefinition())) {
    const format = (definition as { format?: string }).format;
    const type = (definition as { type?: unknown }).type;
    if (format?.endsWith(" DescriptorProto")) add(name, type as MessageDescriptor);
  }
  cachedIndex = { messages };
  return cachedIndex;
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** Reads `json` as message `typeName` (fully qualified, e.g. envoy.service.auth.v3.CheckRequest). */
export function fromProtoJson(typeName: string, json: unknown): Record<string, unknown> {
  const type = index().messages.get(typeName);
  if (!type) throw new ProtoJsonError(`unknown message type ${typeName}`);
  return readMessage(type, json, "");
}

function readMessage(type: MessageType, json: unknown, path: string): Record<string, unknown> {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ProtoJsonError(`${path || "message"}: expected an object for ${type.fullName}`);
  }
  const result: Record<string, unknown> = {};
  // for…in, not Object.entries: no array of pairs per message (a replay reads millions of them).
  for (const key in json) {
    if (!Object.hasOwn(json, key)) continue;
    const value = (json as Record<string, unknown>)[key];
    const field = type.fields.get(key);
    if (!field) throw new ProtoJsonError(`${join(path, key)}: unknown field of ${type.fullName}`);
    if (value === null && field.typeName !== "google.protobuf.Value") continue; // null means "not set"
    result[field.name] = readField(type, field, value, join(path, key));
  }
  return result;
}

function readField(owner: MessageType, field: FieldDescriptor, value: unknown, path: string): unknown {
  const target = field.type === "TYPE_MESSAGE" ? fieldTarget(owner, field) : undefined;
  if (target?.descriptor.options?.mapEntry) return readMap(target, value, path);
  if (field.label === "LABEL_REPEATED") {
    if (!Array.isArray(value)) throw new ProtoJsonError(`${path}: expected an array`);
    return value.map((item, i) => readSingle(field, target, item, `${path}[${i}]`));
  }
  return readSingle(field, target, value, path);
}

function readMap(entry: MessageType, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ProtoJsonError(`${path}: expected an object (map)`);
  const valueField = entry.fields.get("value")!;
  const result: Record<string, unknown> = {};
  for (const key in value) {
    if (Object.hasOwn(value, key)) result[key] = readField(entry, valueField, (value as Record<string, unknown>)[key], join(path, key));
  }
  return result;
}

function readSingle(field: FieldDescriptor, target: MessageType | undefined, value: unknown, path: string): unknown {
  if (target) return readWellKnown(target.fullName, value, path) ?? readMessage(target, value, path);
  if (field.type === "TYPE_ENUM") return readEnum(value, path);
  return readScalar(field.type, value, path);
}

/**
 * Resolves a type reference the way protoc does: from the innermost enclosing scope outwards.
 * The loader's descriptors keep references relative to the referring message's package.
 */
function fieldTarget(owner: MessageType, field: FieldDescriptor): MessageType | undefined {
  if (!owner.targets.has(field.name)) {
    owner.targets.set(field.name, resolve(owner.fullName, field.typeName, (name) => index().messages.get(name)));
  }
  return owner.targets.get(field.name);
}

function resolve<T>(scope: string, reference: string, lookup: (name: string) => T | undefined): T | undefined {
  if (reference.startsWith(".")) return lookup(reference.slice(1));
  const parts = scope.split(".");
  for (let depth = parts.length; depth >= 0; depth--) {
    const found = lookup([...parts.slice(0, depth), reference].join("."));
    if (found !== undefined) return found;
  }
  return undefined;
}

function readEnum(value: unknown, path: string): string | number {
  // The encoder checks names against the enum; numbers pass through as proto3 allows.
  if (typeof value === "string" || (typeof value === "number" && Number.isInteger(value))) return value;
  throw new ProtoJsonError(`${path}: expected an enum name or number`);
}

/** The JSON forms the proto3 mapping gives well-known types, or undefined for any other type. */
function readWellKnown(typeName: string, value: unknown, path: string): unknown {
  switch (typeName) {
    case "google.protobuf.Timestamp":
      return readTimestamp(value, path);
    case "google.protobuf.Duration":
      return readDuration(value, path);
    case "google.protobuf.Struct":
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ProtoJsonError(`${path}: expected an object (Struct)`);
      return toStruct(value as Record<string, unknown>);
    case "google.protobuf.Value":
      return toValue(value);
    case "google.protobuf.ListValue":
      if (!Array.isArray(value)) throw new ProtoJsonError(`${path}: expected an array (ListValue)`);
      return toValue(value)?.listValue;
    case "google.protobuf.Any":
      throw new ProtoJsonError(`${path}: google.protobuf.Any is not supported in traffic files`);
    default:
      return typeName.startsWith("google.protobuf.") && typeName.endsWith("Value") ? { value: readWrapper(typeName, value, path) } : undefined;
  }
}

const WRAPPED_SCALAR: Record<string, string> = {
  "google.protobuf.DoubleValue": "TYPE_DOUBLE",
  "google.protobuf.FloatValue": "TYPE_FLOAT",
  "google.protobuf.Int64Value": "TYPE_INT64",
  "google.protobuf.UInt64Value": "TYPE_UINT64",
  "google.protobuf.Int32Value": "TYPE_INT32",
  "google.protobuf.UInt32Value": "TYPE_UINT32",
  "google.protobuf.BoolValue": "TYPE_BOOL",
  "google.protobuf.StringValue": "TYPE_STRING",
  "google.protobuf.BytesValue": "TYPE_BYTES",
};

function readWrapper(typeName: string, value: unknown, path: string): unknown {
  const scalar = WRAPPED_SCALAR[typeName];
  if (!scalar) throw new ProtoJsonError(`${path}: unsupported well-known type ${typeName}`);
  return readScalar(scalar, value, path);
}

/** RFC 3339 with a Z or an offset; proto3 JSON writes Z and 0, 3, 6 or 9 fraction digits. */
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

function readTimestamp(value: unknown, path: string): { seconds: number; nanos: number } {
  const match = typeof value === "string" ? TIMESTAMP.exec(value) : null;
  const wholeMs = match ? Date.parse(`${match[1]}${match[3]}`) : NaN;
  if (!match || !Number.isFinite(wholeMs)) throw new ProtoJsonError(`${path}: expected an RFC 3339 timestamp`);
  return { seconds: Math.floor(wholeMs / 1000), nanos: Number((match[2] ?? "").padEnd(9, "0")) };
}

function readDuration(value: unknown, path: string): { seconds: number; nanos: number } {
  const match = typeof value === "string" ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (!match) throw new ProtoJsonError(`${path}: expected a duration such as "1.5s"`);
  const sign = match[1] ? -1 : 1;
  return { seconds: sign * Number(match[2]), nanos: sign * Number((match[3] ?? "").padEnd(9, "0")) };
}

function readScalar(type: string, value: unknown, path: string): unknown {
  switch (type) {
    case "TYPE_STRING":
      if (typeof value === "string") return value;
      break;
    case "TYPE_BOOL":
      if (typeof value === "boolean") return value;
      break;
    case "TYPE_BYTES":
      if (typeof value === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return Buffer.from(value, "base64");
      break;
    case "TYPE_DOUBLE":
    case "TYPE_FLOAT":
      return readNumber(value, path, false);
    default:
      return readNumber(value, path, true);
  }
  throw new ProtoJsonError(`${path}: expected ${type.slice(5).toLowerCase()}`);
}

/** Integers may be numbers or decimal strings (64-bit ones are strings in canonical JSON). */
function readNumber(value: unknown, path: string, integer: boolean): number {
  if (!integer && (value === "NaN" || value === "Infinity" || value === "-Infinity")) return Number(value);
  const number = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  if (!Number.isFinite(number) || (integer && !Number.isInteger(number))) {
    throw new ProtoJsonError(`${path}: expected ${integer ? "an integer" : "a number"}`);
  }
  return number;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
