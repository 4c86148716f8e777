import { startApp, type App, type AppOptions } from "../../src/app/start.js";
import { resolveSettings, type SettingsInput } from "../../src/settings/settings.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { envoyAccessLogClient, envoyAuthzClient, type EnvoyAccessLogClient, type EnvoyAuthzClient } from "./envoy-client.js";
import { examplePolicyPath } from "./policies.js";

/**
 * A rule budget far past the server's: on a machine shared by many test processes a Check can
 * be descheduled mid-evaluation, and a detection test must not depend on that.
 */
const TEST_RULE_BUDGET_MS = 10_000;

/** A fixed test key: tests compare pseudonyms, so they must be stable. */
export const TEST_PSEUDONYM_KEY = "test-key-0123456789abcdef0123456789abcdef";

/**
 * Starts the whole service on free ports, as `palisade serve` would, with quiet logs. The store
 * timeout is a second, not the production 50 ms: on a loaded test machine a slow Redis reply
 * would otherwise send fail-closed endpoints into their outage answer and fail unrelated tests.
 * Outage tests kill Redis, which fails calls at once whatever the timeout. No warm-up
 * decisions (test/integration/warm-up.test.ts covers them): they would only slow every start.
 */
export function startTestApp(overrides: SettingsInput = {}, options: AppOptions = {}): Promise<App> {
  const settings = resolveSettings(
    { grpcPort: 0, adminPort: 0, challengePort: 0, grpcHost: "127.0.0.1", adminHost: "127.0.0.1", challengeHost: "127.0.0.1", pseudonymKey: TEST_PSEUDONYM_KEY, shutdownGrace: 2000, storeTimeout: 1000, warmUpDecisions: 0, ...overrides },
    {},
    { policy: examplePolicyPath },
  );
  return startApp(settings, { logger: createLogger({ level: "silent" }), policyReloadOffThread: false, ruleBudgetMs: TEST_RULE_BUDGET_MS, ...options });
}

/** The service on a private redis-server, with the clients Envoy would use for Checks and access logs. */
export interface EnvoyFacingServices {
  app: App;
  authz: EnvoyAuthzClient;
  logs: EnvoyAccessLogClient;
  stop(): Promise<void>;
}

export async function startWithRedisAndEnvoyClients(overrides: SettingsInput = {}): Promise<EnvoyFacingServices> {
  const redis = await startRedisServer();
  const app = await startTestApp({ redisUrl: redis.url, trustEventTime: true, ...overrides }).catch(async (error: unknown) => {
    await redis.stop();
    throw error;
  });
  const authz = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  const logs = envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`);
  return {
    app,
    authz,
    logs,
    async stop() {
      authz.close();
      logs.close();
      await app.stop();
      await redis.stop();
    },
  };
}

/** Several instances of the service on one private redis-server, each with the clients Envoy would use. */
export interface ReplicasOnRedis {
  replicas: App[];
  authz: EnvoyAuthzClient[];
  logs: EnvoyAccessLogClient[];
  stop(): Promise<void>;
}

export async function startReplicasOnRedis(count: number, overrides: SettingsInput = {}): Promise<ReplicasOnRedis> {
  const redis = await startRedisServer();
  const started = await Promise.allSettled(Array.from({ length: count }, () => startTestApp({ redisUrl: redis.url, trustEventTime: true, ...overrides })));
  const replicas = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await Promise.all(replicas.map((app) => app.stop()));
    await redis.stop();
    throw failed.reason;
  }
  const authz = replicas.map((app) => envoyAuthzClient(`127.0.0.1:${app.grpcPort}`));
  const logs = replicas.map((app) => envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`));
  return {
    replicas,
    authz,
    logs,
    async stop() {
      for (const client of [...authz, ...logs]) client.close();
      await Promise.all(replicas.map((app) => app.stop()));
      await redis.stop();
    },
  };
}
