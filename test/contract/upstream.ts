/**
 * Shared plumbing for the contract tests: Envoy's own protos (vendored by @grpc/grpc-js-xds),
 * our protos, the serializers grpc-js uses for each, and a minimal protobuf wire reader that
 * sees field numbers the way Envoy's C++ decoder does, independent of protobufjs naming.
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { findProtoDir, LOADER_OPTIONS, loadPackageDefinition } from "../../src/transport/grpc/protos.js";

const REPO_ROOT = path.dirname(findProtoDir());
const XDS_DEPS = path.join(REPO_ROOT, "node_modules", "@grpc", "grpc-js-xds", "deps");

export const UPSTREAM_INCLUDE_DIRS = ["envoy-api", "googleapis", "xds", "protoc-gen-validate"].map((dir) =>
  path.join(XDS_DEPS, dir),
);

const UPSTREAM_FILES = [
  "envoy/service/auth/v3/external_auth.proto",
  "envoy/service/ratelimit/v3/rls.proto",
  "envoy/service/accesslog/v3/als.proto",
];

let upstreamDefinition: protoLoader.PackageDefinition | undefined;
let ourDefinition: protoLoader.PackageDefinition | undefined;

/** Envoy's upstream protos, loaded with the same options as ours. */
export function upstream(): protoLoader.PackageDefinition {
  upstreamDefinition ??= protoLoader.loadSync(UPSTREAM_FILES, { ...LOADER_OPTIONS, includeDirs: UPSTREAM_INCLUDE_DIRS });
  return upstreamDefinition;
}

export function ours(): protoLoader.PackageDefinition {
  ourDefinition ??= loadPackageDefinition();
  return ourDefinition;
}

export function upstreamGrpc(): grpc.GrpcObject {
  return grpc.loadPackageDefinition(upstream());
}

/** The method definition grpc-js uses: its serializers are exactly what goes on the wire. */
export function method(definition: protoLoader.PackageDefinition, service: string, name: string): protoLoader.MethodDefinition<object, object> {
  const methods = definition[service] as protoLoader.ServiceDefinition | undefined;
  const found = methods?.[name];
  if (!found) throw new Error(`${service}/${name} not found`);
  return found as protoLoader.MethodDefinition<object, object>;
}

type Codec = { encode: (message: object) => Buffer; decode: (bytes: Buffer) => Record<string, unknown> };

/** Request and response codecs of one RPC, for our protos and for Envoy's. */
export function codecs(service: string, name: string): { ours: { request: Codec; response: Codec }; upstream: { request: Codec; response: Codec } } {
  const side = (definition: protoLoader.PackageDefinition) => {
    const rpc = method(definition, service, name);
    return {
      request: { encode: rpc.requestSerialize, decode: rpc.requestDeserialize as Codec["decode"] },
      response: { encode: rpc.responseSerialize, decode: rpc.responseDeserialize as Codec["decode"] },
    };
  };
  return { ours: side(ours()), upstream: side(upstream()) };
}

// ---------------------------------------------------------------------------------------------
// Wire reader
// ---------------------------------------------------------------------------------------------

export interface WireField {
  wireType: number;
  /** Varints and fixed-width integers. */
  int?: bigint;
  /** Length-delimited payloads (strings, bytes, sub-messages). */
  bytes?: Buffer;
}

/** Parses one message level into field number → occurrences. */
export function readWire(buffer: Buffer): Map<number, WireField[]> {
  const fields = new Map<number, WireField[]>();
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = buffer[offset++];
      if (byte === undefined) throw new Error("truncated varint");
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  };
  while (offset < buffer.length) {
    const tag = varint();
    const fieldNumber = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    const field = readValue(wireType);
    fields.set(fieldNumber, [...(fields.get(fieldNumber) ?? []), field]);
  }
  return fields;

  function readValue(wireType: number): WireField {
    switch (wireType) {
      case 0:
        return { wireType, int: varint() };
      case 1:
        offset += 8;
        return { wireType, int: buffer.readBigUInt64LE(offset - 8) };
      case 2: {
        const length = Number(varint());
        offset += length;
        return { wireType, bytes: buffer.subarray(offset - length, offset) };
      }
      case 5:
        offset += 4;
        return { wireType, int: BigInt(buffer.readUInt32LE(offset - 4)) };
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
  }
}

/** The single length-delimited field `number`, as a nested message. */
export function wireMessage(fields: Map<number, WireField[]>, number: number): Map<number, WireField[]> {
  const bytes = fields.get(number)?.[0]?.bytes;
  if (!bytes) throw new Error(`field ${number} is not a present length-delimited field`);
  return readWire(bytes);
}

/**
 * Reads a google.protobuf.Struct by field numbers only, as upstream struct.proto defines them:
 * Struct.fields = 1 (map entry key = 1, value = 2); Value: null_value = 1, number_value = 2,
 * string_value = 3, bool_value = 4, struct_value = 5, list_value = 6; ListValue.values = 1.
 */
export function wireStruct(fields: Map<number, WireField[]>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const entry of fields.get(1) ?? []) {
    const pair = readWire(entry.bytes ?? Buffer.alloc(0));
    const key = pair.get(1)?.[0]?.bytes?.toString("utf8") ?? "";
    result[key] = wireValue(readWire(pair.get(2)?.[0]?.bytes ?? Buffer.alloc(0)));
  }
  return result;
}

function wireValue(value: Map<number, WireField[]>): unknown {
  if (value.has(1)) return null;
  const number = value.get(2)?.[0]?.int;
  if (number !== undefined) {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64LE(number);
    return bytes.readDoubleLE();
  }
  if (value.has(3)) return value.get(3)?.[0]?.bytes?.toString("utf8");
  if (value.has(4)) return value.get(4)?.[0]?.int === 1n;
  if (value.has(5)) return wireStruct(wireMessage(value, 5));
  if (value.has(6)) return (wireMessage(value, 6).get(1) ?? []).map((item) => wireValue(readWire(item.bytes ?? Buffer.alloc(0))));
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Real grpc-js servers
// ---------------------------------------------------------------------------------------------

export interface RunningServer {
  address: string;
  stop(): Promise<void>;
}

/** Starts a plaintext grpc-js server on a free loopback port. */
export async function startServer(register: (server: grpc.Server) => void): Promise<RunningServer> {
  const server = new grpc.Server();
  register(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return {
    address: `127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
