/**
 * Copies the bundled examples into the deployment defaults (`npm run deploy:sync`):
 * examples/policy.yaml into the `policy:` block of charts/palisade/values.yaml and
 * k8s/base/policy.yaml, examples/ratelimit.yaml into `rateLimit.config` and
 * k8s/base/ratelimit.yaml. Helm reads values only from the chart and kustomize only from below
 * its directory, so both need a copy; test/deploy fails when one has drifted from the example.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const file = (relative: string) => fileURLToPath(new URL(`../${relative}`, import.meta.url));
/** An example without its editor line, whose relative schema path differs in each copy. */
const example = (name: string) => readFileSync(file(`examples/${name}`), "utf8").replace(/^# yaml-language-server:.*\n/, "");

/** Replaces the literal block `<indent><key>: |` of values.yaml with `text`, indented below it. */
function replaceBlock(values: string, key: string, indent: string, text: string): string {
  const block = new RegExp(`^${indent}${key}: \\|\\n(?:(?:${indent}  .*)?\\n)*?(?=${indent ? `\\s{0,${indent.length}}` : ""}\\S)`, "m");
  if (!block.test(values)) throw new Error(`charts/palisade/values.yaml: no "${key}: |" block`);
  const indented = text.trimEnd().split("\n").map((line) => (line ? `${indent}  ${line}` : "")).join("\n");
  // A function, not a string: a policy's patterns may hold "$'" and "$&", which a replacement string would expand.
  return values.replace(block, () => `${indent}${key}: |\n${indented}\n\n`);
}

const policy = example("policy.yaml");
const rateLimits = example("ratelimit.yaml");
const valuesPath = file("charts/palisade/values.yaml");
let values = readFileSync(valuesPath, "utf8");
values = replaceBlock(values, "policy", "", policy);
values = replaceBlock(values, "config", "  ", rateLimits);
writeFileSync(valuesPath, values);

writeFileSync(file("k8s/base/policy.yaml"), `# yaml-language-server: $schema=../../schema/policy.schema.json\n${policy}`);
writeFileSync(file("k8s/base/ratelimit.yaml"), rateLimits);
process.stdout.write("wrote charts/palisade/values.yaml (policy, rateLimit.config), k8s/base/policy.yaml and k8s/base/ratelimit.yaml\n");
