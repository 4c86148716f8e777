/**
 * examples/istio: the Istio resources validate against Istio's CRD schemas, the Envoy
 * configuration inside the EnvoyFilter decodes with Envoy's protos, and every address is the
 * chart's Service and gRPC port.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { describeWithChartTools } from "./chart-tools.js";
import { decodeEnvoyConfig } from "./envoy-proto.js";
import { find, readYaml, readYamlDocuments, render, REPO, RELEASE, schemaProblems, type K8sObject } from "./fixtures.js";

const ISTIO_DIR = path.join(REPO, "examples", "istio");
const objects: K8sObject[] = fs
  .readdirSync(ISTIO_DIR)
  .filter((name) => name.endsWith(".yaml"))
  .flatMap((name) => readYamlDocuments(fs.readFileSync(path.join(ISTIO_DIR, name), "utf8")));
const of = (kind: string) => objects.find((o) => o.kind === kind)!;

/** The chart's Service and gRPC port, as Istio names the cluster it creates for them. */
function chartService(): { serviceHost: string; grpcPort: number } {
  const service = find(render().objects, "Service", "palisade");
  return {
    grpcPort: service.spec.ports.find((p: any) => p.name === "grpc").port as number,
    serviceHost: `${service.metadata.name}.${RELEASE.namespace}.svc.cluster.local`,
  };
}

/**
 * Fields of Istio's MeshConfig.ExtensionProvider messages we use (istio.mesh.v1alpha1, in
 * JSON names). @kubernetes-models/istio leaves meshConfig unchecked, so the test holds the list.
 */
const PROVIDER_FIELDS: Record<string, string[]> = {
  envoyExtAuthzGrpc: ["service", "port", "timeout", "failOpen", "statusOnError", "includeRequestBodyInCheck"],
  envoyHttpAls: ["service", "port", "logName", "filterStateObjectsToLog", "additionalRequestHeadersToLog", "additionalResponseHeadersToLog", "additionalResponseTrailersToLog"],
};
const REQUEST_BODY_FIELDS = ["maxRequestBytes", "allowPartialMessage", "packAsBytes"];

describe("examples/istio", () => {
  it("every resource validates against its Istio schema", () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(["AuthorizationPolicy", "EnvoyFilter", "IstioOperator", "Telemetry", "VirtualService"]);
    expect(schemaProblems(objects)).toEqual([]);
  });

  it("registers the ext_authz and access-log providers with the fields Istio knows", () => {
    const providers: any[] = of("IstioOperator").spec.meshConfig.extensionProviders;
    for (const provider of providers) {
      const [kind, ...others] = Object.keys(provider).filter((key) => key !== "name");
      expect(others).toEqual([]);
      const config = provider[kind!];
      expect(Object.keys(config).filter((key) => !PROVIDER_FIELDS[kind!]!.includes(key))).toEqual([]);
    }
    const authz = providers.find((p) => p.envoyExtAuthzGrpc).envoyExtAuthzGrpc;
    expect(Object.keys(authz.includeRequestBodyInCheck).filter((k) => !REQUEST_BODY_FIELDS.includes(k))).toEqual([]);
    expect(authz.failOpen).toBe(true);
    expect(authz.timeout).toMatch(/^\d+(\.\d+)?s$/);
  });

  it("uses those providers by name, on pods the chart's NetworkPolicy admits", () => {
    const names = of("IstioOperator").spec.meshConfig.extensionProviders.map((p: any) => p.name);
    const policy = of("AuthorizationPolicy");
    expect(policy.spec.action).toBe("CUSTOM");
    expect(names).toContain(policy.spec.provider.name);
    for (const provider of of("Telemetry").spec.accessLogging[0].providers) expect(names).toContain(provider.name);
    const admitted = readYaml("charts/palisade/values.yaml").networkPolicy.grpcFrom.map((peer: any) => peer.podSelector.matchLabels);
    expect(admitted).toContainEqual(policy.spec.selector.matchLabels);
  });

  it("the EnvoyFilter's patches decode with Envoy's protos", () => {
    const patches: any[] = of("EnvoyFilter").spec.configPatches;
    const typeOf: Record<string, string> = {
      HTTP_FILTER: "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
      VIRTUAL_HOST: "envoy.config.route.v3.VirtualHost",
      HTTP_ROUTE: "envoy.config.route.v3.Route",
    };
    for (const patch of patches) {
      const decoded = decodeEnvoyConfig(patch.patch.value, typeOf[patch.applyTo], { partial: patch.patch.operation === "MERGE" });
      expect(decoded.issues, patch.applyTo).toEqual([]);
    }
    const filter = patches.find((p) => p.applyTo === "HTTP_FILTER").patch.value.typed_config;
    expect(filter.domain).toBe(parseYaml(readYaml("charts/palisade/values.yaml").rateLimit.config).domain);
  });
});

describeWithChartTools("examples/istio and the chart", () => {
  it("every provider and the EnvoyFilter's rate-limit cluster are the chart's Service and gRPC port", () => {
    const { serviceHost, grpcPort } = chartService();
    for (const provider of of("IstioOperator").spec.meshConfig.extensionProviders) {
      const config = Object.values(provider).find((value) => typeof value === "object") as { service: string; port: number };
      expect({ service: config.service, port: config.port }).toEqual({ service: serviceHost, port: grpcPort });
    }
    const filter = of("EnvoyFilter").spec.configPatches.find((p: any) => p.applyTo === "HTTP_FILTER").patch.value.typed_config;
    expect(filter.rate_limit_service.grpc_service.envoy_grpc.cluster_name).toBe(`outbound|${grpcPort}||${serviceHost}`);
  });
});
