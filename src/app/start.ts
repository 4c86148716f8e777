import { readFile, stat } from "node:fs/promises";
import { startChallenges } from "./challenge.js";
import { startResponse } from "./response.js";
import { loadHashFile, prefixDirectory, type BreachedPasswordList } from "../detection/breached-passwords.js";
import { LoginOutcomeRecorder } from "../detection/login-outcomes.js";
import { createDetectionState, createPipeline } from "../pipeline/pipeline.js";
import { PolicySource } from "../policy/policy-source.js";
import { RateLimitConfigSource } from "../ratelimit/config-source.js";
import { RateLimiter, type RateLimiterOptions } from "../ratelimit/limiter.js";
import { loadKeyRing } from "../privacy/keys.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { redactedSettings, type Settings } from "../settings/settings.js";
import { MemoryStore } from "../state/memory-store.js";
import { createRedisStore } from "../state/redis/store.js";
import { ResilientStore } from "../state/resilient-store.js";
import type { Store } from "../state/store.js";
import { createDecisionObserver } from "../telemetry/decision-observer.js";
import { createLogger, type Logger } from "../telemetry/logger.js";
import { createMetrics, type Metrics } from "../telemetry/metrics.js";
import { createRateLimitObserver, createRateLimitTelemetry } from "../telemetry/ratelimit-metrics.js";
import { startTracing } from "../telemetry/tracing.js";
import { createAccessLogService } from "../transport/grpc/accesslog/service.js";
import { createAuthorizationService } from "../transport/grpc/authz/service.js";
import type { RateLimitImplementation } from "../transport/grpc/protos.js";
import { createRateLimitService } from "../transport/grpc/ratelimit/service.js";
import { createHealthService } from "../transport/grpc/health.js";
import { createGrpcServer } from "../transport/grpc/server.js";
import { createAdminServer, type ReadinessReport } from "../transport/http/admin.js";
import { TokenAuthenticator } from "../transport/http/auth.js";
import { registerOutcomeEndpoint } from "../transport/http/outcomes.js";

/** A running Palisade: the one place that picks concrete adapters and wires them together. */
export interface App {
  grpcPort: number;
  adminPort: number;
  /** The challenge listener Envoy routes clients to (widget script, verify endpoint). */
  challengePort: number;
  logger: Logger;
  metrics: Metrics;
  policy: PolicySource;
  /** Absent when no rate-limit configuration is set: ShouldRateLimit is then not served. */
  rateLimitConfig?: RateLimitConfigSource;
  store: Store;
  /** Stops accepting, finishes in-flight calls within the shutdown grace, closes the store. */
  stop(): Promise<void>;
}

export interface AppOptions {
  logger?: Logger;
  clock?: { now(): number };
}

/** How often mounted key files are re-read, so a rotated Secret takes effect without a restart. */
const KEY_REFRESH_MS = 30_000;

export async function startApp(settings: Settings, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: settings.logLevel });
  const clock = options.clock ?? { now: () => Date.now() };
  logger.info({ settings: redactedSettings(settings) }, "starting palisade");
  const tracing = await startTracing({ serviceName: "palisade", logger });
  const metrics = createMetrics();

  const pseudonymiser = await startPseudonymiser(settings, clock, logger);
  const policy = new PolicySource({
    location: settings.policy,
    logger,
    onReload: (result) => {
      metrics.policyReloads.inc({ result: result.ok ? "success" : "rejected" });
      if (result.ok) metrics.setActivePolicy(result.policy);
    },
  });
  metrics.setActivePolicy(await policy.start());
  const rateLimitConfig = await startRateLimitConfig(settings, logger, metrics).catch(async (error: unknown) => {
    clearInterval(pseudonymiser.refresh);
    await policy.stop();
    throw error;
  });
  const store = await openStore(settings, logger, metrics);
  const response = await startResponse({ settings, store, policy, metrics, logger, clock });
  const challenge = await startChallenges({ settings, store, policy, metrics, events: response.engine.events, logger, clock });

  const detection = createDetectionState(store, await openBreachedPasswords(settings.breachedPasswords, logger));
  const outcomes = new LoginOutcomeRecorder({
    store,
    policy: () => policy.current(),
    recent: detection.recent,
    site: detection.site,
    pseudonymiser: pseudonymiser.instance,
    onRecorded: (outcome) => metrics.loginOutcomes.inc({ outcome }),
    onIgnored: (reason) => metrics.loginOutcomes.inc({ outcome: `ignored_${reason}` }),
  });
  const pipeline = createPipeline({
    store,
    detection,
    pseudonymiser: pseudonymiser.instance,
    policy: () => policy.current(),
    clock,
    eventTime: { maxSkewMs: settings.maxClockSkew, trust: settings.trustEventTime },
    onRuleError: (rule) => metrics.ruleErrors.inc({ rule }),
    responder: response.engine.responder,
    passes: challenge.challenges.passes,
  });
  const observer = createDecisionObserver({ metrics, logger });
  const health = createHealthService(() => "SERVING");
  const grpcServer = createGrpcServer({
    host: settings.grpcHost,
    port: settings.grpcPort,
    authorization: createAuthorizationService({ pipeline, policy: () => policy.current(), observer, challenges: challenge.challenges }),
    accessLog: createAccessLogService({
      outcomes,
      onEntry: (result) => metrics.accessLogEntries.inc({ result }),
      onStreamError: (error) => logger.debug({ err: error }, "access-log stream ended with an error"),
    }),
    rateLimit:
      rateLimitConfig &&
      rateLimitService(
        { config: rateLimitConfig, store, clock, pseudonymise: (identity) => pseudonymiser.instance.pseudonymise("ratelimit", identity) },
        { metrics, logger, decisions: observer },
      ),
    health,
  });
  const admin = createAdminServer({
    host: settings.adminHost,
    port: settings.adminPort,
    metrics,
    logger,
    readiness: () => readiness(policy, store, rateLimitConfig),
  });
  const auth = await TokenAuthenticator.fromFile(settings.adminTokensFile);
  registerOutcomeEndpoint({
    admin,
    auth,
    recorder: outcomes,
    policy: () => policy.current(),
    pseudonymiser: pseudonymiser.instance,
    clock,
    relief: (kind, subjects, timeMs) => response.engine.recordRelief(kind, subjects, timeMs),
  });
  response.registerRoutes(admin, auth, pseudonymiser.instance);
  const grpcPort = await grpcServer.listen();
  const adminPort = await admin.listen();
  const challengePort = await challenge.server.listen();
  logger.info({ grpcPort, adminPort, challengePort, store: store.kind, policy: policy.status(), rateLimits: rateLimitConfig?.status() }, "palisade ready");

  return {
    grpcPort,
    adminPort,
    challengePort,
    logger,
    metrics,
    policy,
    ...(rateLimitConfig ? { rateLimitConfig } : {}),
    store,
    async stop() {
      logger.info({ graceMs: settings.shutdownGrace }, "shutting down");
      clearInterval(pseudonymiser.refresh);
      await Promise.all([grpcServer.shutdown(settings.shutdownGrace), admin.close(), challenge.server.close()]);
      await Promise.all([policy.stop(), rateLimitConfig?.stop()]);
      await response.stop();
      await store.close();
      await tracing.shutdown();
      logger.info("stopped");
    },
  };
}

async function startPseudonymiser(settings: Settings, clock: { now(): number }, logger: Logger) {
  const keySettings = {
    key: settings.pseudonymKey,
    keyFile: settings.pseudonymKeyFile,
    previousKey: settings.pseudonymPreviousKey,
    previousKeyFile: settings.pseudonymPreviousKeyFile,
    graceMs: settings.pseudonymGrace,
  };
  const loaded = await loadKeyRing(keySettings, clock.now());
  if (loaded.generated) {
    logger.warn(
      "no pseudonymisation key configured: generated a random one for this process; pseudonyms change on " +
        "restart and differ between replicas (set PALISADE_PSEUDONYM_KEY_FILE from a Secret)",
    );
  }
  const instance = new HmacPseudonymiser(loaded.ring);
  const refresh = setInterval(() => {
    if (loaded.generated) return;
    loadKeyRing(keySettings, clock.now()).then(
      (next) => instance.rotate(next.ring),
      (error: unknown) => logger.error({ err: error }, "pseudonymisation key refresh failed; keeping current keys"),
    );
  }, KEY_REFRESH_MS);
  refresh.unref();
  return { instance, refresh };
}

/** The breached-password list is data mounted beside the service, never fetched at run time. */
async function openBreachedPasswords(path: string | undefined, logger: Logger): Promise<BreachedPasswordList | undefined> {
  if (!path) return undefined;
  const list = (await stat(path)).isDirectory() ? prefixDirectory(path) : await loadHashFile(path);
  logger.info({ path }, "breached-password list loaded");
  return list;
}

/** Loads the rate-limit configuration when one is set; like the policy, an invalid one stops start-up. */
async function startRateLimitConfig(settings: Settings, logger: Logger, metrics: Metrics): Promise<RateLimitConfigSource | undefined> {
  if (!settings.ratelimitConfig) {
    logger.info("no rate-limit configuration: ShouldRateLimit is not served");
    return undefined;
  }
  const source = new RateLimitConfigSource({
    location: settings.ratelimitConfig,
    logger,
    onReload: (result) => (result.ok ? metrics.rateLimit.configLoadSuccess : metrics.rateLimit.configLoadError).inc(),
  });
  await source.start();
  return source;
}

/**
 * ShouldRateLimit on the store ext_authz uses (same Redis, same fallback, one round trip per
 * call), with counters named by keyed pseudonyms like every other stored identifier.
 */
function rateLimitService(
  parts: { config: RateLimitConfigSource } & Pick<RateLimiterOptions, "store" | "clock" | "pseudonymise">,
  telemetry: Parameters<typeof createRateLimitTelemetry>[0],
): RateLimitImplementation {
  const { config, ...limiterParts } = parts;
  const observer = createRateLimitObserver(telemetry.metrics.rateLimit, telemetry.logger, () => [...config.current().domains.keys()]);
  const limiter = new RateLimiter({ ...limiterParts, config: () => config.current(), observer });
  return createRateLimitService({ limiter, telemetry: createRateLimitTelemetry(telemetry) });
}

async function openStore(settings: Settings, logger: Logger, metrics: Metrics): Promise<Store> {
  if (!settings.redisUrl) {
    logger.info("no REDIS_URL: using the in-memory store (single replica only)");
    return new MemoryStore();
  }
  const password = settings.redisPasswordFile ? (await readFile(settings.redisPasswordFile, "utf8")).trim() : undefined;
  const redis = createRedisStore(settings.redisUrl, {
    commandTimeoutMs: settings.storeTimeout,
    password,
    onConnectionError: (error) => {
      metrics.storeErrors.inc({ store: "redis", kind: "connection" });
      logger.debug({ err: error }, "redis connection error");
    },
  });
  if (!(await redis.waitUntilReady(2_000))) logger.warn("redis not reachable yet: deciding from local state until it is");
  const store = new ResilientStore(redis, new MemoryStore());
  store.onStateChange((change) => {
    metrics.storeDegraded.set(change.degraded ? 1 : 0);
    if (change.degraded) logger.warn({ err: change.cause }, "store unavailable: deciding from local state");
    else logger.info("store reachable again");
  });
  return store;
}

/**
 * Ready means a policy is in force. A store outage is reported but does not fail readiness:
 * decisions go on from local state (DESIGN.md), and pulling every replica out of the Service at
 * once would turn a Redis blip into an ext_authz outage for all of Envoy.
 */
async function readiness(policy: PolicySource, store: Store, rateLimits: RateLimitConfigSource | undefined): Promise<ReadinessReport> {
  const status = policy.status();
  const storeUp = await store.ping();
  const rateLimitStatus = rateLimits?.status();
  return {
    ready: true,
    checks: {
      policy: { ok: true, detail: `${status.name} ${status.version}` },
      policyReload: reloadCheck(status.lastError),
      ...(rateLimitStatus
        ? {
            rateLimits: { ok: true, detail: `domains ${rateLimitStatus.domains.join(", ")}` },
            rateLimitReload: reloadCheck(rateLimitStatus.lastError),
          }
        : {}),
      store: { ok: storeUp, detail: storeUp ? store.kind : `${store.kind} unreachable: deciding from local state` },
    },
  };
}

/** A rejected update does not make the service unready (the last good one is in force), but shows. */
function reloadCheck(lastError: { issues: { path: string; message: string }[] } | undefined): { ok: boolean; detail?: string } {
  if (!lastError) return { ok: true };
  return { ok: false, detail: `last update rejected: ${lastError.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}` };
}
