import { readFile } from "node:fs/promises";
import { bindingMemoryStore } from "../detection/token-binding.js";
import type { Clock } from "../domain/clock.js";
import type { Settings } from "../settings/settings.js";
import { MemoryStore } from "../state/memory-store.js";
import { createRedisSharedBackend } from "../state/redis/shared-backend.js";
import { createRedisStore } from "../state/redis/store.js";
import { ResilientStore } from "../state/resilient-store.js";
import { MemorySharedBackend, type SharedBackend } from "../state/shared-backend.js";
import type { Store } from "../state/store.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";

/** Every storage port the decision core uses, from one Redis (or from memory for one replica). */
export interface Stores {
  /** Counters and sets of the Check path, falling back to local state while Redis is away. */
  store: Store;
  /** Shared maps (quarantines, overrides, policy history) and the audit log. */
  shared: SharedBackend;
  /**
   * Without Redis, where token bindings live, apart from the counters: one store for every
   * replica opened over these stores (the lab's `--replicas`), as Redis is one for all.
   */
  bindingMemory?: MemoryStore;
  close(): Promise<void>;
}

/** How long start-up waits for Redis before deciding from local state. */
const READY_WAIT_MS = 2_000;

/**
 * The one place that opens Redis: it reads the password file once and hands out every
 * Redis-backed port. Without a URL both ports live in memory, which suits one replica (and replay).
 */
export async function openStores(settings: Settings, deps: { logger: Logger; clock: Clock; metrics?: Metrics }): Promise<Stores> {
  const { logger, metrics } = deps;
  if (!settings.redisUrl) {
    logger.info("no REDIS_URL: using the in-memory store (single replica only)");
    const store = new MemoryStore();
    const shared = new MemorySharedBackend({ clock: () => deps.clock.now() });
    const bindingMemory = bindingMemoryStore();
    return { store, shared, bindingMemory, close: async () => void (await Promise.all([shared.close(), store.close(), bindingMemory.close()])) };
  }
  const password = settings.redisPasswordFile ? (await readFile(settings.redisPasswordFile, "utf8")).trim() : undefined;
  const connection = { password, commandTimeoutMs: settings.storeTimeout };
  const redis = createRedisStore(settings.redisUrl, {
    ...connection,
    onConnectionError: (error) => {
      metrics?.storeErrors.inc({ store: "redis", kind: "connection" });
      logger.debug({ err: error }, "redis connection error");
    },
  });
  const shared = createRedisSharedBackend(settings.redisUrl, {
    ...connection,
    onConnectionError: (error) => logger.debug({ err: error }, "redis connection error (shared maps)"),
  });
  const reachable = await redis.waitUntilReady(READY_WAIT_MS);
  if (!reachable) logger.warn("redis not reachable yet: deciding from local state until it is");
  // When the store found no Redis, waiting again only delays start-up.
  if (reachable && !(await shared.waitUntilReady(READY_WAIT_MS))) logger.warn("redis not reachable yet: quarantines and overrides load once it is");
  else if (reachable) {
    // Keys an earlier version wrote before they moved to one slot: carried over once.
    const copied = await shared.migrateLegacyKeys().catch((error: unknown) => {
      logger.warn({ err: error }, "quarantines, overrides and audit records of an earlier version not carried over");
      return 0;
    });
    if (copied > 0) logger.info({ copied }, "carried over quarantines, overrides and audit records kept under an earlier version's keys");
  }
  const store = new ResilientStore(redis, new MemoryStore());
  store.onStateChange((change) => {
    metrics?.storeDegraded.set(change.degraded ? 1 : 0);
    if (change.degraded) logger.warn({ err: change.cause }, "store unavailable: deciding from local state");
    else logger.info("store reachable again");
  });
  return { store, shared, close: async () => void (await Promise.all([shared.close(), store.close()])) };
}
