/**
 * google.protobuf.Struct helpers. protobufjs bundles its own struct.proto with camelCase Value
 * fields, whatever keepCase says; these tests pin the helpers to what the serializer keeps.
 */
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { findProtoDir, fromStruct, fromValue, toStruct, type Struct } from "../../src/transport/grpc/protos.js";
import { codecs, readWire, wireMessage, wireStruct } from "./upstream.js";

const check = codecs("envoy.service.auth.v3.Authorization", "Check");

/** Encodes a Struct as CheckResponse.dynamic_metadata with our serializer; decodes with Envoy's. */
function throughEnvoy(struct: Struct): Struct {
  return check.upstream.response.decode(check.ours.response.encode({ dynamic_metadata: struct })).dynamic_metadata as Struct;
}

describe("toStruct / fromStruct", () => {
  const sample = {
    text: "a",
    number: -1.5,
    yes: true,
    no: false,
    nothing: null,
    list: [1, "two", [3], { four: 4 }],
    nested: { deeper: { deepest: "x" } },
  };

  it("survive the wire in both readers", () => {
    const bytes = check.ours.response.encode({ dynamic_metadata: toStruct(sample) });
    expect(fromStruct(throughEnvoy(toStruct(sample)))).toEqual(sample);
    expect(wireStruct(wireMessage(readWire(bytes), 4))).toEqual(sample);
  });

  it("leave out undefined and functions, and turn non-finite numbers into null", () => {
    const struct = toStruct({ gone: undefined, fn: () => 1, nan: Number.NaN, inf: Infinity, big: 10n, when: new Date(0) });
    expect(fromStruct(throughEnvoy(struct))).toEqual({ nan: null, inf: null, big: 10, when: "1970-01-01T00:00:00.000Z" });
  });

  it("read absent or malformed input as empty", () => {
    expect(fromStruct(undefined)).toEqual({});
    expect(fromStruct(null)).toEqual({});
    expect(fromStruct({ fields: "nope" as never })).toEqual({});
    expect(fromValue(undefined)).toBeNull();
    expect(fromValue({})).toBeNull();
  });
});

describe("findProtoDir", () => {
  it("walks up from a nested directory such as dist/src/transport/grpc", () => {
    const root = path.dirname(findProtoDir());
    expect(findProtoDir(path.join(root, "dist", "src", "transport", "grpc"))).toBe(path.join(root, "proto"));
  });

  it("fails clearly when there is no proto directory", () => {
    expect(() => findProtoDir(os.tmpdir())).toThrow(/proto directory not found/);
  });
});
