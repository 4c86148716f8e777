import { readFile } from "node:fs/promises";
import type { PolicySource } from "../policy/policy-source.js";
import type { Pseudonymiser } from "../privacy/pseudonymiser.js";
import { ResponseEngine } from "../response/engine.js";
import { Webhooks } from "../response/webhooks.js";
import type { Settings } from "../settings/settings.js";
import { createRedisResponseBackend } from "../state/redis/shared-backend.js";
import { MemoryResponseBackend, type ResponseBackend } from "../state/shared-backend.js";
import type { Store } from "../state/store.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { createResponseMetrics } from "../telemetry/response-metrics.js";
import type { AdminServer } from "../transport/http/admin.js";
import { registerAnalystApi } from "../transport/http/analyst/index.js";
import type { TokenAuthenticator } from "../transport/http/auth.js";

export interface ResponseDependencies {
  settings: Settings;
  store: Store;
  policy: PolicySource;
  metrics: Metrics;
  logger: Logger;
  clock: { now(): number };
}

export interface ResponseWiring {
  engine: ResponseEngine;
  registerRoutes(admin: AdminServer, auth: TokenAuthenticator, pseudonymiser: Pseudonymiser): void;
  stop(): Promise<void>;
}

/** A new quarantine's shared write may take this many store budgets before a Check stops waiting. */
const QUARANTINE_BUDGET_FACTOR = 2;

/**
 * The response engine's part of the composition root, kept beside start.ts so that start.ts only
 * calls it: the shared backend (the service's Redis when it has one, else memory), webhooks,
 * metrics, and the analyst API.
 */
export async function startResponse(deps: ResponseDependencies): Promise<ResponseWiring> {
  const { settings, logger, metrics } = deps;
  const log = logger.child({ component: "response" });
  const backend = await openBackend(settings, deps.store, logger);
  // The gauges read the engine at scrape time; it exists once start() below has returned.
  const started: { engine?: ResponseEngine } = {};
  const instruments = createResponseMetrics(metrics.registry, () =>
    started.engine && {
      quarantines: () => started.engine!.quarantines.list().map((entry) => entry.value),
      controls: () => started.engine!.controls.list(),
      webhookQueue: () => webhooks?.pending ?? 0,
    },
  );
  const webhooks = await openWebhooks(settings, (result, type) => instruments.delivery(result, type));
  const engine = await ResponseEngine.start({
    backend,
    store: deps.store,
    source: deps.policy,
    log,
    clock: () => deps.clock.now(),
    budgetMs: settings.storeTimeout * QUARANTINE_BUDGET_FACTOR,
    listeners: webhooks ? [(event, atMs) => webhooks.handle(event, atMs)] : [],
    observer: instruments.observer((policy) => metrics.setActivePolicy(policy)),
  });
  started.engine = engine;
  return {
    engine,
    registerRoutes: (admin, auth, pseudonymiser) =>
      registerAnalystApi({ admin, auth, engine, pseudonymiser, policy: () => deps.policy.current(), clock: () => deps.clock.now() }),
    async stop() {
      webhooks?.close();
      await engine.stop();
      await backend.close();
    },
  };
}

async function openBackend(settings: Settings, store: Store, logger: Logger): Promise<ResponseBackend> {
  if (!settings.redisUrl) return new MemoryResponseBackend();
  const password = settings.redisPasswordFile ? (await readFile(settings.redisPasswordFile, "utf8")).trim() : undefined;
  const backend = createRedisResponseBackend(settings.redisUrl, {
    password,
    commandTimeoutMs: settings.storeTimeout,
    onConnectionError: (error) => logger.debug({ err: error }, "redis connection error (response engine)"),
  });
  // The store has just waited for Redis; when it found none, waiting again only delays start-up.
  const reachable = (await store.ping()) && (await backend.waitUntilReady(2_000));
  if (!reachable) logger.warn("redis not reachable yet: quarantines and overrides load once it is");
  return backend;
}

async function openWebhooks(settings: Settings, onDelivery: ConstructorParameters<typeof Webhooks>[0]["onDelivery"]): Promise<Webhooks | undefined> {
  if (settings.webhookUrls.length === 0) return undefined;
  const secretFile = settings.webhookSecretFile;
  if (!secretFile) throw new Error("webhookUrls are set but webhookSecretFile is not: webhooks are always signed");
  const secret = Buffer.from((await readFile(secretFile, "utf8")).trim(), "utf8");
  if (secret.length < 32) throw new Error(`webhook secret in ${secretFile} is ${secret.length} bytes; use at least 32`);
  return new Webhooks({ urls: settings.webhookUrls, secret, onDelivery });
}
