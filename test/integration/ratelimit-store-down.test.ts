/**
 * ShouldRateLimit when Redis dies: each domain's failure_mode decides, never an accidental OK,
 * and the service recovers on its own when Redis is back.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { privateRedisUnsupported, startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { descriptor, envoyRateLimitClient, rateLimitMetadata, type EnvoyRateLimiter } from "../support/envoy-ratelimit-client.js";

const NOON = Date.UTC(2026, 10, 24, 12, 0, 0);
const domainFile = (domain: string, failureMode?: string) =>
  [
    `domain: ${domain}`,
    ...(failureMode ? [`failure_mode: ${failureMode}`] : []),
    "descriptors:",
    "  - key: remote_address",
    "    rate_limit: { unit: hour, requests_per_unit: 2 }",
    "  - key: monitor",
    "    rate_limit: { unlimited: true }",
  ].join("\n");

let redis: RedisServerHandle;
let app: App;
let client: EnvoyRateLimiter;
let configDir: string;

beforeAll(async () => {
  configDir = mkdtempSync(join(tmpdir(), "palisade-ratelimit-down-"));
  writeFileSync(join(configDir, "strict.yaml"), domainFile("strict"));
  for (const mode of ["open", "closed", "local"]) writeFileSync(join(configDir, `${mode}.yaml`), domainFile(mode, mode));
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, ratelimitConfig: configDir, storeTimeout: 1_000 }, { clock: { now: () => NOON } });
  client = envoyRateLimitClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  client?.close();
  await app?.stop();
  await redis?.stop();
  rmSync(configDir, { recursive: true, force: true });
});

const ask = (domain: string, ip = "192.0.2.10") => client.shouldRateLimit({ domain, descriptors: [descriptor(["remote_address", ip])] });

it.skipIf(privateRedisUnsupported)("answers by each domain's failure_mode while Redis is dead, then recovers", async () => {
  expect((await ask("strict")).overall_code).toBe("OK");
  await redis.kill();

  // Default: a gRPC error, so that Envoy's failure_mode_deny decides — not an OK by accident.
  await expect(ask("strict")).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
  const unlimited = await client.shouldRateLimit({ domain: "strict", descriptors: [descriptor(["monitor", "probe"])] });
  expect(unlimited.overall_code).toBe("OK"); // nothing to count, nothing to fail

  const open = await ask("open");
  expect(open).toMatchObject({ overall_code: "OK", statuses: [{ code: "OK", current_limit: null }] });
  expect(rateLimitMetadata(open)).toMatchObject({ degraded: true });

  const closed = await ask("closed");
  expect(closed).toMatchObject({ overall_code: "OVER_LIMIT", statuses: [{ code: "OVER_LIMIT", current_limit: { requests_per_unit: 2 } }] });

  const local = [await ask("local", "192.0.2.99"), await ask("local", "192.0.2.99"), await ask("local", "192.0.2.99")];
  expect(local.map((answer) => answer.overall_code)).toEqual(["OK", "OK", "OVER_LIMIT"]);
  expect(await app.metrics.metricsText()).toMatch(/palisade_ratelimit_store_unavailable_total\{domain="strict",failure_mode="error"\} [1-9]/);

  await redis.start();
  await expect.poll(() => ask("strict", "192.0.2.11").then((answer) => answer.overall_code, () => "UNAVAILABLE"), { timeout: 5_000 }).toBe("OK");
});
