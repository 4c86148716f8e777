/**
 * Hot reload through the running service: a ConfigMap-style directory is edited while a client
 * sends Checks; the decisions carry the new version, and a broken edit changes nothing.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startTestApp } from "../support/app.js";
import { ConfigMapMount } from "../support/configmap.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath } from "../support/policies.js";

const example = readFileSync(examplePolicyPath, "utf8");
let mount: string;
let configMap: ConfigMapMount;
let app: App;
let client: EnvoyAuthzClient;

const publish = (text: string) => configMap.publish({ "policy.yaml": text });

async function versionInForce(): Promise<unknown> {
  return metadata(await client.check({ path: "/static/x.css", ip: "192.0.2.1" })).policy_version;
}

beforeAll(async () => {
  mount = mkdtempSync(join(tmpdir(), "palisade-configmap-"));
  configMap = new ConfigMapMount(mount);
  publish(example);
  app = await startTestApp({ policy: mount });
  client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  client?.close();
  await app?.stop();
  rmSync(mount, { recursive: true, force: true });
});

it("applies a valid edit within 2 s and keeps the last good policy on a broken one", async () => {
  expect(await versionInForce()).toBe("2026-11-24.1");

  publish(example.replace('version: "2026-11-24.1"', 'version: "2026-11-24.2"'));
  await expect.poll(versionInForce, { timeout: 2000, interval: 100 }).toBe("2026-11-24.2");

  publish(example.replace("threshold: 10", "treshold: 10"));
  const readiness = async () =>
    ((await (await fetch(`http://127.0.0.1:${app.adminPort}/readyz`)).json()) as { checks: Record<string, { ok: boolean; detail?: string }> })
      .checks.policyReload;
  await expect.poll(readiness, { timeout: 2000, interval: 100 }).toMatchObject({ ok: false });
  expect((await readiness())?.detail).toContain("treshold");
  expect(await versionInForce()).toBe("2026-11-24.2");
  expect(await app.metrics.metricsText()).toMatch(/palisade_policy_reloads_total\{result="rejected"\} 1/);
});
