/**
 * Hot reload of the rate-limit configuration through the running service: a ConfigMap-style
 * directory is edited while a client asks; a valid edit takes effect, a broken one changes
 * nothing and shows in /readyz and the metrics.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { RateLimitConfigError } from "../../src/ratelimit/config.js";
import { startTestApp } from "../support/app.js";
import { ConfigMapMount } from "../support/configmap.js";
import { descriptor, envoyRateLimitClient, type EnvoyRateLimiter } from "../support/envoy-ratelimit-client.js";

const config = (requests: number) => `domain: edge\ndescriptors:\n  - key: remote_address\n    rate_limit: { unit: hour, requests_per_unit: ${requests} }\n`;
let mount: string;
let configMap: ConfigMapMount;
let app: App;
let client: EnvoyRateLimiter;
let asked = 0;

const publish = (text: string) => configMap.publish({ "ratelimit.yaml": text });

async function limitInForce(): Promise<number | undefined> {
  asked += 1; // a new address each time: the limit, not the count, is what is read
  const answer = await client.shouldRateLimit({ domain: "edge", descriptors: [descriptor(["remote_address", `192.0.2.${asked % 250}`])] });
  return answer.statuses[0]?.current_limit?.requests_per_unit;
}

beforeAll(async () => {
  mount = mkdtempSync(join(tmpdir(), "palisade-ratelimit-configmap-"));
  configMap = new ConfigMapMount(mount);
  publish(config(10));
  app = await startTestApp({ ratelimitConfig: mount });
  client = envoyRateLimitClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  client?.close();
  await app?.stop();
  rmSync(mount, { recursive: true, force: true });
});

it("applies a valid edit within 2 s and keeps the last good configuration on a broken one", async () => {
  expect(await limitInForce()).toBe(10);

  publish(config(25));
  await expect.poll(limitInForce, { timeout: 2000, interval: 100 }).toBe(25);

  publish(config(40).replace("rate_limit", "ratelimit"));
  const readiness = async () =>
    ((await (await fetch(`http://127.0.0.1:${app.adminPort}/readyz`)).json()) as { checks: Record<string, string> }).checks.rateLimitReload;
  await expect.poll(readiness, { timeout: 2000, interval: 100 }).toBe("rejected");
  expect(app.rateLimitConfig?.status().lastError?.issues.map((issue) => issue.message).join("\n")).toContain(
    'unknown key (did you mean "rate_limit"?)',
  );
  expect(await limitInForce()).toBe(25);
  const metrics = await app.metrics.metricsText();
  expect(metrics).toContain("ratelimit_service_config_load_success 1");
  expect(metrics).toContain("ratelimit_service_config_load_error 1");
});

it("refuses to start on an invalid configuration, as it does on an invalid policy", async () => {
  const file = join(mount, "broken.yaml");
  writeFileSync(file, "domain: edge\ndescriptors: [{ key: ip, rate_limit: { unit: fortnight, requests_per_unit: 1 } }]\n");
  await expect(startTestApp({ ratelimitConfig: file })).rejects.toBeInstanceOf(RateLimitConfigError);
});
