import { KEEP_UP_EVERY_MS } from "../detection/cadence.js";
import { RULE_EVALUATION_BUDGET_MS } from "../pipeline/pipeline.js";
import { keepUp, type DetectionState } from "../pipeline/signals.js";
import { RateLimitConfigSource } from "../ratelimit/config-source.js";
import { systemClock, type Clock } from "../domain/clock.js";
import type { PolicySource } from "../policy/policy-source.js";
import type { ResponseEngine } from "../response/engine.js";
import { redactedSettings, type Settings } from "../settings/settings.js";
import type { Store } from "../state/store.js";
import { watchEventLoopDelay } from "../telemetry/event-loop-delay.js";
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
import type { ReputationFeeds } from "./reputation-feeds.js";
import { warmUp } from "./warm-up.js";
import { joinPod, workerId } from "./workers.js";
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
  /** Reputation feeds the policy names (status, and a refresh on demand). */
  feeds: ReputationFeeds;
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
  /** Set in a worker of several (the `workers` setting): logs name it, /metrics answers for the whole pod. */
  worker?: boolean;
  /** How often shared-map copies compare versions as a backstop to announcements; 5 s when absent. Tests set it far off. */
  replicaCheckMs?: number;
}

export async function startApp(settings: Settings, options: AppOptions = {}): Promise<App> {
  const rootLogger = options.logger ?? createLogger({ level: settings.logLevel, format: settings.logFormat });
  const logger = options.worker ? rootLogger.child({ worker: workerId() }) : rootLogger;
  const clock = options.clock ?? systemClock;
  logger.info({ settings: redactedSettings(settings) }, "starting palisade");
  const tracing = await startTracing({ serviceName: "palisade", logger });
  const metrics = createMetrics();
  const stopLoopDelay = watchEventLoopDelay(metrics.eventLoopDelay);
  const pod = options.worker ? joinPod(metrics.registry) : undefined;
  if (pod) metrics.metricsText = pod.podMetrics;

  // The gauges read the engine at scrape time; it exists once the core is built.
  const built: { engine?: ResponseEngine; webhooks?: Awaited<ReturnType<typeof openWebhooks>> } = {};
  const instruments = createResponseMetrics(metrics.registry, () =>
    built.engine && {
      quarantines: () => built.engine!.quarantines.held().map((entry) => entry.value),
      controls: () => built.engine!.controls.list(),
      webhookQueue: () => built.webhooks?.pending ?? 0,
    },
  );
  // What has started so far, stopped in reverse order when a later step fails: a process that
  // cannot open every listener exits instead of serving half (gRPC SERVING, no /readyz).
  const started: (() => Promise<void> | void)[] = [() => tracing.shutdown(), stopLoopDelay];
  const unwind = async () => {
    for (const stop of started.reverse()) await Promise.resolve().then(stop).catch(() => {});
  };
  try {
    const webhooks = await openWebhooks(settings, (result, type) => instruments.delivery(result, type));
    built.webhooks = webhooks;
    if (webhooks) started.push(() => webhooks.close());
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
        replicaCheckMs: options.replicaCheckMs,
      },
    });
    started.push(() => core.stop());
    built.engine = core.engine;
    const rateLimitConfig = await startRateLimitConfig(settings, logger, metrics);
    if (rateLimitConfig) started.push(() => rateLimitConfig.stop());
    const store = core.stores.store;
    // Warm before ready: no port opens (so no probe says ready) until the Check path has run hot.
    const warm = await warmUp(core, settings, clock, settings.warmUpDecisions, rateLimitConfig);
    // The replica's first site-wide merge (every endpoint's counts and baselines) and its first
    // exchange turns (the other replicas' publications) are done here, and kept up on a timer
    // while no Check asks, not by the first Check, which waited for them (0.9 of its 1.2 ms of
    // CPU over a later Check: bench/first-checks-cpu.ts; 3 to 5 script calls against 1: branch
    // `tail`). Ready then also means it has them. Not when requests bring their own time (replay
    // through the server): merges and turns follow event time, which may then lie hours before
    // the clock, and one stamped now would hold back the next ones.
    const keeper = settings.trustEventTime ? undefined : startKeeper(core.detection, core.policy, clock);
    await keeper?.first;
    if (keeper) started.push(() => keeper.stop());
    const grpcServer = createEnvoyServer({ settings, core, rateLimitConfig, clock, metrics, logger });
    started.push(() => grpcServer.shutdown(0));
    const admin = await createHttpServer({ settings, core, clock, metrics, logger, readiness: () => readiness(core.policy, store, rateLimitConfig, core.feeds) });
    started.push(() => admin.close());
    const challengeServer = await createChallengeServer({
      host: settings.challengeHost,
      port: settings.challengePort,
      challenges: core.challenges,
      policy: () => core.policy.current(),
      logger,
    });
    started.push(() => challengeServer.close());
    if (!settings.adminTokensFile) logAnalystAccessHint(logger);
    const grpcPort = await listenOn("grpc", settings.grpcHost, settings.grpcPort, () => grpcServer.listen());
    const adminPort = await listenOn("admin", settings.adminHost, settings.adminPort, () => admin.listen());
    const challengePort = await listenOn("challenge", settings.challengeHost, settings.challengePort, () => challengeServer.listen());
    logger.info({ grpcPort, adminPort, challengePort, warmUp: warm, store: store.kind, policy: core.policy.status(), rateLimits: rateLimitConfig?.status() }, "palisade ready");
    pod?.ready(grpcPort);

    return {
      grpcPort,
      adminPort,
      admin,
      challengePort,
      logger,
      metrics,
      policy: core.policy,
      feeds: core.feeds,
      ...(rateLimitConfig ? { rateLimitConfig } : {}),
      store,
      async stop() {
        logger.info({ graceMs: settings.shutdownGrace }, "shutting down");
        await Promise.all([grpcServer.shutdown(settings.shutdownGrace), admin.close(), challengeServer.close()]);
        await rateLimitConfig?.stop();
        webhooks?.close();
        await keeper?.stop();
        await core.stop();
        await tracing.shutdown();
        stopLoopDelay();
        logger.info("stopped");
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

/**
 * The replica's periodic store work off the Check path (pipeline/signals.ts keepUp): once now,
 * then every KEEP_UP_EVERY_MS; `stop` ends it and waits for the last round.
 */
function startKeeper(detection: DetectionState, policy: PolicySource, clock: Clock): { first: Promise<unknown>; stop(): Promise<void> } {
  // A store that fails is the Checks' to report (degraded answers, metrics); the keeper tries again.
  const keep = () => keepUp(detection, policy.current(), clock.now()).catch(() => {});
  let last = keep();
  const timer = setInterval(() => (last = keep()), KEEP_UP_EVERY_MS);
  timer.unref();
  return {
    first: last,
    async stop() {
      clearInterval(timer);
      await last;
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

/** A listener that could not open: names the port, the cause and the setting that moves it. */
export class ListenError extends Error {
  constructor(
    readonly listener: string,
    readonly address: string,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(ListenError.describe(listener, address, code, cause), { cause });
    this.name = "ListenError";
  }

  private static describe(listener: string, address: string, code: string | undefined, cause: unknown): string {
    const setting = `--${listener}-port or PALISADE_${listener.toUpperCase()}_PORT`;
    const reason =
      code === "EADDRINUSE"
        ? "the address is already in use (another process holds the port)"
        : code === "EACCES"
          ? "permission denied (ports below 1024 need privileges)"
          : code === "EADDRNOTAVAIL"
            ? `the host is not an address of this machine (--${listener}-host)`
            : cause instanceof Error
              ? cause.message
              : String(cause);
    return `cannot listen on the ${listener} port ${address}: ${reason}; choose another with ${setting}`;
  }
}

/**
 * Opens one listener; a failure becomes a ListenError. grpc-js reports a bind failure as a
 * message ("No address added out of total 1 resolved errors: [listen EADDRINUSE ...]"), not
 * a code, so the code is also looked for in the message.
 */
async function listenOn(listener: string, host: string, port: number, listen: () => Promise<number>): Promise<number> {
  try {
    return await listen();
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    const code = (error as NodeJS.ErrnoException).code ?? /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(text)?.[1];
    throw new ListenError(listener, `${host}:${port}`, typeof code === "string" ? code : undefined, error);
  }
}

/**
 * First run without a tokens file: the analyst API answers 401 to everyone, so say once how to
 * get in (which file, its format, the setting that names it) rather than leave it to the docs.
 */
function logAnalystAccessHint(logger: Logger): void {
  logger.warn(
    {
      howTo: [
        "write a file, e.g. palisade-tokens.yaml, readable only by you:",
        "  tokens:",
        "    - { name: you, role: admin, token: <24 or more random characters> }",
        "  (a token: node -e \"console.log(require('node:crypto').randomBytes(24).toString('base64url'))\")",
        "restart with --admin-tokens-file palisade-tokens.yaml (or PALISADE_ADMIN_TOKENS_FILE)",
        "then: palisade decisions list --token <that token>   (roles: viewer, analyst, admin, reporter)",
      ],
      docs: "docs/analyst-api.md",
    },
    "no admin tokens file (adminTokensFile): the analyst API and POST /v1/outcomes answer 401 to every caller",
  );
}
