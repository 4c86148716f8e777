/**
 * docs/deployment.md names objects, ports, paths, values and files: each must be what the chart
 * and manifests actually create. docs/verification.md names test files: each must exist.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { describeWithChartTools } from "./chart-tools.js";
import { find, readRepoFile, readYaml, render, REPO, RELEASE, type K8sObject } from "./fixtures.js";

const section = readRepoFile("docs/deployment.md");

describeWithChartTools("docs/deployment.md", () => {
  // As the quickstart installs it: with the generated admin-tokens Secret.
  const cluster = render({ secrets: { adminTokens: { create: true } } }).objects;
  const sidecar = render({ mode: "sidecar" }).objects;
  const all = [...cluster, ...sidecar];
  const values = readYaml("charts/palisade/values.yaml");
  const deployment = find(cluster, "Deployment", "palisade").spec.template.spec;
  const env: Record<string, string> = Object.fromEntries(deployment.containers[0].env.map((e: any) => [e.name, e.value]));

  const KINDS: Record<string, string> = { deployment: "Deployment", configmap: "ConfigMap", svc: "Service", service: "Service" };
  const exists = (kind: string, name: string) => all.some((o: K8sObject) => o.kind === kind && o.metadata.name === name);
  const secretNames = new Set(deployment.volumes.filter((v: any) => v.secret).map((v: any) => v.secret.secretName));

  it("names only objects the chart creates (kubectl commands and the table)", () => {
    const named = [
      ...[...section.matchAll(/\b(deployment|configmap|svc)[/ ]([a-z][a-z0-9-]+)/g)].map((m) => [KINDS[m[1]!]!, m[2]!]),
      ...[...section.matchAll(/\b(Deployment|Service|ConfigMap)(?:, Service)? `([a-z0-9-]+)`/g)].map((m) => [m[1]!, m[2]!]),
    ];
    expect(named.length).toBeGreaterThan(8);
    expect(named.filter(([kind, name]) => !exists(kind!, name!) && name !== "my-gateway")).toEqual([]);
    // A Secret the reader creates under a name of their own is handed to the chart by that name.
    const passedByName = new Set([...section.matchAll(/--set secrets\.[A-Za-z]+\.name=([a-z0-9-]+)/g)].map((m) => m[1]!));
    const secretsNamed = [...section.matchAll(/Secret `([a-z0-9-]+)`|secret generic ([a-z0-9-]+)/g)];
    expect(secretsNamed.length).toBeGreaterThan(1); // a loop over no match would pass whatever the text says
    for (const match of secretsNamed) {
      const name = match[1] ?? match[2]!;
      if (!passedByName.has(name)) expect(secretNames).toContain(name);
    }
  });

  it("gives Service addresses and ports the chart creates", () => {
    const addresses = [...section.matchAll(/([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)/g)];
    expect(addresses.length).toBeGreaterThan(1);
    for (const [text, name, namespace, port] of addresses) {
      expect(namespace, text).toBe(RELEASE.namespace);
      expect(find(cluster, "Service", name!).spec.ports.map((p: any) => p.port), text).toContain(Number(port));
    }
    expect(section).toContain(`port-forward svc/palisade ${values.ports.admin}`);
    expect(section).toContain(`\`grpc\` ${values.ports.grpc}`);
    expect(section).toContain(`\`admin\` ${values.ports.admin}`);
  });

  it("gives the mount paths and settings the pods use", () => {
    const withVariable = [...section.matchAll(/mounted at `([^`]+)` \(`([A-Z_]+)`\)/g)];
    const mounted = [...section.matchAll(/mounted at `([^`]+)`/g)];
    // Loops over no match would pass whatever the text says.
    expect(withVariable.length).toBeGreaterThan(0);
    expect(mounted.length).toBeGreaterThanOrEqual(withVariable.length);
    for (const [, mountPath, variable] of withVariable) expect(env[variable!], variable).toBe(mountPath);
    const mounts = deployment.containers[0].volumeMounts.map((m: any) => m.mountPath);
    for (const [, mountPath] of mounted) expect(mounts).toContain(mountPath);
  });

  it("names only values that exist", () => {
    const keys = [
      ...[...section.matchAll(/--set(?:-file)? ([A-Za-z.]+)=/g)].map((m) => m[1]!),
      ...[...section.matchAll(/`((?:redis|secrets|networkPolicy|serviceMonitor|settings|sidecar|rateLimit|autoscaling|image|breachedPasswords)\.[A-Za-z.]+)`/g)].map((m) => m[1]!),
      ...[...section.matchAll(/`(extraEnv|terminationGracePeriodSeconds|policy)`/g)].map((m) => m[1]!),
    ];
    expect(keys.length).toBeGreaterThan(10);
    const missing = keys.filter((key) => {
      let node: any = values;
      for (const part of key.split(".")) {
        if (node === null || typeof node !== "object" || !(part in node)) return true;
        node = node[part];
      }
      return false;
    });
    expect(missing).toEqual([]);
  });

  it("refers only to files that exist", () => {
    expect(missingFiles(section)).toEqual([]);
  });
});

/** Repository paths a document names (examples/…, test/…) that do not exist. */
function missingFiles(text: string): string[] {
  const files = [...text.matchAll(/\b((?:examples|k8s|charts|test|scripts|docs)\/[A-Za-z0-9_./-]*[A-Za-z0-9_-])/g)].map((m) => m[1]!);
  return files.filter((file) => !fs.existsSync(path.join(REPO, file)));
}

describe("docs/verification.md", () => {
  it("names only tests and files that exist", () => {
    const text = readRepoFile("docs/verification.md");
    expect(text).toContain("test/deploy/chart.test.ts");
    expect(missingFiles(text)).toEqual([]);
  });
});
