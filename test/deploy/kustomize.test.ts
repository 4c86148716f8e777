/**
 * k8s/: both overlays render with `kubectl kustomize`, every object validates against the
 * Kubernetes schemas, and they are the chart's defaults (release "palisade", namespace
 * "palisade") as plain manifests.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { describeWithChartTools } from "./chart-tools.js";
import { find, readYaml, readYamlDocuments, render, REPO, schemaProblems, type K8sObject } from "./fixtures.js";

function kustomize(overlay: string): K8sObject[] {
  const output = execFileSync("kubectl", ["kustomize", path.join(REPO, "k8s", "overlays", overlay)], { encoding: "utf8" });
  return readYamlDocuments(output);
}

const HELM_ONLY_LABELS = ["helm.sh/chart", "app.kubernetes.io/managed-by"];

/**
 * What may differ between `helm template` and `kubectl kustomize` for the same objects: Helm's
 * own labels, the namespace kustomize sets, and how each rolls Redis on a configuration change
 * (a checksum annotation in the chart, a hashed ConfigMap name in kustomize). Policy and
 * rate-limit files are compared as YAML: the kustomize copies carry an editor's schema comment.
 */
function normalise(objects: K8sObject[]): Record<string, unknown> {
  const byName: Record<string, unknown> = {};
  for (const original of objects) {
    const object = JSON.parse(JSON.stringify(original).replace(/"palisade-redis-[a-z0-9]{10}"/g, '"palisade-redis"')) as K8sObject;
    delete object.metadata.namespace;
    for (const label of HELM_ONLY_LABELS) delete object.metadata.labels?.[label];
    const podMeta = object.spec?.template?.metadata;
    if (podMeta?.annotations) {
      delete podMeta.annotations["checksum/config"];
      if (Object.keys(podMeta.annotations).length === 0) delete podMeta.annotations;
    }
    if (object.kind === "ConfigMap") {
      for (const key of Object.keys(object.data ?? {})) {
        if (key.endsWith(".yaml")) object.data[key] = parseYaml(object.data[key]);
      }
    }
    byName[`${object.kind}/${object.metadata.name}`] = object;
  }
  return byName;
}

describeWithChartTools("k8s/ overlays (kubectl kustomize)", () => {
  it("cluster: every object validates against its Kubernetes schema, in namespace palisade", () => {
    const objects = kustomize("cluster");
    expect(schemaProblems(objects)).toEqual([]);
    expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set(["palisade"]));
  });

  it("cluster: the same objects as the chart's defaults", () => {
    expect(normalise(kustomize("cluster"))).toEqual(normalise(render().objects));
  });

  it("cluster: the policy ConfigMap keeps a stable name (hot reload), Redis' config a hashed one (restart)", () => {
    const objects = kustomize("cluster");
    expect(find(objects, "ConfigMap", "palisade-policy")).toBeDefined();
    expect(find(objects, "ConfigMap", "palisade-ratelimit")).toBeDefined();
    const redisConfig = objects.find((o) => o.kind === "ConfigMap" && /^palisade-redis-[a-z0-9]{10}$/.test(o.metadata.name));
    expect(redisConfig).toBeDefined();
    const volumes = find(objects, "Deployment", "palisade-redis").spec.template.spec.volumes;
    expect(volumes.find((v: any) => v.name === "config").configMap.name).toBe(redisConfig!.metadata.name);
  });

  it("sidecar: every object validates, and the gateway gets the chart's sidecar patch", () => {
    const objects = kustomize("sidecar");
    expect(schemaProblems(objects)).toEqual([]);
    const chart = render({ mode: "sidecar" });
    const patch = parseYaml(find(chart.objects, "ConfigMap", "palisade-sidecar").data["patch.yaml"]);
    const kustomizePatch = readYaml("k8s/overlays/sidecar/palisade-sidecar.yaml");
    expect(kustomizePatch.spec).toEqual(patch.spec);

    const gateway = find(objects, "Deployment", "gateway").spec.template;
    expect(gateway.metadata.labels["palisade.dev/sidecar"]).toBe("true");
    expect(gateway.spec.containers.map((c: any) => c.name).sort()).toEqual(["envoy", "palisade"]);
    expect(gateway.spec.containers.find((c: any) => c.name === "palisade")).toEqual(patch.spec.template.spec.containers[0]);

    // Everything else is the chart's sidecar-mode output.
    const shared = normalise(objects.filter((o) => o.metadata.name !== "gateway"));
    const fromChart = normalise(chart.objects.filter((o) => o.metadata.name !== "palisade-sidecar"));
    expect(shared).toEqual(fromChart);
  });
}, ["kubectl"]);
