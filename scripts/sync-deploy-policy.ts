/**
 * Copies examples/policy.yaml into the deployment defaults (`npm run deploy:sync`): the
 * `policy:` block of charts/palisade/values.yaml and k8s/base/policy.yaml. Helm reads values
 * only from the chart and kustomize only from below its directory, so both need a copy;
 * test/deploy fails when either has drifted from the example.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const file = (relative: string) => fileURLToPath(new URL(`../${relative}`, import.meta.url));
/** The example without its editor line, whose relative schema path differs in each copy. */
const policy = readFileSync(file("examples/policy.yaml"), "utf8").replace(/^# yaml-language-server:.*\n/, "");

const valuesPath = file("charts/palisade/values.yaml");
const values = readFileSync(valuesPath, "utf8");
const block = /^policy: \|\n(?:(?: {2}.*)?\n)*?(?=\S)/m;
if (!block.test(values)) throw new Error(`${valuesPath}: no "policy: |" block`);
const indented = policy.trimEnd().split("\n").map((line) => (line ? `  ${line}` : "")).join("\n");
writeFileSync(valuesPath, values.replace(block, `policy: |\n${indented}\n\n`));

writeFileSync(file("k8s/base/policy.yaml"), `# yaml-language-server: $schema=../../schema/policy.schema.json\n${policy}`);
process.stdout.write("wrote charts/palisade/values.yaml (policy) and k8s/base/policy.yaml\n");
