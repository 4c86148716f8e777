/**
 * Writes docs/policy-reference.md from schema/policy.schema.json (itself generated from the zod
 * policy schema by `npm run schema`): one row per field, with its type, default, bounds and the
 * schema's description (`npm run policy:reference`). test/policy/json-schema.test.ts fails when
 * the reference is not current. Written here because it is one table from one JSON Schema; a
 * general JSON-Schema-to-Markdown tool would bring its own layout and a dependency for it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

interface Schema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
}

interface Row {
  path: string;
  type: string;
  required: boolean;
  default: string;
  description: string;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
/** A regular expression as HTML code: entities keep its brackets from reading as a Markdown link. */
const htmlCode = (text: string) =>
  `<code>${text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/\[/g, "&#91;").replace(/\]/g, "&#93;").replace(/\|/g, "&#124;")}</code>`;
const code = (value: unknown) => (value === undefined ? "" : `\`${cell(JSON.stringify(value))}\``);

function typeOf(schema: Schema): string {
  if (schema.const !== undefined) return code(schema.const);
  if (schema.enum) return schema.enum.map((value) => code(value)).join(", ");
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(" or ");
  const type = Array.isArray(schema.type) ? schema.type.join(" or ") : (schema.type ?? "any");
  if (type === "array" && schema.items) return `list of ${typeOf(schema.items)}`;
  if (type === "object" && !schema.properties && typeof schema.additionalProperties === "object") return `map of ${typeOf(schema.additionalProperties)}`;
  return type;
}

function bounds(schema: Schema): string {
  const parts: string[] = [];
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) parts.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${schema.maximum}`);
  if (schema.exclusiveMaximum !== undefined) parts.push(`< ${schema.exclusiveMaximum}`);
  if (schema.minLength !== undefined && schema.minLength > 0) parts.push(`length ≥ ${schema.minLength}`);
  if (schema.maxLength !== undefined) parts.push(`length ≤ ${schema.maxLength}`);
  if (schema.minItems !== undefined && schema.minItems > 0) parts.push(`items ≥ ${schema.minItems}`);
  if (schema.maxItems !== undefined) parts.push(`items ≤ ${schema.maxItems}`);
  if (schema.pattern !== undefined) parts.push(`matches ${htmlCode(schema.pattern)}`);
  return parts.join(", ");
}

/** The object schemas a field may hold (itself, or those of its variants), for walking into. */
function objectsOf(schema: Schema): Schema[] {
  const variants = schema.anyOf ?? schema.oneOf ?? schema.allOf;
  if (variants) return variants.flatMap(objectsOf);
  if (schema.properties) return [schema];
  if (schema.items) return objectsOf(schema.items).map((item) => ({ ...item, properties: item.properties }));
  return [];
}

function walk(schema: Schema, prefix: string, rows: Row[]): void {
  const suffix = schema.items ? "[]" : "";
  for (const object of objectsOf(schema)) {
    const required = new Set(object.required ?? []);
    for (const [name, child] of Object.entries(object.properties ?? {})) {
      const path = `${prefix}${suffix}${prefix || suffix ? "." : ""}${name}`;
      if (rows.some((row) => row.path === path)) continue;
      const description = [child.description ?? "", bounds(child)].filter(Boolean).join("; ");
      rows.push({ path, type: typeOf(child), required: required.has(name), default: code(child.default), description });
      walk(child, path, rows);
    }
    if (typeof object.additionalProperties === "object") walk(object.additionalProperties, `${prefix}${suffix}.<name>`, rows);
  }
}

export function policyReference(): string {
  const schema = JSON.parse(readFileSync(`${ROOT}schema/policy.schema.json`, "utf8")) as Schema;
  const rows: Row[] = [];
  walk(schema, "", rows);
  const table = rows
    .map((row) => `| \`${row.path}\` | ${cell(row.type)} | ${row.required ? "yes" : ""} | ${row.default} | ${cell(row.description)} |`)
    .join("\n");
  return `# Policy reference

Every field of a policy document, generated from [\`schema/policy.schema.json\`](../schema/policy.schema.json)
(which \`npm run schema\` generates from the loader's own schema) by \`npm run policy:reference\`.
\`[]\` marks the items of a list, \`<name>\` a key you choose. How the parts work together:
[policy.md](policy.md).

| field | type | required | default | meaning |
|---|---|---|---|---|
${table}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(`${ROOT}docs/policy-reference.md`, policyReference());
  process.stdout.write("wrote docs/policy-reference.md\n");
}
