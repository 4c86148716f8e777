/**
 * charts/palisade: values.yaml against values.schema.json (ajv) and every .Values reference
 * against values.yaml; then, with the real helm, `helm lint --strict` and a render of every
 * documented values combination (charts/palisade/ci/*-values.yaml), each object validated
 * against Kubernetes' schemas or its CRD, what the objects say, and the fail guards.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { chartReadme } from "../../scripts/write-chart-readme.js";
import { TokenAuthenticator } from "../../src/transport/http/auth.js";
import { lintPolicy } from "../../src/policy/lint.js";
import { chartToolVersions, describeWithChartTools, helmLint, HelmFailure } from "./chart-tools.js";
import { CHART_DIR, find, readYaml, readYamlDocuments, render, schemaProblems, type K8sObject } from "./fixtures.js";

const values = readYaml("charts/palisade/values.yaml") as Record<string, any>;
const schema = JSON.parse(fs.readFileSync(path.join(CHART_DIR, "values.schema.json"), "utf8")) as object;
const validateValues = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);

function templates(): Record<string, string> {
  const dir = path.join(CHART_DIR, "templates");
  return Object.fromEntries(fs.readdirSync(dir).map((name) => [name, fs.readFileSync(path.join(dir, name), "utf8")]));
}

function merged(override: Record<string, unknown>): unknown {
  return JSON.parse(JSON.stringify({ ...values, ...override }));
}

describe("values.yaml and values.schema.json", () => {
  it("values.yaml validates against the schema", () => {
    expect(validateValues(values), JSON.stringify(validateValues.errors, null, 2)).toBe(true);
  });

  it("the schema rejects unknown keys, typos and wrong types", () => {
    expect(validateValues(merged({ replicas: 3 }))).toBe(false);
    expect(validateValues(merged({ mode: "daemonset" }))).toBe(false);
    expect(validateValues(merged({ redis: { ...values.redis, url: "http://redis:6379" } }))).toBe(false);
    expect(validateValues(merged({ settings: { ...values.settings, shutdownGraceSeconds: "10s" } }))).toBe(false);
  });

  it("every key of the schema is in values.yaml, so values.yaml documents them all", () => {
    const missing: string[] = [];
    const walk = (node: any, value: any, at: string) => {
      for (const [key, child] of Object.entries<any>(node.properties ?? {})) {
        if (!value || !(key in value)) {
          // Optional knobs that default to absent are documented in a comment instead.
          if (!["digest", "initialDelaySeconds", "successThreshold"].includes(key)) missing.push(`${at}${key}`);
          continue;
        }
        const resolved = child.$ref ? (schema as any).definitions[child.$ref.split("/").pop()] : child;
        if (resolved.type === "object" && resolved.properties) walk(resolved, value[key], `${at}${key}.`);
      }
    };
    walk(schema, values, "");
    expect(missing).toEqual([]);
  });

  it("every .Values path a template reads exists in values.yaml", () => {
    const unknown: string[] = [];
    let read = 0;
    for (const [name, text] of Object.entries(templates())) {
      for (const match of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        read++;
        let node: any = values;
        for (const key of match[1]!.slice(1).split(".")) {
          if (node === null || typeof node !== "object" || !(key in node)) {
            unknown.push(`${name}: .Values${match[1]}`);
            break;
          }
          node = node[key];
        }
      }
    }
    // A loop over no match passes whatever the templates say: the templates read well over 100.
    expect(read).toBeGreaterThan(100);
    expect(unknown).toEqual([]);
  });

  it("every named template that is included is defined", () => {
    const all = Object.values(templates()).join("\n");
    const defined = new Set([...all.matchAll(/define "([^"]+)"/g)].map((m) => m[1]));
    const included = new Set([...all.matchAll(/include "([^"]+)"/g)].map((m) => m[1]));
    expect(included.size).toBeGreaterThan(10);
    expect([...included].filter((name) => !defined.has(name))).toEqual([]);
  });

  it("the default policy is the bundled example and passes Palisade's own loader", async () => {
    expect(parseYaml(values.policy), "values.yaml's policy is not examples/policy.yaml: npm run deploy:sync").toEqual(readYaml("examples/policy.yaml"));
    const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "palisade-chart-policy-"));
    try {
      fs.writeFileSync(path.join(dir, "policy.yaml"), values.policy);
      const result = await lintPolicy(dir);
      expect(result.ok, result.output).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The documented values combinations, in chart-testing's layout: charts/palisade/ci/<name>-values.yaml. */
const COMBINATIONS = Object.fromEntries(
  fs
    .readdirSync(path.join(CHART_DIR, "ci"))
    .filter((name) => name.endsWith("-values.yaml"))
    .map((name) => [name.replace(/-values\.yaml$/, ""), (parseYaml(fs.readFileSync(path.join(CHART_DIR, "ci", name), "utf8")) ?? {}) as Record<string, unknown>]),
);

describeWithChartTools("every documented values combination (helm lint, helm template, schemas)", () => {
  it("covers cluster and sidecar mode, bundled and external Redis, in memory, GitOps and monitoring", () => {
    process.stdout.write(`chart checked with ${chartToolVersions()}\n`);
    expect(Object.keys(COMBINATIONS).sort()).toEqual(["cluster", "external-redis", "gitops", "in-memory", "monitoring", "sidecar", "sidecar-native"]);
  });

  it.each(Object.entries(COMBINATIONS))("%s: helm lint --strict passes", (_name, values) => {
    expect(helmLint(CHART_DIR, values)).toEqual([]);
  });

  it("every object of every combination validates against its Kubernetes schema or CRD", () => {
    const objects = Object.entries(COMBINATIONS).flatMap(([name, values]) =>
      render(values).objects.map((object) => ({ ...object, metadata: { ...object.metadata, name: `${object.metadata.name} (${name})` } }) as K8sObject),
    );
    expect(objects.length).toBeGreaterThan(40);
    expect(schemaProblems(objects)).toEqual([]);
  });

  it("a typo in a field the templates write is caught by the schemas", () => {
    const deployment = find(render().objects, "Deployment", "palisade");
    deployment.spec.template.spec.containers[0].imagePullPolice = "Always";
    expect(schemaProblems([deployment], ["1.37.0"]).join("\n")).toMatch(/imagePullPolice/);
  });
});

describeWithChartTools("rendered in cluster mode (defaults)", () => {
  const chart = render();
  const objects = chart.objects;

  it("renders the objects the README names, each valid against its Kubernetes schema", () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        "ConfigMap/palisade-policy",
        "ConfigMap/palisade-ratelimit",
        "ConfigMap/palisade-redis",
        "Deployment/palisade",
        "Deployment/palisade-redis",
        "HorizontalPodAutoscaler/palisade",
        "NetworkPolicy/palisade",
        "NetworkPolicy/palisade-redis",
        "PodDisruptionBudget/palisade",
        "Service/palisade",
        "Service/palisade-headless",
        "Service/palisade-redis",
        "ServiceAccount/palisade",
      ].sort(),
    );
  });

  it("serves gRPC (appProtocol grpc), admin and the challenge listener on the Services, the headless one without a virtual IP", () => {
    for (const name of ["palisade", "palisade-headless"]) {
      const service = find(objects, "Service", name);
      expect(service.spec.ports).toEqual([
        { name: "grpc", port: 9001, targetPort: "grpc", protocol: "TCP", appProtocol: "grpc" },
        { name: "admin", port: 9090, targetPort: "admin", protocol: "TCP", appProtocol: "http" },
        { name: "challenge", port: 9091, targetPort: "challenge", protocol: "TCP", appProtocol: "http" },
      ]);
      expect(service.spec.selector).toEqual(find(objects, "Deployment", "palisade").spec.selector.matchLabels);
    }
    expect(find(objects, "Service", "palisade-headless").spec.clusterIP).toBe("None");
  });

  it("mounts the policy and rate-limit ConfigMaps as directories (never subPath) and points the settings at them", () => {
    const pod = find(objects, "Deployment", "palisade").spec.template.spec;
    const container = pod.containers[0];
    expect(container.volumeMounts.every((m: any) => m.subPath === undefined)).toBe(true);
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]));
    const mountOf = (configMap: string) => {
      const volume = pod.volumes.find((v: any) => v.configMap?.name === configMap);
      return container.volumeMounts.find((m: any) => m.name === volume.name).mountPath;
    };
    expect(env.PALISADE_POLICY).toBe(mountOf("palisade-policy"));
    expect(env.PALISADE_RATELIMIT_CONFIG).toBe(mountOf("palisade-ratelimit"));
    expect(find(objects, "ConfigMap", "palisade-policy").data["policy.yaml"]).toBe(values.policy);
    expect(find(objects, "ConfigMap", "palisade-ratelimit").data["ratelimit.yaml"]).toBe(values.rateLimit.config);
    expect(env.REDIS_URL).toBe("redis://palisade-redis:6379");
    expect(env.PALISADE_PSEUDONYM_KEY_FILE).toBe("/etc/palisade/secrets/pseudonym-key/key");
    expect(env.PALISADE_SHUTDOWN_GRACE).toBe("10s");
  });

  it("carries no checksum annotation on Palisade's pods (hot reload), one on Redis' (it is not)", () => {
    expect(find(objects, "Deployment", "palisade").spec.template.metadata.annotations).toBeUndefined();
    expect(find(objects, "Deployment", "palisade-redis").spec.template.metadata.annotations["checksum/config"]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("probes gRPC health for readiness and HTTP for startup and liveness", () => {
    const container = find(objects, "Deployment", "palisade").spec.template.spec.containers[0];
    expect(container.readinessProbe.grpc).toEqual({ port: 9001 });
    expect(container.startupProbe.httpGet).toEqual({ path: "/readyz", port: "admin" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "admin" });
  });

  it("runs non-root with a read-only root filesystem and no service account token", () => {
    const pod = find(objects, "Deployment", "palisade").spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.containers[0].securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it("leaves replicas to the HPA, and lets only the gateways reach gRPC and the challenge listener", () => {
    expect(find(objects, "Deployment", "palisade").spec.replicas).toBeUndefined();
    const ingress = find(objects, "NetworkPolicy", "palisade").spec.ingress;
    expect(ingress[0].ports).toEqual([{ port: "grpc", protocol: "TCP" }, { port: "challenge", protocol: "TCP" }]);
    expect(ingress[0].from).toEqual(values.networkPolicy.grpcFrom);
  });

  it("NOTES name the objects that exist", () => {
    expect(chart.notes).toContain("palisade-headless.palisade.svc.cluster.local:9001");
    expect(chart.notes).toContain("kubectl -n palisade edit configmap palisade-policy");
    expect(chart.notes).toContain("rollout status deployment/palisade");
    expect(chart.notes).toContain("subPath");
  });

  it("mounts GeoIP databases from a volume and points the settings at them", () => {
    const custom = render({ geoip: { volume: { persistentVolumeClaim: { claimName: "geoip" } }, cityDatabase: "GeoLite2-City.mmdb", asnDatabase: "GeoLite2-ASN.mmdb", hostingAsnsFile: "" } });
    const pod = find(custom.objects, "Deployment", "palisade").spec.template.spec;
    const env = Object.fromEntries(pod.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      PALISADE_GEOIP_CITY_DATABASE: "/etc/palisade/geoip/GeoLite2-City.mmdb",
      PALISADE_GEOIP_ASN_DATABASE: "/etc/palisade/geoip/GeoLite2-ASN.mmdb",
    });
    expect(env.PALISADE_HOSTING_ASNS_FILE).toBeUndefined();
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: "palisade-geoip", mountPath: "/etc/palisade/geoip", readOnly: true });
    expect(pod.volumes).toContainEqual({ name: "palisade-geoip", persistentVolumeClaim: { claimName: "geoip" } });
    expect(Object.keys(env).filter((name) => name.includes("GEOIP"))).toHaveLength(2);
    const plain = find(objects, "Deployment", "palisade").spec.template.spec;
    expect(plain.volumes.map((v: any) => v.name)).not.toContain("palisade-geoip");
  });

  it("external-redis and monitoring: a password Secret, all Secrets, ServiceMonitor, fixed replicas", () => {
    const custom = render({ ...COMBINATIONS["external-redis"], ...COMBINATIONS.monitoring });
    expect(custom.objects.some((o) => o.metadata.name === "palisade-redis")).toBe(false);
    const deployment = find(custom.objects, "Deployment", "palisade");
    expect(deployment.spec.replicas).toBe(3);
    const env = Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      REDIS_URL: "rediss://redis.example:6380",
      PALISADE_REDIS_PASSWORD_FILE: "/etc/palisade/secrets/redis-password/password",
      PALISADE_ADMIN_TOKENS_FILE: "/etc/palisade/secrets/admin-tokens/tokens",
      PALISADE_WEBHOOK_SECRET_FILE: "/etc/palisade/secrets/webhook-secret/secret",
      PALISADE_CHALLENGE_KEY_FILE: "/etc/palisade/secrets/challenge-key/key",
      PALISADE_PSEUDONYM_PREVIOUS_KEY_FILE: "/etc/palisade/secrets/previous-pseudonym-key/key",
      OTEL_TRACES_EXPORTER: "otlp",
      PALISADE_BREACHED_PASSWORDS: "/etc/palisade/breached-passwords",
    });
    expect(deployment.spec.template.spec.volumes).toContainEqual({
      name: "palisade-breached-passwords",
      persistentVolumeClaim: { claimName: "breached", readOnly: true },
    });
    expect(find(custom.objects, "PodDisruptionBudget", "palisade").spec).toMatchObject({ minAvailable: 2 });
    expect(find(custom.objects, "ServiceMonitor", "palisade").spec.endpoints[0].port).toBe("admin");
    expect(deployment.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
  });
});

describeWithChartTools("rendered in sidecar mode", () => {
  const chart = render({ mode: "sidecar" });

  it("renders no Deployment or Service of its own, and a patch that adds the container to a gateway", () => {
    expect(chart.objects.filter((o) => o.metadata.name === "palisade")).toEqual([]);
    const patch = parseYaml(find(chart.objects, "ConfigMap", "palisade-sidecar").data["patch.yaml"]);
    const container = patch.spec.template.spec.containers[0];
    expect(container.name).toBe("palisade");
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]));
    // gRPC only on loopback: nothing outside the gateway pod may call it.
    expect(env.PALISADE_GRPC_HOST).toBe("127.0.0.1");
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "admin" });
    expect(patch.spec.template.spec.volumes.map((v: any) => v.name)).toEqual(["palisade-policy", "palisade-ratelimit", "palisade-pseudonym-key"]);
  });

  it("can add Palisade as a native sidecar that starts before Envoy", () => {
    const patch = parseYaml(find(render({ mode: "sidecar", sidecar: { native: true } }).objects, "ConfigMap", "palisade-sidecar").data["patch.yaml"]);
    expect(patch.spec.template.spec.initContainers[0]).toMatchObject({ name: "palisade", restartPolicy: "Always" });
  });

  it("the patched gateway Deployment validates, with Palisade as a container or (Kubernetes 1.29+) a native sidecar", () => {
    const gatewayText = fs.readFileSync(path.join(CHART_DIR, "../../k8s/overlays/sidecar/gateway.yaml"), "utf8");
    const patched = (native: boolean) => {
      const patch = parseYaml(find(render({ mode: "sidecar", sidecar: { native } }).objects, "ConfigMap", "palisade-sidecar").data["patch.yaml"]);
      const gateway = readYamlDocuments(gatewayText)[0] as K8sObject;
      const spec = gateway.spec.template.spec;
      if (native) spec.initContainers = patch.spec.template.spec.initContainers;
      else spec.containers.push(...patch.spec.template.spec.containers);
      spec.volumes.push(...patch.spec.template.spec.volumes);
      return gateway;
    };
    expect(schemaProblems([patched(false)])).toEqual([]);
    expect(schemaProblems([patched(true)], ["1.37.0"])).toEqual([]);
  });
});

describeWithChartTools("fail guards", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["two stores", { redis: { url: "redis://r:6379" } }, /redis.bundled.enabled=false/],
    ["a password in the URL", { redis: { url: "redis://:hunter2@r:6379", bundled: { enabled: false } } }, /contains a password/],
    ["a password Secret for the bundled Redis", { redis: { passwordSecret: { name: "x" } } }, /only for redis.url/],
    ["replicas without a shared store", { redis: { bundled: { enabled: false } } }, /needs a shared store/],
    ["workers without a shared store", { mode: "sidecar", redis: { bundled: { enabled: false } }, settings: { ...values.settings, workers: 2 } }, /settings.workers above 1 needs a shared store/],
    ["replicas without a shared key", { secrets: { pseudonymKey: { name: "" } } }, /own random key/],
    ["an inverted autoscaler", { autoscaling: { minReplicas: 5, maxReplicas: 2 } }, /minReplicas is greater/],
    ["a PDB with both bounds", { podDisruptionBudget: { minAvailable: 1 } }, /not both/],
    ["a grace period shorter than the drain", { terminationGracePeriodSeconds: 12 }, /must exceed/],
    ["a ServiceMonitor in sidecar mode", { mode: "sidecar", serviceMonitor: { enabled: true } }, /PodMonitor/],
    ["an admin-tokens Secret both named and created", { secrets: { adminTokens: { name: "mine", create: true } } }, /not both/],
  ];
  it.each(cases)("rejects %s", (_name, override, message) => {
    const failure = (() => {
      try {
        render(override);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(failure).toBeInstanceOf(HelmFailure);
    expect((failure as Error).message).toMatch(message);
  });

  it("allows one replica in memory for a trial", () => {
    const single = render({ redis: { bundled: { enabled: false } }, autoscaling: { enabled: false }, replicaCount: 1 });
    const env = find(single.objects, "Deployment", "palisade").spec.template.spec.containers[0].env;
    expect(env.some((e: any) => e.name === "REDIS_URL")).toBe(false);
    expect(single.notes).toContain("in memory");
  });
});

describeWithChartTools("chart conventions (gitops and monitoring combinations)", () => {
  const gitops = render(COMBINATIONS.gitops!);
  const monitoring = render(COMBINATIONS.monitoring!).objects;

  it("mounts existing ConfigMaps instead of rendering its own", () => {
    expect(gitops.objects.filter((o) => o.kind === "ConfigMap").map((o) => o.metadata.name)).toEqual(["palisade-redis"]);
    const volumes = find(gitops.objects, "Deployment", "palisade").spec.template.spec.volumes;
    expect(volumes.filter((v: any) => v.configMap).map((v: any) => [v.name, v.configMap.name])).toEqual([
      ["palisade-policy", "storefront-policy"],
      ["palisade-ratelimit", "storefront-rate-limits"],
      ["ca-bundle", "corporate-ca"],
    ]);
  });

  it("applies global.imageRegistry and pull secrets to every pod, commonLabels to every object", () => {
    const pods = gitops.objects.filter((o) => o.kind === "Deployment").map((o) => o.spec.template.spec);
    expect(pods.flatMap((pod: any) => pod.containers.map((c: any) => c.image.split("/")[0]))).toEqual(["registry.example.com", "registry.example.com"]);
    for (const pod of pods) expect(pod.imagePullSecrets).toEqual([{ name: "regcred" }]);
    expect(gitops.objects.filter((o) => o.metadata.labels?.team !== "security").map((o) => o.metadata.name)).toEqual([]);
  });

  it("adds extra volumes, mounts and Deployment annotations", () => {
    const deployment = find(gitops.objects, "Deployment", "palisade");
    expect(deployment.metadata.annotations).toEqual({ "argocd.argoproj.io/sync-wave": "1" });
    expect(deployment.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: "ca-bundle", mountPath: "/etc/ssl/corporate", readOnly: true });
  });

  it("puts every object in the release namespace, or namespaceOverride, or the monitoring namespace asked for", () => {
    expect(new Set(render().objects.map((o) => o.metadata.namespace))).toEqual(new Set(["palisade"]));
    expect(new Set(render({ namespaceOverride: "security" }).objects.map((o) => o.metadata.namespace))).toEqual(new Set(["security"]));
    const elsewhere = monitoring.filter((o) => o.metadata.namespace === "monitoring").map((o) => o.kind).sort();
    expect(elsewhere).toEqual(["ConfigMap", "PrometheusRule", "ServiceMonitor"]);
    const serviceMonitor = find(monitoring, "ServiceMonitor", "palisade");
    expect(serviceMonitor.spec.namespaceSelector).toEqual({ matchNames: ["palisade"] });
    expect(serviceMonitor.spec.endpoints[0].relabelings).toHaveLength(1);
    expect(serviceMonitor.spec.endpoints[0].metricRelabelings).toHaveLength(1);
  });

  it("creates an admin-tokens Secret that Palisade accepts, and NOTES say how to read it", async () => {
    const secret = find(gitops.objects, "Secret", "palisade-admin-tokens");
    const tokens = Buffer.from(secret.data.tokens, "base64").toString("utf8");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-chart-tokens-"));
    try {
      fs.writeFileSync(path.join(dir, "tokens"), tokens);
      const auth = await TokenAuthenticator.fromFile(path.join(dir, "tokens"));
      const token = (parseYaml(tokens) as { tokens: { token: string }[] }).tokens[0]!.token;
      expect(auth.authenticate({ authorization: `Bearer ${token}` })).toEqual({ name: "admin", role: "admin" });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const env = find(gitops.objects, "Deployment", "palisade").spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: "PALISADE_ADMIN_TOKENS_FILE", value: "/etc/palisade/secrets/admin-tokens/tokens" });
    expect(gitops.notes).toContain("kubectl -n palisade get secret palisade-admin-tokens -o jsonpath='{.data.tokens}' | base64 -d");
    expect(render().notes).toContain("--set secrets.adminTokens.create=true");
  });

  it("the schema accepts the conventions and rejects their typos", () => {
    // Helm's merge: maps merge key by key, anything else replaces.
    const mergeValues = (base: unknown, over: unknown): unknown =>
      base && over && typeof base === "object" && typeof over === "object" && !Array.isArray(base) && !Array.isArray(over)
        ? Object.fromEntries([...new Set([...Object.keys(base), ...Object.keys(over)])].map((key) => [key, key in over ? mergeValues((base as any)[key], (over as any)[key]) : (base as any)[key]]))
        : over;
    for (const combination of Object.values(COMBINATIONS)) {
      expect(validateValues(mergeValues(values, combination)), JSON.stringify(validateValues.errors)).toBe(true);
    }
    expect(validateValues(merged({ serviceMonitor: { ...values.serviceMonitor, relabeling: [] } }))).toBe(false);
    expect(validateValues(merged({ existingConfigMaps: {} }))).toBe(false);
  });
});

describe("charts/palisade/README.md", () => {
  it("is generated from values.yaml and current (npm run chart:readme)", () => {
    expect(fs.readFileSync(path.join(CHART_DIR, "README.md"), "utf8")).toBe(chartReadme());
  });

  it("documents every key of values.yaml", () => {
    const readme = chartReadme();
    const walk = (node: Record<string, unknown>, prefix: string): string[] =>
      Object.entries(node).flatMap(([key, value]) =>
        value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0 ? walk(value as Record<string, unknown>, `${prefix}${key}.`) : [`${prefix}${key}`],
      );
    expect(walk(values, "").filter((key) => !readme.includes(`| \`${key}\` |`))).toEqual([]);
  });
});
