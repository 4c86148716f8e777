/**
 * Writes charts/palisade/README.md from the chart's Chart.yaml and the comments of its
 * values.yaml (`npm run chart:readme`); test/deploy fails when the README is not current.
 * Written here rather than with helm-docs: a Go tool installed for one table, and this keeps the
 * check inside `npm test`. Each key's description is the `# --` comment above it (helm-docs'
 * convention); keys without one inherit nothing and show only their default.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isMap, isScalar, parse as parseYaml, parseDocument, type Node, type Pair } from "yaml";

const CHART = fileURLToPath(new URL("../charts/palisade/", import.meta.url));

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

/** The `# --` comment above a key, as one line of Markdown. */
function description(comment: string | null | undefined): string {
  if (!comment) return "";
  const text = comment.split("\n").map((line) => line.trim());
  const start = text.findIndex((line) => line.startsWith("--"));
  if (start < 0) return "";
  return text
    .slice(start)
    .map((line) => line.replace(/^--\s?/, ""))
    .join(" ")
    .replace(/\|/g, "\\|")
    .trim();
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return "list";
  if (value === null) return "null";
  if (typeof value === "object") return "object";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  return typeof value;
}

function defaultOf(value: unknown): string {
  if (typeof value === "string" && value.includes("\n")) return "(a YAML document, see values.yaml)";
  return `\`${JSON.stringify(value)}\``;
}

/** One row per key that has a description or holds no map of its own. */
function rows(node: Node | null, prefix: string, out: Row[]): Row[] {
  if (!isMap(node)) return out;
  for (const [index, pair] of (node.items as Pair<Node, Node>[]).entries()) {
    const key = `${prefix}${isScalar(pair.key) ? String(pair.key.value) : "?"}`;
    const value = pair.value;
    // The parser gives the comment above a map's first key to the map itself.
    const text = description(pair.key?.commentBefore ?? (index === 0 ? node.commentBefore : null));
    const plain = value ? (value.toJSON() as unknown) : null;
    const nested = isMap(value) && value.items.length > 0;
    if (!nested || text) out.push({ key, type: typeOf(plain), default: nested ? "" : defaultOf(plain), description: text });
    if (nested) rows(value, `${key}.`, out);
  }
  return out;
}

export function chartReadme(): string {
  const chart = parseYaml(readFileSync(`${CHART}Chart.yaml`, "utf8")) as { name: string; version: string; appVersion: string; description: string; kubeVersion: string };
  const document = parseDocument(readFileSync(`${CHART}values.yaml`, "utf8"));
  const table = rows(document.contents, "", [])
    .map((row) => `| \`${row.key}\` | ${row.type} | ${row.default} | ${row.description} |`)
    .join("\n");
  return `# ${chart.name}

${chart.description}

Chart ${chart.version}, Palisade ${chart.appVersion}, Kubernetes ${chart.kubeVersion.replace(/-0$/, "")}.
How to install, operate and upgrade it: [docs/deployment.md](../../docs/deployment.md).

\`\`\`sh
kubectl create namespace palisade
kubectl -n palisade create secret generic palisade-pseudonym-key --from-literal=key="$(openssl rand -base64 48)"
helm install palisade charts/palisade -n palisade --set image.repository=registry.example.com/palisade \\
  --set secrets.adminTokens.create=true
# The analyst API's admin token that secrets.adminTokens.create made (NOTES print this too):
kubectl -n palisade get secret palisade-admin-tokens -o jsonpath='{.data.tokens}' | base64 -d
\`\`\`

To bring your own tokens instead (YAML \`tokens: [{name, role, token}]\`, tokens of 24 or more
characters), create the Secret and name it:
\`kubectl -n palisade create secret generic my-admin-tokens --from-file=tokens=./tokens.yaml\`, then
\`--set secrets.adminTokens.name=my-admin-tokens\` instead of \`create=true\`.

The values combinations the tests render, lint and validate are in [ci/](ci).

## Values

Generated from the comments of [values.yaml](values.yaml) by \`npm run chart:readme\`.

| Key | Type | Default | Description |
|---|---|---|---|
${table}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(`${CHART}README.md`, chartReadme());
  process.stdout.write("wrote charts/palisade/README.md\n");
}
