/**
 * examples/envoy.yaml read as Envoy reads it (envoy-proto.ts: Envoy's own protos, unknown and
 * deprecated fields rejected, typed configs resolved), and wired to what the chart creates.
 */
import { describe, expect, it } from "vitest";
import { parseDomainFile } from "../../src/ratelimit/config-loader.js";
import { planDescriptor } from "../../src/ratelimit/descriptor-plan.js";
import { decodeEnvoyConfig, unpackAny } from "./envoy-proto.js";
import { describeWithChartTools } from "./chart-tools.js";
import { find, readYaml, render, RELEASE, sampleEntry } from "./fixtures.js";

const bootstrap = readYaml("examples/envoy.yaml");
const hcm = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const filters: any[] = hcm.http_filters;
const filter = (name: string) => filters.find((f) => f.name === name).typed_config;
const routes: any[] = hcm.route_config.virtual_hosts[0].routes;
const clusters: any[] = bootstrap.static_resources.clusters;
const rateLimitText: string = (readYaml("charts/palisade/values.yaml") as any).rateLimit.config;
/** The chart's rate-limit configuration as Palisade loads it. */
const rateLimitDomain = parseDomainFile(rateLimitText, "charts/palisade/values.yaml rateLimit.config")!;

describe("examples/envoy.yaml", () => {
  const decoded = decodeEnvoyConfig(bootstrap);

  it("decodes as envoy.config.bootstrap.v3.Bootstrap with every typed_config resolved", () => {
    expect(decoded.issues).toEqual([]);
    expect(decoded.message).toBeDefined();
    expect(new Set(decoded.anyTypes)).toEqual(
      new Set(
        [
          "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
          "envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
          "envoy.extensions.filters.http.ratelimit.v3.RateLimit",
          "envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute",
          "envoy.extensions.filters.http.router.v3.Router",
          "envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        ].map((name) => `type.googleapis.com/${name}`),
      ),
    );
  });

  it("survives Envoy's binary encoding: the decoded HCM holds the three filters in order", () => {
    const message = decoded.message as any;
    const any = message.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    expect(any.value).toBeInstanceOf(Uint8Array);
    const manager = unpackAny(any) as any;
    expect(manager.http_filters.map((f: any) => f.name)).toEqual([
      "envoy.filters.http.ext_authz",
      "envoy.filters.http.ratelimit",
      "envoy.filters.http.router",
    ]);
  });

  it("catches a typo, a wrong type, a deprecated field and a missing required message", () => {
    const broken = structuredClone(bootstrap);
    const brokenHcm = broken.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    brokenHcm.http_filters[0].typed_config.failure_mode_alow = true;
    delete brokenHcm.http_filters[1].typed_config.rate_limit_service;
    brokenHcm.route_config.virtual_hosts[0].routes[0].route.include_vh_rate_limits = true;
    broken.static_resources.clusters[0].connect_timeout = "250ms";
    const messages = decodeEnvoyConfig(broken).issues.map((i) => `${i.path.split(".").pop()}: ${i.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        "failure_mode_alow: unknown field of envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "rate_limit_service: required by RateLimit",
        "include_vh_rate_limits: deprecated field of envoy.config.route.v3.RouteAction",
        'connect_timeout: expected a duration such as "0.25s", got "250ms"',
      ]),
    );
  });

  it("chooses failure_mode_allow explicitly and sends the body only on the login and sign-up routes", () => {
    const extAuthz = filter("envoy.filters.http.ext_authz");
    expect(extAuthz.failure_mode_allow).toBe(true);
    expect(extAuthz.with_request_body).toBeUndefined();
    const withBody = routes.filter((r) => r.typed_per_filter_config?.["envoy.filters.http.ext_authz"]?.check_settings?.with_request_body);
    const endpoints = readYaml("examples/policy.yaml").spec.endpoints;
    const pathOf = (name: string) => endpoints.find((e: any) => e.name === name).match.path;
    expect(withBody.map((r) => r.match.path)).toEqual([pathOf("login"), pathOf("signup")]);
    for (const route of withBody) expect(route.typed_per_filter_config["envoy.filters.http.ext_authz"].check_settings.with_request_body.pack_as_bytes).toBe(true);
  });

  it("copies the risk of ext_authz's decision into a rate-limit descriptor, which scales the login limit", () => {
    const loginLimits = routes.flatMap((r) => r.route.rate_limits ?? []);
    const risky = loginLimits.find((l: any) => l.actions.some((action: any) => action.metadata));
    expect(risky.actions).toContainEqual({
      metadata: {
        descriptor_key: "palisade_risk",
        source: "DYNAMIC",
        default_value: "0",
        metadata_key: { key: "envoy.filters.http.ext_authz", path: [{ key: "risk_text" }] },
      },
    });
    const limitAt = (risk: string) => {
      const plan = planDescriptor(rateLimitDomain, { entries: risky.actions.map((a: any) => sampleEntry(a, risk)) }, 1, (id) => id);
      return plan.kind === "limited" ? plan.windows[0]!.limit : undefined;
    };
    expect([limitAt("0"), limitAt("100")]).toEqual([20, 5]);
  });
});

describeWithChartTools("examples/envoy.yaml and the chart", () => {
  it("points ext_authz, rate limiting and access logs at the chart's headless Service and gRPC port", () => {
    const chart = render();
    const headless = find(chart.objects, "Service", "palisade-headless");
    const grpcPort = headless.spec.ports.find((p: any) => p.name === "grpc").port;
    const references = [
      filter("envoy.filters.http.ext_authz").grpc_service.envoy_grpc.cluster_name,
      filter("envoy.filters.http.ratelimit").rate_limit_service.grpc_service.envoy_grpc.cluster_name,
      hcm.access_log[0].typed_config.common_config.grpc_service.envoy_grpc.cluster_name,
    ];
    for (const name of references) {
      const cluster = clusters.find((c) => c.name === name);
      expect(cluster, name).toBeDefined();
      const address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      expect(address).toEqual({ address: `${headless.metadata.name}.${RELEASE.namespace}.svc.cluster.local`, port_value: grpcPort });
      // gRPC needs HTTP/2 to the upstream.
      expect(cluster.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config).toHaveProperty("http2_protocol_options");
      expect(cluster.type).toBe("STRICT_DNS");
    }
  });
});
