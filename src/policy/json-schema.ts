import { z } from "zod";
import { policySchema } from "./schema.js";

/** Where editors and `# yaml-language-server: $schema=` lines can name the schema. */
export const POLICY_SCHEMA_ID = "https://palisade.dev/schema/policy-v1alpha1.schema.json";

/**
 * The JSON Schema of a policy document, generated from the zod schema so the two cannot
 * disagree. The input side (`io: "input"`): fields with defaults are optional, as operators
 * write them. Draft-07 because it is what YAML editors (yaml-language-server, IntelliJ) and
 * Kubernetes tooling support most widely. Refinements (durations, CIDRs, CEL) are not
 * expressible here; the loader still checks them.
 */
export function policyJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(policySchema, { io: "input", target: "draft-07", unrepresentable: "throw" });
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: POLICY_SCHEMA_ID,
    title: "Palisade Policy",
    description: "A Palisade policy document (apiVersion palisade.dev/v1alpha1, kind Policy), as mounted from a ConfigMap.",
    ...rest,
  };
}

/** The checked-in file's exact text: two-space JSON with a final newline. */
export function renderPolicyJsonSchema(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}
