/**
 * Regenerates schema/policy.schema.json from the zod policy schema (`npm run schema`).
 * test/policy/json-schema.test.ts fails when the checked-in file has drifted from the schema.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderPolicyJsonSchema } from "../src/policy/json-schema.js";

const target = fileURLToPath(new URL("../schema/policy.schema.json", import.meta.url));
writeFileSync(target, renderPolicyJsonSchema());
process.stdout.write(`wrote ${target}\n`);
