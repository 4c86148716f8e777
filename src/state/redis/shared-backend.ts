import { DEFAULT_NAMESPACE } from "../keys.js";
import { RedisAuditLog } from "./audit-log.js";
import { RedisCommands } from "./commands.js";
import { RedisDecisionRecordStore } from "./decision-records.js";
import { RedisDecisionStatsStore } from "./decision-stats.js";
import { createRedisClient, waitForReady, type RedisClient, type RedisConnectionOptions } from "./connection.js";
import { RedisSharedMap } from "./shared-map.js";
import { RedisSubscriber } from "./subscriber.js";
import { parseRedisUrl } from "./url.js";
import type { SharedBackend } from "../shared-backend.js";
import type { SharedMapStore } from "../shared-map.js";

/**
 * Response-engine calls (quarantine writes, lifts, audit appends, snapshots) are rare and may
 * carry a few kilobytes; they get a longer deadline than the Check path's counters. A Check that
 * creates a quarantine still never waits longer than its own budget (see quarantines.ts).
 */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 1_000;

export interface RedisSharedBackendOptions extends RedisConnectionOptions {
  namespace?: string;
}

/**
 * Two connections of its own besides the Store's: one for commands and one in subscriber mode
 * (which can do nothing else). Both connect in the background; calls fail fast with
 * StoreUnavailableError until they are ready.
 */
export function createRedisSharedBackend(url: string, options: RedisSharedBackendOptions = {}): RedisSharedBackend {
  const target = parseRedisUrl(url);
  const connection = { ...options, commandTimeoutMs: Math.max(options.commandTimeoutMs ?? 0, DEFAULT_RESPONSE_TIMEOUT_MS) };
  return new RedisSharedBackend(
    createRedisClient(target, connection),
    createRedisClient(target, connection),
    connection.commandTimeoutMs,
    options.namespace ?? DEFAULT_NAMESPACE,
  );
}

export class RedisSharedBackend implements SharedBackend {
  readonly kind = "redis";
  readonly audit: RedisAuditLog;
  readonly stats: RedisDecisionStatsStore;
  readonly decisions: RedisDecisionRecordStore;
  readonly #commands: RedisCommands;
  readonly #subscriber: RedisSubscriber;
  readonly #commandClient: RedisClient;
  readonly #namespace: string;
  readonly #maps = new Map<string, RedisSharedMap>();

  constructor(commandClient: RedisClient, subscriberClient: RedisClient, timeoutMs: number, namespace: string) {
    this.#commandClient = commandClient;
    this.#commands = new RedisCommands(commandClient, timeoutMs);
    this.#subscriber = new RedisSubscriber(subscriberClient);
    this.#namespace = namespace;
    this.audit = new RedisAuditLog(this.#commands, namespace);
    this.stats = new RedisDecisionStatsStore(this.#commands, namespace);
    this.decisions = new RedisDecisionRecordStore(this.#commands, namespace);
  }

  map(name: string): SharedMapStore {
    let map = this.#maps.get(name);
    if (!map) {
      map = new RedisSharedMap(this.#commands, this.#subscriber, this.#namespace, name);
      this.#maps.set(name, map);
    }
    return map;
  }

  /** Resolves true once the command connection is ready, false after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<boolean> {
    return waitForReady(this.#commandClient, timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([this.#subscriber.close(), this.#commands.close()]);
  }
}
