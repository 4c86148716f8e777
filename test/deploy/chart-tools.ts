/**
 * The real tools the chart is checked with: helm (render, lint) and kubernetes-validate (the
 * Kubernetes JSON schemas, strict: unknown fields are errors). `bash scripts/install-chart-tools.sh`
 * installs both at pinned versions and prints the PATH entries to add; .ci/run does that. Without
 * them the chart tests are skipped with a message, except in CI (CI=true), where they fail.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "vitest";

const INSTALL_HINT = "bash scripts/install-chart-tools.sh (it prints the PATH entries to add); kubectl: apt-get install kubernetes-client";

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const HELM = onPath("helm");
const KUBERNETES_VALIDATE = onPath("kubernetes-validate");
const IN_CI = process.env.CI === "true" || process.env.CI === "1";

/**
 * A describe block that needs helm and kubernetes-validate (and `also`, e.g. kubectl): skipped
 * with a message where one is missing, run (and so failing, with the install hint) in CI.
 */
export function describeWithChartTools(name: string, body: () => void, also: string[] = []): void {
  const missing = ["helm", "kubernetes-validate", ...also].filter((tool) => !onPath(tool));
  if (missing.length > 0 && !IN_CI) {
    process.stderr.write(`${name}: skipped, ${missing.join(" and ")} not on PATH: ${INSTALL_HINT}\n`);
    // The body is not run: it would call the missing tools while the tests are collected.
    describe.skip(name, () => it(`needs ${missing.join(" and ")}`, () => {}));
    return;
  }
  // Each test runs helm or kubernetes-validate (a Python process loading a schema set) a few
  // times: on a loaded two-core machine that takes longer than the suite's default budget.
  describe(name, { timeout: 180_000 }, body);
}

function tool(pathOrUndefined: string | undefined, name: string): string {
  if (!pathOrUndefined) throw new Error(`${name} is not on PATH: ${INSTALL_HINT}`);
  return pathOrUndefined;
}

let scratch: string | undefined;
/** A private temporary directory for values and manifests, removed when the process exits. */
function scratchDir(): string {
  if (!scratch) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-chart-"));
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  return scratch;
}

let files = 0;
function writeScratch(name: string, text: string): string {
  const file = path.join(scratchDir(), `${files++}-${name}`);
  fs.writeFileSync(file, text);
  return file;
}

/** A failed `helm` run: its standard error says why (a template guard's `fail` message, say). */
export class HelmFailure extends Error {}

function helm(args: string[]): string {
  const result = spawnSync(tool(HELM, "helm"), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new HelmFailure(`helm ${args[0]}: ${result.stderr.trim()}`);
  return result.stdout;
}

export interface Release {
  releaseName: string;
  namespace: string;
}

/** The oldest and the newest Kubernetes release the chart is checked against (Chart.yaml's kubeVersion is the oldest). */
export const KUBERNETES_VERSIONS = ["1.25.0", "1.37.0"] as const;
/**
 * Renders run as for the oldest supported release: a go-installed helm assumes Kubernetes 1.20
 * when no cluster tells it otherwise.
 */
const KUBE_VERSION = ["--kube-version", KUBERNETES_VERSIONS[0]];

const NOTES_MARKER = "palisade-test-notes";
const chartCopies = new Map<string, string>();

/**
 * `helm template` renders NOTES.txt but prints only manifests, and `helm install --dry-run`
 * wants a cluster. So the tests render a copy of the chart in which NOTES.txt also becomes the
 * body of a named template, emitted as one extra ConfigMap that render() takes back out.
 */
function chartWithNotes(chartDir: string): string {
  let copy = chartCopies.get(chartDir);
  if (!copy) {
    copy = path.join(scratchDir(), `chart-${chartCopies.size}`);
    fs.cpSync(chartDir, copy, { recursive: true });
    const notes = fs.readFileSync(path.join(chartDir, "templates", "NOTES.txt"), "utf8");
    fs.writeFileSync(path.join(copy, "templates", `_${NOTES_MARKER}.tpl`), `{{- define "${NOTES_MARKER}" -}}\n${notes}\n{{- end }}\n`);
    fs.writeFileSync(
      path.join(copy, "templates", `${NOTES_MARKER}.yaml`),
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${NOTES_MARKER}\ndata:\n  notes: |\n    {{- include "${NOTES_MARKER}" . | nindent 4 }}\n`,
    );
    chartCopies.set(chartDir, copy);
  }
  return copy;
}

/**
 * The manifests and NOTES of installing `chartDir` with `values` over its defaults, as `helm
 * template` renders them (no cluster); NOTES as one extra document that `splitNotes` removes.
 */
export function helmTemplate(chartDir: string, release: Release, values: Record<string, unknown>): string {
  const valuesFile = writeScratch("values.json", JSON.stringify(values));
  return helm(["template", release.releaseName, chartWithNotes(chartDir), "--namespace", release.namespace, ...KUBE_VERSION, "--values", valuesFile]);
}

/** Separates the NOTES document helmTemplate adds from the chart's own objects. */
export function splitNotes<T extends { kind: string; metadata: { name: string }; data?: Record<string, string> }>(objects: T[]): { objects: T[]; notes: string } {
  const notes = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === NOTES_MARKER);
  return { objects: objects.filter((o) => o !== notes), notes: notes?.data?.notes ?? "" };
}

/** `helm lint --strict` with `values` over the chart's defaults; the problems it reports. */
export function helmLint(chartDir: string, values: Record<string, unknown>): string[] {
  const valuesFile = writeScratch("values.json", JSON.stringify(values));
  const result = spawnSync(tool(HELM, "helm"), ["lint", "--strict", chartDir, ...KUBE_VERSION, "--values", valuesFile], { encoding: "utf8" });
  if (result.error) throw result.error;
  const problems = result.stdout.split("\n").filter((line) => /^\[(ERROR|WARNING)\]/.test(line));
  if (result.status !== 0 && problems.length === 0) problems.push(result.stderr.trim() || result.stdout.trim());
  return problems;
}

/**
 * Strict validation of built-in Kubernetes objects (YAML documents) against the JSON schemas of
 * each Kubernetes release in `versions`; the errors, one per object and release. Kinds without
 * a built-in schema (CRDs) are the caller's to check.
 */
export function kubernetesSchemaProblems(documents: { name: string; yaml: string }[], versions: readonly string[] = KUBERNETES_VERSIONS): string[] {
  if (documents.length === 0) return [];
  const fileNames = new Map<string, string>();
  for (const document of documents) fileNames.set(writeScratch("object.yaml", document.yaml), document.name);
  const problems: string[] = [];
  for (const version of versions) {
    const result = spawnSync(tool(KUBERNETES_VALIDATE, "kubernetes-validate"), ["--strict", "--quiet", "--kubernetes-version", version, ...fileNames.keys()], { encoding: "utf8" });
    if (result.error) throw result.error;
    const lines = `${result.stdout}\n${result.stderr}`.split("\n").filter((line) => /^(ERROR|WARN)\b/.test(line));
    for (const line of lines) {
      const file = [...fileNames.keys()].find((name) => line.includes(name));
      problems.push(file ? line.replace(file, fileNames.get(file)!) : line);
    }
    if (result.status !== 0 && lines.length === 0) problems.push(`kubernetes-validate ${version}: exit ${result.status}: ${result.stderr.trim()}`);
  }
  return problems;
}

/** Versions of the tools, for the report of a test run. */
export function chartToolVersions(): string {
  return [
    execFileSync(tool(HELM, "helm"), ["version", "--short"], { encoding: "utf8" }).trim(),
    execFileSync(tool(KUBERNETES_VALIDATE, "kubernetes-validate"), ["--version"], { encoding: "utf8" }).trim(),
  ].join(", ");
}
