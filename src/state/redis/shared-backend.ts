import { DEFAULT_NAMESPACE } from "../keys.js";
import { RedisAuditLog } from "./audit-log.js";
import { RedisCommands } from "./commands.js";
import { RedisDecisionRecordStore } from "./decision-records.js";
import { RedisDecisionStatsStore } from "./decision-stats.js";
import { createRedisClient, waitForReady, type RedisClient, type RedisConnectionOptions } from "./connection.js";
import { auditStreamKey, RedisSharedMap } from "./shared-map.js";
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

/** The response engine's maps, as earlier versions named them (see migrateLegacyKeys). */
const LEGACY_MAPS = ["quarantines", "controls", "policies"] as const;
/** At most this many audit records are carried over (the trail's default retention is 100,000). */
const LEGACY_AUDIT_COPY = 100_000;
/** The trail's followers that send webhooks (response/engine.ts, WEBHOOK_FOLLOWERS). */
const WEBHOOK_GROUP = "webhooks";

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
    () => createRedisClient(target, connection),
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

  /** `openClient` makes further connections (one per audit follower); they close with their follower. */
  constructor(commandClient: RedisClient, subscriberClient: RedisClient, timeoutMs: number, namespace: string, openClient: () => RedisClient) {
    this.#commandClient = commandClient;
    this.#commands = new RedisCommands(commandClient, timeoutMs);
    this.#subscriber = new RedisSubscriber(subscriberClient);
    this.#namespace = namespace;
    this.audit = new RedisAuditLog(this.#commands, namespace, openClient);
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

  /**
   * Copies what an earlier version kept under its own keys (`<ns>:{map:<name>}:…` and
   * `<ns>:{audit}:log`, before the keys moved to the one slot `{response}`) into the current
   * keys, once: a map only while its current keys hold nothing, the audit stream only while the
   * current one is empty, with the ids and times to live they had. The old keys are left to
   * expire. Returns how many entries and records were copied.
   */
  async migrateLegacyKeys(names: readonly string[] = LEGACY_MAPS): Promise<number> {
    let copied = 0;
    for (const name of names) {
      const current = this.map(name);
      if ((await current.version()).epoch !== "") continue;
      const legacy = `${this.#namespace}:{map:${name}}`;
      const reply = (await this.#commands.script("palisadeMapSnapshot", [`${legacy}:e`, `${legacy}:d`, `${legacy}:m`], [])) as [string, number, number, string[], string[]];
      const [, , now, flatEntries, flatDeadlines] = reply;
      const deadlines = new Map<string, number>();
      for (let i = 0; i + 1 < flatDeadlines.length; i += 2) deadlines.set(flatDeadlines[i]!, Number(flatDeadlines[i + 1]));
      for (let i = 0; i + 1 < flatEntries.length; i += 2) {
        const ttlMs = (deadlines.get(flatEntries[i]!) ?? now) - Number(now);
        if (ttlMs > 0 && (await current.putIfAbsent(flatEntries[i]!, flatEntries[i + 1]!, ttlMs)).created) copied += 1;
      }
    }
    const legacyLog = `${this.#namespace}:{audit}:log`;
    const target = auditStreamKey(this.#namespace);
    if ((await this.#commands.call("XLEN", (client) => client.xlen(target))) === 0) {
      const [records, ttlMs] = await Promise.all([
        this.#commands.call("XRANGE", (client) => client.xrange(legacyLog, "-", "+", "COUNT", LEGACY_AUDIT_COPY)),
        this.#commands.call("PTTL", (client) => client.pttl(legacyLog)),
      ]);
      for (const [id, fields] of records) {
        await this.#commands.call("XADD", (client) => client.xadd(target, id, ...fields));
        copied += 1;
      }
      if (records.length > 0 && ttlMs > 0) await this.#commands.call("PEXPIRE", (client) => client.pexpire(target, ttlMs));
      // Followers (webhooks) that already joined must not announce old records again.
      if (records.length > 0) await this.#commands.call("XGROUP", (client) => client.xgroup("SETID", target, WEBHOOK_GROUP, "$")).catch(() => undefined);
    }
    return copied;
  }

  /** Resolves true once the command connection is ready, false after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<boolean> {
    return waitForReady(this.#commandClient, timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([this.#subscriber.close(), this.#commands.close()]);
  }
}
