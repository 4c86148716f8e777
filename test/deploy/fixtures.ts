/**
 * What the deployment tests share: where things are, the chart rendered as the README installs
 * it (release "palisade" in namespace "palisade"), and Kubernetes schema validation.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { findProtoDir } from "../../src/transport/grpc/protos.js";
import { renderChart, type RenderedChart } from "./helm-subset.js";

export const REPO = path.dirname(findProtoDir());
export const CHART_DIR = path.join(REPO, "charts", "palisade");

/** The release the README installs: `helm install palisade charts/palisade -n palisade`. */
export const RELEASE = { releaseName: "palisade", namespace: "palisade" } as const;

export type K8sObject = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; [key: string]: any } };

export function readRepoFile(relative: string): string {
  return fs.readFileSync(path.join(REPO, relative), "utf8");
}

export function readYaml<T = any>(relative: string): T {
  return parseYaml(readRepoFile(relative)) as T;
}

export function readYamlDocuments(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

export function render(values: Record<string, unknown> = {}): Omit<RenderedChart, "objects"> & { objects: K8sObject[] } {
  return renderChart(CHART_DIR, { ...RELEASE, values }) as Omit<RenderedChart, "objects"> & { objects: K8sObject[] };
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes schemas
// ---------------------------------------------------------------------------------------------

const require = createRequire(import.meta.url);

/**
 * The kubernetes-models module of an apiVersion/kind. The models are generated from the
 * Kubernetes OpenAPI schemas (and from the CRDs for Prometheus Operator and Istio). Istio's
 * telemetry.istio.io/v1 has the same schema as the v1alpha1 that @kubernetes-models/istio 2.x
 * carries, so v1 is checked against it.
 */
function modelPath(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  if (group!.endsWith("istio.io")) {
    const istioVersion = group === "telemetry.istio.io" && version === "v1" ? "v1alpha1" : version;
    return `@kubernetes-models/istio/${group}/${istioVersion}/${kind}`;
  }
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

/** Validates an object against its kind's schema; returns the problems (empty when valid). */
export function schemaProblems(object: K8sObject): string[] {
  let module: Record<string, new (data: unknown) => { validate(): void }>;
  try {
    module = require(modelPath(object.apiVersion, object.kind)) as typeof module;
  } catch {
    return [`no schema for ${object.apiVersion} ${object.kind}`];
  }
  const Model = module[object.kind];
  if (!Model) return [`no model ${object.kind} in ${modelPath(object.apiVersion, object.kind)}`];
  // The v1alpha1 model insists on its own apiVersion.
  const data = object.apiVersion === "telemetry.istio.io/v1" ? { ...object, apiVersion: "telemetry.istio.io/v1alpha1" } : object;
  try {
    new Model(data).validate();
    return [];
  } catch (error) {
    return [`${object.kind}/${object.metadata.name}: ${(error as Error).message}`];
  }
}
