import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { POLICY_SCHEMA_ID, renderPolicyJsonSchema } from "../../src/policy/json-schema.js";
import { policyReference } from "../../scripts/write-policy-reference.js";

const checkedIn = fileURLToPath(new URL("../../schema/policy.schema.json", import.meta.url));

describe("schema/policy.schema.json", () => {
  it("docs/policy-reference.md is generated from it and current (npm run policy:reference)", () => {
    const reference = readFileSync(fileURLToPath(new URL("../../docs/policy-reference.md", import.meta.url)), "utf8");
    expect(reference, "docs/policy-reference.md is out of date: run `npm run policy:reference`").toBe(policyReference());
    for (const field of ["spec.endpoints[].match.path", "spec.rules[].action", "metadata.version"]) expect(reference).toContain(`| \`${field}\` |`);
  });

  it("matches the zod policy schema", () => {
    const fresh = renderPolicyJsonSchema();
    const onDisk = readFileSync(checkedIn, "utf8");
    expect(onDisk, "schema/policy.schema.json is out of date with src/policy/schema.ts: run `npm run schema`").toBe(fresh);
  });

  it("describes the input side: fields with defaults are optional, unknown keys are not allowed", () => {
    const schema = JSON.parse(renderPolicyJsonSchema()) as {
      $id: string;
      required: string[];
      properties: { spec: { required?: string[]; additionalProperties: boolean } };
    };
    expect(schema.$id).toBe(POLICY_SCHEMA_ID);
    expect(schema.required).toEqual(["apiVersion", "kind", "metadata", "spec"]);
    expect(schema.properties.spec.required ?? []).toEqual([]);
    expect(schema.properties.spec.additionalProperties).toBe(false);
  });
});
