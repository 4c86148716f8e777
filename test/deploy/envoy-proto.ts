/**
 * Reads an Envoy YAML configuration the way Envoy does: proto3 JSON into
 * envoy.config.bootstrap.v3.Bootstrap from Envoy's own protos (vendored by @grpc/grpc-js-xds),
 * with unknown fields rejected, every typed_config Any resolved to its type, and the
 * protoc-gen-validate rules our configs can break (required messages and oneofs, min_len,
 * min_items, numeric bounds, defined enums) checked. Deprecated fields are errors too: Envoy
 * only warns, but an example should not teach them.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import protobuf from "protobufjs";
import { UPSTREAM_INCLUDE_DIRS } from "../contract/upstream.js";

const require = createRequire(import.meta.url);
// Envoy's protos import descriptor.proto for their annotations; protobufjs ships it as JSON.
protobuf.common(
  "descriptor",
  (require("protobufjs/google/protobuf/descriptor.json") as { nested: { google: { nested: { protobuf: { nested: protobuf.INamespace["nested"] } } } } })
    .nested.google.nested.protobuf.nested as Record<string, protobuf.AnyNestedObject>,
);

/** The bootstrap and every extension our examples name in a typed_config. */
export const ENVOY_PROTO_FILES = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/access_loggers/grpc/v3/als.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
];

let cachedRoot: protobuf.Root | undefined;

export function envoyRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    const found = UPSTREAM_INCLUDE_DIRS.map((dir) => path.join(dir, target)).find((file) => fs.existsSync(file));
    return found ?? target;
  };
  root.loadSync(ENVOY_PROTO_FILES, { keepCase: true });
  root.resolveAll();
  cachedRoot = root;
  return root;
}

/** One problem, at a JSON path such as static_resources.clusters[0].name. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export interface DecodedConfig {
  issues: ConfigIssue[];
  /** type URLs of every Any met, so a test can see which typed configs were resolved. */
  anyTypes: string[];
  /** The binary encoding, decoded again: what Envoy would hold. Undefined when issues were found. */
  message?: protobuf.Message;
}

const WRAPPERS = new Set(["DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"]);
const DURATION = /^(-?\d+)(?:\.(\d{1,9}))?s$/;
const INTEGER_TYPES = new Set(["int32", "uint32", "sint32", "fixed32", "sfixed32", "int64", "uint64", "sint64", "fixed64", "sfixed64"]);

/**
 * Decodes `json` as `typeName` (a fully-qualified message name). `partial` is for fragments
 * merged into a larger config (Istio EnvoyFilter MERGE patches, merged field by field at every
 * level): required fields may then be missing anywhere, so only names and types are checked.
 */
export function decodeEnvoyConfig(json: unknown, typeName = "envoy.config.bootstrap.v3.Bootstrap", options: { partial?: boolean } = {}): DecodedConfig {
  const root = envoyRoot();
  const issues: ConfigIssue[] = [];
  const anyTypes: string[] = [];

  const message = (type: protobuf.Type, value: unknown, at: string): Record<string, unknown> | undefined => {
    const full = type.fullName.replace(/^\./, "");
    if (full === "google.protobuf.Any") return any(value, at);
    if (full === "google.protobuf.Duration") return duration(value, at);
    if (full === "google.protobuf.Struct") return struct(value, at);
    if (full === "google.protobuf.Value") return structValue(value, at);
    if (full === "google.protobuf.Empty") return {};
    if (full.startsWith("google.protobuf.") && WRAPPERS.has(type.name)) {
      const inner = type.fields.value!;
      return { value: scalar(inner, value, at) };
    }
    if (!isObject(value)) {
      issues.push({ path: at, message: `expected an object for ${full}` });
      return undefined;
    }
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const field = type.fields[key] ?? type.fieldsArray.find((f) => jsonName(f.name) === key);
      const where = at ? `${at}.${key}` : key;
      if (!field) {
        issues.push({ path: where, message: `unknown field of ${full}` });
        continue;
      }
      if (field.options?.deprecated) issues.push({ path: where, message: `deprecated field of ${full}` });
      out[field.name] = fieldValue(field, item, where);
    }
    checkRules(type, out, at);
    return out;
  };

  const fieldValue = (field: protobuf.Field, value: unknown, at: string): unknown => {
    if (field instanceof protobuf.MapField) {
      if (!isObject(value)) return void issues.push({ path: at, message: "expected a map" });
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, single(field, v, `${at}.${k}`)]));
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return void issues.push({ path: at, message: "expected a list" });
      return value.map((item, i) => single(field, item, `${at}[${i}]`));
    }
    return single(field, value, at);
  };

  const single = (field: protobuf.Field, value: unknown, at: string): unknown => {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return message(resolved, value, at);
    if (resolved instanceof protobuf.Enum) {
      if (typeof value === "string" && value in resolved.values) return resolved.values[value];
      if (typeof value === "number" && Object.values(resolved.values).includes(value)) return value;
      issues.push({ path: at, message: `not a value of enum ${resolved.name}: ${JSON.stringify(value)}` });
      return undefined;
    }
    return scalar(field, value, at);
  };

  const scalar = (field: protobuf.Field, value: unknown, at: string): unknown => {
    const type = field.type;
    const fail = (what: string) => void issues.push({ path: at, message: `expected ${what} (${type}), got ${JSON.stringify(value)}` });
    if (type === "string") return typeof value === "string" ? value : fail("a string");
    if (type === "bool") return typeof value === "boolean" ? value : fail("a boolean");
    if (type === "bytes") return typeof value === "string" ? Buffer.from(value, "base64") : fail("base64 bytes");
    if (type === "double" || type === "float") return typeof value === "number" ? value : fail("a number");
    if (INTEGER_TYPES.has(type)) {
      const number = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof number !== "number" || !Number.isInteger(number)) return fail("an integer");
      if (type.startsWith("u") && number < 0) return fail("a non-negative integer");
      return number;
    }
    return fail("a known scalar");
  };

  const any = (value: unknown, at: string): Record<string, unknown> | undefined => {
    if (!isObject(value) || typeof value["@type"] !== "string") {
      issues.push({ path: at, message: 'an Any needs "@type"' });
      return undefined;
    }
    const url = value["@type"];
    anyTypes.push(url);
    const name = url.slice(url.lastIndexOf("/") + 1);
    let type: protobuf.Type;
    try {
      type = root.lookupType(name);
    } catch {
      issues.push({ path: at, message: `type ${name} is not among the loaded Envoy protos` });
      return undefined;
    }
    const { "@type": _ignored, ...rest } = value;
    const inner = message(type, rest, at);
    if (!inner) return undefined;
    return { type_url: url, value: type.encode(type.fromObject(inner)).finish() };
  };

  const duration = (value: unknown, at: string) => {
    const match = typeof value === "string" ? DURATION.exec(value) : null;
    if (!match) {
      issues.push({ path: at, message: `expected a duration such as "0.25s", got ${JSON.stringify(value)}` });
      return undefined;
    }
    return { seconds: Number(match[1]), nanos: Number((match[2] ?? "").padEnd(9, "0")) };
  };

  const struct = (value: unknown, at: string) => {
    if (!isObject(value)) return void issues.push({ path: at, message: "expected an object (Struct)" });
    return { fields: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structValue(v, `${at}.${k}`)])) };
  };

  // protobufjs' bundled struct.proto names Value's fields in camelCase.
  const structValue = (value: unknown, at: string): Record<string, unknown> => {
    if (value === null) return { nullValue: 0 };
    if (typeof value === "number") return { numberValue: value };
    if (typeof value === "string") return { stringValue: value };
    if (typeof value === "boolean") return { boolValue: value };
    if (Array.isArray(value)) return { listValue: { values: value.map((v, i) => structValue(v, `${at}[${i}]`)) } };
    return { structValue: struct(value, at) };
  };

  /** protoc-gen-validate rules, as far as they apply to what a config file can get wrong. */
  const checkRules = (type: protobuf.Type, out: Record<string, unknown>, at: string) => {
    const here = (name: string) => (at ? `${at}.${name}` : name);
    if (options.partial) return;
    for (const field of type.fieldsArray) {
      const options = field.options ?? {};
      const set = out[field.name];
      // A oneof member's rules apply only when it is the member set; other fields are checked
      // with their proto3 default when absent, as Envoy does.
      if (field.partOf && set === undefined) continue;
      if ((options["(validate.rules).message.required"] || options["(validate.rules).duration.required"]) && set === undefined) {
        issues.push({ path: here(field.name), message: `required by ${type.name}` });
      }
      const minLen = options["(validate.rules).string.min_len"] as number | undefined;
      const text = (set ?? "") as string;
      if (minLen !== undefined && text.length < minLen && !(text === "" && options["(validate.rules).string.ignore_empty"])) {
        issues.push({ path: here(field.name), message: `must be at least ${minLen} characters` });
      }
      const minItems = options["(validate.rules).repeated.min_items"] as number | undefined;
      if (minItems !== undefined && ((set ?? []) as unknown[]).length < minItems) {
        issues.push({ path: here(field.name), message: `needs at least ${minItems} items` });
      }
      if (!field.repeated && (set === undefined || typeof set === "number")) {
        const value = (set ?? 0) as number;
        for (const [rule, ok] of [
          ["gt", (n: number, bound: number) => n > bound],
          ["gte", (n: number, bound: number) => n >= bound],
          ["lte", (n: number, bound: number) => n <= bound],
          ["lt", (n: number, bound: number) => n < bound],
        ] as const) {
          const bound = options[`(validate.rules).${field.type}.${rule}`] as number | undefined;
          if (bound !== undefined && !ok(value, bound)) issues.push({ path: here(field.name), message: `must be ${rule} ${bound}` });
        }
      }
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.oneof.filter((name) => out[name] !== undefined);
      if (set.length > 1) issues.push({ path: at, message: `only one of ${oneof.oneof.join(", ")} may be set` });
      if (set.length === 0 && oneof.options?.["(validate.required)"]) {
        issues.push({ path: at, message: `one of ${oneof.oneof.join(", ")} is required` });
      }
    }
  };

  const rootType = root.lookupType(typeName);
  const plain = message(rootType, json, "");
  if (issues.length > 0 || !plain) return { issues, anyTypes };
  const bytes = rootType.encode(rootType.fromObject(plain)).finish();
  return { issues, anyTypes, message: rootType.decode(bytes) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Decodes an Any from the message tree with its own type, for assertions on typed configs. */
export function unpackAny(any: { type_url: string; value: Uint8Array }): Record<string, unknown> {
  const type = envoyRoot().lookupType(any.type_url.slice(any.type_url.lastIndexOf("/") + 1));
  return type.toObject(type.decode(any.value), { enums: String, longs: Number, defaults: false }) as Record<string, unknown>;
}
