import { RULE_EVALUATION_BUDGET_MS } from "../pipeline/pipeline.js";
import { RateLimitConfigSource } from "../ratelimit/config-source.js";
import { systemClock, type Clock } from "../domain/clock.js";
import type { PolicySource } from "../policy/policy-source.js";
import type { ResponseEngine } from "../response/engine.js";
import { redactedSettings, type Settings } from "../settings/settings.js";
import type { Store } from "../state/store.js";
import { createLogger, type Logger } from "../telemetry/logger.js";
import { createMetrics, type Metrics } from "../telemetry/metrics.js";
import { createResponseMetrics } from "../telemetry/response-metrics.js";
import { startTracing } from "../telemetry/tracing.js";
import type { AdminServer } from "../transport/http/admin.js";
import { createChallengeServer } from "../transport/http/challenge.js";
import { createDecisionCore } from "./decision-core.js";
import { createEnvoyServer } from "./grpc.js";
import { createHttpServer } from "./http.js";
import { readiness } from "./readiness.js";
import { openWebhooks } from "./webhooks.js";

/** A running Palisade: the one place that picks concrete adapters and wires them together. */
export interface App {
  grpcPort: number;
  adminPort: number;
  /** The admin HTTP server, for tests and tools that describe its routes. */
  admin: AdminServer;
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
  /** Policy reloads parse on a worker thread (default); false keeps them on the event loop (tests). */
  policyReloadOffThread?: boolean;
  /** Rule evaluation budget per Check, RULE_EVALUATION_BUDGET_MS by default. */
  ruleBudgetMs?: number;
  clock?: Clock;
}

export async function startApp(settings: Settings, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: settings.logLevel });
  const clock = options.clock ?? systemClock;
  logger.info({ settings: redactedSettings(settings) }, "starting palisade");
  const tracing = await startTracing({ serviceName: "palisade", logger });
  const metrics = createMetrics();

  // The gauges read the engine at scrape time; it exists once the core is built.
  const built: { engine?: ResponseEngine } = {};
  const instruments = createResponseMetrics(metrics.registry, () =>
    built.engine && {
      quarantines: () => built.engine!.quarantines.list().map((entry) => entry.value),
      controls: () => built.engine!.controls.list(),
      webhookQueue: () => webhooks?.pending ?? 0,
    },
  );
  const webhooks = await openWebhooks(settings, (result, type) => instruments.delivery(result, type));
  const core = await createDecisionCore(settings, {
    logger,
    clock,
    metrics,
    policyReloadOffThread: options.policyReloadOffThread,
    ruleBudgetMs: options.ruleBudgetMs ?? RULE_EVALUATION_BUDGET_MS,
    response: {
      observer: instruments.observer((policy) => metrics.setActivePolicy(policy)),
      // State changes are published from the audit trail (one replica each); anomalies, which
      // are not audited, from this replica's own events.
      listeners: webhooks ? [(event, atMs, meta) => event.type.startsWith("anomaly.") && webhooks.handle(event, atMs, meta)] : [],
      trailListeners: webhooks ? [(entry) => webhooks.handleRecord(entry)] : [],
    },
  }).catch((error: unknown) => {
    webhooks?.close();
    throw error;
  });
  built.engine = core.engine;
  const rateLimitConfig = await startRateLimitConfig(settings, logger, metrics).catch(async (error: unknown) => {
    webhooks?.close();
    await core.stop();
    throw error;
  });
  const store = core.stores.store;
  const grpcServer = createEnvoyServer({ settings, core, rateLimitConfig, clock, metrics, logger });
  const admin = await createHttpServer({ settings, core, clock, metrics, logger, readiness: () => readiness(core.policy, store, rateLimitConfig) });
  const challengeServer = await createChallengeServer({
    host: settings.challengeHost,
    port: settings.challengePort,
    challenges: core.challenges,
    policy: () => core.policy.current(),
    logger,
  });
  const grpcPort = await grpcServer.listen();
  const adminPort = await admin.listen();
  const challengePort = await challengeServer.listen();
  logger.info({ grpcPort, adminPort, challengePort, store: store.kind, policy: core.policy.status(), rateLimits: rateLimitConfig?.status() }, "palisade ready");

  return {
    grpcPort,
    adminPort,
    admin,
    challengePort,
    logger,
    metrics,
    policy: core.policy,
    ...(rateLimitConfig ? { rateLimitConfig } : {}),
    store,
    async stop() {
      logger.info({ graceMs: settings.shutdownGrace }, "shutting down");
      await Promise.all([grpcServer.shutdown(settings.shutdownGrace), admin.close(), challengeServer.close()]);
      await rateLimitConfig?.stop();
      webhooks?.close();
      await core.stop();
      await tracing.shutdown();
      logger.info("stopped");
    },
  };
}

/** Loads the rate-limit configuration when one is set; like the policy, an invalid one stops start-up. */
async function startRateLimitConfig(settings: Settings, logger: Logger, metrics: Metrics): Promise<RateLimitConfigSource | undefined> {
  if (!settings.ratelimitConfig) {
    logger.info("no rate-limit configuration: ShouldRateLimit is not served");
    return undefined;
  }
  const source = new RateLimitConfigSource({
    location: settings.ratelimitConfig,
    mergeDomains: settings.ratelimitMergeDomains,
    logger,
    onReload: (result) => (result.ok ? metrics.rateLimit.configLoadSuccess : metrics.rateLimit.configLoadError).inc(),
  });
  await source.start();
  return source;
}
