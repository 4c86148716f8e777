/**
 * What the deployment tests share: where things are, the chart rendered by helm as the docs
 * install it (release "palisade" in namespace "palisade"), and Kubernetes schema validation:
 * built-in kinds against Kubernetes' JSON schemas (kubernetes-validate, strict), custom
 * resources against models generated from their CRDs (@kubernetes-models).
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from "yaml";
import type { DescriptorEntry } from "../../src/ratelimit/request.js";
import { findProtoDir } from "../../src/transport/grpc/protos.js";
import { helmTemplate, kubernetesSchemaProblems, splitNotes } from "./chart-tools.js";

export const REPO = path.dirname(findProtoDir());
export const CHART_DIR = path.join(REPO, "charts", "palisade");

/** The release the docs install: `helm install palisade charts/palisade -n palisade`. */
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

export interface RenderedChart {
  objects: K8sObject[];
  notes: string;
}

/** The chart rendered by helm with `values` over its defaults; throws HelmFailure when a guard fails. */
export function render(values: Record<string, unknown> = {}): RenderedChart {
  return splitNotes(readYamlDocuments(helmTemplate(CHART_DIR, RELEASE, values)));
}

/** The descriptor entry an Envoy rate-limit action produces for a typical request (envoyproxy/ratelimit's names). */
export function sampleEntry(action: Record<string, any>, risk: string): DescriptorEntry {
  if (action.remote_address) return { key: "remote_address", value: "192.0.2.1" };
  if (action.generic_key) return { key: action.generic_key.descriptor_key ?? "generic_key", value: action.generic_key.descriptor_value };
  if (action.metadata) return { key: action.metadata.descriptor_key, value: risk };
  if (action.request_headers) return { key: action.request_headers.descriptor_key, value: "sample" };
  throw new Error(`no descriptor entry known for ${Object.keys(action).join(",")}`);
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

/** API groups whose kinds are custom resources: checked against their CRDs' models. */
function isCustomResource(apiVersion: string): boolean {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0]! : "";
  return group === "monitoring.coreos.com" || group.endsWith("istio.io");
}

/**
 * The @kubernetes-models module of a custom resource's apiVersion/kind, generated from the
 * Prometheus Operator's and Istio's CRDs. Istio's telemetry.istio.io/v1 has the same schema as
 * the v1alpha1 that @kubernetes-models/istio 2.x carries, so v1 is checked against it.
 */
function modelPath(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.split("/") as [string, string];
  if (group === "monitoring.coreos.com") return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  const istioVersion = group === "telemetry.istio.io" && version === "v1" ? "v1alpha1" : version;
  return `@kubernetes-models/istio/${group}/${istioVersion}/${kind}`;
}

function customResourceProblems(object: K8sObject): string[] {
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

/** Validates objects against their kinds' schemas; returns the problems (empty when all are valid). */
export function schemaProblems(objects: K8sObject[], kubernetesVersions?: readonly string[]): string[] {
  const builtIn = objects.filter((object) => !isCustomResource(object.apiVersion));
  return [
    ...kubernetesSchemaProblems(
      builtIn.map((object) => ({ name: `${object.kind}/${object.metadata.name}`, yaml: stringifyYaml(object) })),
      kubernetesVersions,
    ),
    ...objects.filter((object) => isCustomResource(object.apiVersion)).flatMap(customResourceProblems),
  ];
}
