/**
 * Hot reload through the running service: a ConfigMap-style directory is edited while a client
 * sends Checks; the decisions carry the new version, and a broken edit changes nothing.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath } from "../support/policies.js";

const example = readFileSync(examplePolicyPath, "utf8");
let mount: string;
let generation = 0;
let app: App;
let client: EnvoyAuthzClient;

/** Publishes `text` the way kubelet does: a new timestamped dir, then an atomic `..data` swap. */
function publish(text: string): void {
  generation += 1;
  const dir = `..2026_11_24_${generation}`;
  mkdirSync(join(mount, dir));
  writeFileSync(join(mount, dir, "policy.yaml"), text);
  symlinkSync(dir, join(mount, "..data_tmp"));
  renameSync(join(mount, "..data_tmp"), join(mount, "..data"));
}

async function versionInForce(): Promise<unknown> {
  return metadata(await client.check({ path: "/static/x.css", ip: "192.0.2.1" })).policy_version;
}

beforeAll(async () => {
  mount = mkdtempSync(join(tmpdir(), "palisade-configmap-"));
  publish(example);
  symlinkSync("..data/policy.yaml", join(mount, "policy.yaml"));
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
