/**
 * Hot reload through the running service: a ConfigMap-style directory is edited while a client
 * sends Checks; the decisions carry the new version, and a broken edit changes nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Writable } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { startTestApp } from "../support/app.js";
import { ConfigMapMount } from "../support/configmap.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath } from "../support/policies.js";

const example = readFileSync(examplePolicyPath, "utf8");
let mount: string;
let secrets: string;
let logText = "";
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
  secrets = mkdtempSync(join(tmpdir(), "palisade-secrets-"));
  const logs = new Writable({ write: (chunk: Buffer, _encoding, done) => ((logText += chunk.toString("utf8")), done()) });
  app = await startTestApp({ policy: mount }, { logger: createLogger({ level: "debug", destination: logs }) });
  client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  client?.close();
  await app?.stop();
  rmSync(mount, { recursive: true, force: true });
  rmSync(secrets, { recursive: true, force: true });
});

const readyz = async () => (await fetch(`http://127.0.0.1:${app.adminPort}/readyz`)).text();

it("applies a valid edit within 2 s and keeps the last good policy on a broken one", async () => {
  expect(await versionInForce()).toBe("2026-11-24.1");

  publish(example.replace('version: "2026-11-24.1"', 'version: "2026-11-24.2"'));
  await expect.poll(versionInForce, { timeout: 2000, interval: 100 }).toBe("2026-11-24.2");

  publish(example.replace("threshold: 10", "treshold: 10"));
  const readiness = async () => (JSON.parse(await readyz()) as { checks: Record<string, string> }).checks.policyReload;
  await expect.poll(readiness, { timeout: 2000, interval: 100 }).toBe("rejected");
  expect(await readyz()).not.toContain("treshold");
  expect(logText).toContain("treshold");
  expect(await versionInForce()).toBe("2026-11-24.2");
  expect(await app.metrics.metricsText()).toMatch(/palisade_policy_reloads_total\{result="rejected"\} 1/);
});

it("never reads a list file outside the policy's directory, so no file content reaches /readyz or the log", async () => {
  const tokens = join(secrets, "admin-tokens.yaml");
  writeFileSync(tokens, `- token: s3cret-admin-token-0123456789\n  role: admin\n${"x".repeat(10_000)}\n`);
  const listed = example.replace(
    "cidrs: [203.0.113.0/28]",
    `cidrs: [203.0.113.0/28]\n        files: [${JSON.stringify(tokens)}]`,
  );
  publish(listed.replace('version: "2026-11-24.1"', 'version: "2026-11-24.3"'));
  await expect.poll(() => logText.includes("outside the allowed policy file roots"), { timeout: 2000, interval: 100 }).toBe(true);
  const answer = await readyz();
  expect(answer.length).toBeLessThan(300);
  for (const text of [answer, logText]) {
    expect(text).not.toContain("s3cret-admin-token");
    expect(text).not.toContain("xxxxxxxx");
  }
  expect(await versionInForce()).toBe("2026-11-24.2");
});

it("shows the warnings of the policy in force in /readyz and the metrics, and stays ready", async () => {
  const unmarked = example.replace(/\n\s*createdHeader: .*\n/, "\n");
  expect(unmarked).not.toContain("createdHeader");
  publish(unmarked.replace('version: "2026-11-24.1"', 'version: "2026-11-24.4"'));
  await expect.poll(versionInForce, { timeout: 2000, interval: 100 }).toBe("2026-11-24.4");
  const response = await fetch(`http://127.0.0.1:${app.adminPort}/readyz`);
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ status: "ok", checks: { policy: "ok" }, warnings: { policy: 1 } });
  expect(await app.metrics.metricsText()).toContain("palisade_policy_warnings 1");
  expect(logText).toContain("policy loaded with warnings");

  publish(example.replace('version: "2026-11-24.1"', 'version: "2026-11-24.5"'));
  await expect.poll(versionInForce, { timeout: 2000, interval: 100 }).toBe("2026-11-24.5");
  expect(await readyz()).not.toContain("warnings");
  expect(await app.metrics.metricsText()).toContain("palisade_policy_warnings 0");
});
