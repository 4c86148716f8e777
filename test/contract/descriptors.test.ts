/**
 * Structural contract: every message, field and enum value in our protos exists upstream with
 * the same number, type and cardinality. Omissions are fine (proto3 skips unknown fields);
 * a wrong number or type would silently corrupt the wire.
 */
import { describe, expect, it } from "vitest";
import { ours, upstream } from "./upstream.js";

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}

interface EnumDescriptor {
  name: string;
  value: { name: string; number: number }[];
}

interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  enumType: EnumDescriptor[];
}

/** A message or enum entry of a proto-loader PackageDefinition (services have no `format`). */
interface TypeDefinition {
  format?: unknown;
  type?: unknown;
}

/**
 * Fields Palisade keeps that the API snapshot vendored by @grpc/grpc-js-xds predates.
 * RateLimitDescriptor.hits_addend (google.protobuf.UInt64Value = 3) arrived in later Envoy
 * releases; Envoys built before it never send it. The WEEK unit (7) too, which envoyproxy/ratelimit
 * accepts in its configuration files and answers with.
 */
const NEWER_THAN_SNAPSHOT = new Set([
  "envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.hits_addend",
  "envoy.service.ratelimit.v3.RateLimitResponse.RateLimit.Unit.WEEK",
  "envoy.type.v3.RateLimitUnit.WEEK",
]);

/** Our own health proto has no upstream copy in node_modules; its wire form is tested apart. */
const NO_UPSTREAM_COPY = /^grpc\.health\.v1\./;

function lastSegment(typeName: string): string {
  return typeName.split(".").pop() ?? typeName;
}

function compareMessage(path: string, mine: MessageDescriptor, theirs: MessageDescriptor, problems: string[]): void {
  for (const field of mine.field) {
    const name = `${path}.${field.name}`;
    const match = theirs.field.find((candidate) => candidate.name === field.name);
    if (!match) {
      if (!NEWER_THAN_SNAPSHOT.has(name)) problems.push(`${name}: not upstream`);
      continue;
    }
    const shape = (f: FieldDescriptor) => `#${f.number} ${f.label} ${f.type} ${lastSegment(f.typeName)}`;
    if (shape(field) !== shape(match)) problems.push(`${name}: ours ${shape(field)}, upstream ${shape(match)}`);
  }
  for (const nested of mine.nestedType) {
    const match = theirs.nestedType.find((candidate) => candidate.name === nested.name);
    if (match) compareMessage(`${path}.${nested.name}`, nested, match, problems);
    else problems.push(`${path}.${nested.name}: message not upstream`);
  }
  for (const enumType of mine.enumType) {
    const match = theirs.enumType.find((candidate) => candidate.name === enumType.name);
    if (match) compareEnum(`${path}.${enumType.name}`, enumType, match, problems);
    else problems.push(`${path}.${enumType.name}: enum not upstream`);
  }
}

function compareEnum(path: string, mine: EnumDescriptor, theirs: EnumDescriptor, problems: string[]): void {
  for (const value of mine.value) {
    const match = theirs.value.find((candidate) => candidate.name === value.name);
    if (!match && NEWER_THAN_SNAPSHOT.has(`${path}.${value.name}`)) continue;
    if (match?.number !== value.number) problems.push(`${path}.${value.name}: ours ${value.number}, upstream ${match?.number}`);
  }
}

describe("our protos against Envoy's", () => {
  it("keep upstream numbers, types and labels for every field and enum value", () => {
    const problems: string[] = [];
    let compared = 0;
    for (const [name, entry] of Object.entries(ours()) as [string, TypeDefinition][]) {
      if (typeof entry.format !== "string" || name.startsWith("google.protobuf.")) continue;
      const theirs = upstream()[name] as TypeDefinition | undefined;
      if (typeof theirs?.format !== "string") {
        if (!NO_UPSTREAM_COPY.test(name)) problems.push(`${name}: not upstream`);
        continue;
      }
      compared++;
      if (entry.format.endsWith("EnumDescriptorProto")) {
        compareEnum(name, entry.type as EnumDescriptor, theirs.type as EnumDescriptor, problems);
      } else {
        compareMessage(name, entry.type as MessageDescriptor, theirs.type as MessageDescriptor, problems);
      }
    }
    expect(problems).toEqual([]);
    expect(compared).toBeGreaterThan(25);
  });
});
