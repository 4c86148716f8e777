import type { ConnectionOptions } from "node:tls";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import type { RedisTarget } from "./url.js";

/** How to reach Redis besides the URL: timeouts, and secrets that should not sit in a URL. */
export interface RedisConnectionOptions {
  /** Deadline of every call; a Check waits this long at most before going on without Redis. */
  commandTimeoutMs?: number;
  /** Deadline of one connection attempt (TCP, TLS, AUTH, ready check). */
  connectTimeoutMs?: number;
  /** Longest pause between reconnection attempts while Redis is gone. */
  maxReconnectDelayMs?: number;
  /** Overrides the URL's user, e.g. from a Kubernetes Secret. */
  username?: string;
  /** Overrides the URL's password, e.g. from a Kubernetes Secret. */
  password?: string;
  /** Sentinel only: credentials of the sentinels themselves (the URL's are the master's). */
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** Extra TLS settings (CA, client certificate, servername) for `rediss…` URLs. */
  tls?: ConnectionOptions;
  /**
   * Connection errors (refused, reset, auth). ioredis reports each reconnection attempt here;
   * without a listener it would print them to stderr itself.
   */
  onConnectionError?: (error: Error) => void;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 50;
export const DEFAULT_CONNECT_TIMEOUT_MS = 1_000;
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 2_000;

export type RedisClient = Redis | Cluster;

export type RedisClientConfig =
  | { topology: "standalone" | "sentinel"; options: RedisOptions }
  | { topology: "cluster"; nodes: { host: string; port: number }[]; options: ClusterOptions };

export function createRedisClient(target: RedisTarget, options: RedisConnectionOptions = {}): RedisClient {
  const config = redisClientConfig(target, options);
  const client = config.topology === "cluster" ? new Cluster(config.nodes, config.options) : new Redis(config.options);
  client.on("error", options.onConnectionError ?? (() => {}));
  return client;
}

/** The ioredis settings for a target; separate from construction so it can be checked alone. */
export function redisClientConfig(target: RedisTarget, options: RedisConnectionOptions = {}): RedisClientConfig {
  const connection = connectionOptions(target, options);
  switch (target.topology) {
    case "standalone": {
      const [endpoint] = target.endpoints;
      return { topology: "standalone", options: { ...connection, ...endpoint, db: target.db, retryStrategy: backoff(options) } };
    }
    case "sentinel":
      return { topology: "sentinel", options: { ...connection, ...sentinelOptions(target, options), db: target.db } };
    case "cluster":
      return { topology: "cluster", nodes: target.endpoints, options: clusterOptions(connection, options) };
    default: {
      const unknown: never = target.topology;
      throw new TypeError(`unknown Redis topology ${String(unknown)}`);
    }
  }
}

/**
 * Settings shared by every topology, chosen so that a call never waits on a Redis that is gone:
 * - `enableOfflineQueue: false`: while disconnected, calls fail at once instead of queueing.
 * - `maxRetriesPerRequest: 0` and no resend after reconnect: an INCRBY whose reply was lost
 *   may already have counted, so sending it again could count it twice. The caller decides.
 * - READONLY (we reached a replica after a failover): reconnect, so the next call finds the
 *   new master, but do not resend.
 * Reconnection itself goes on in the background with capped exponential backoff.
 */
function connectionOptions(target: RedisTarget, options: RedisConnectionOptions): RedisOptions {
  const username = options.username ?? target.username;
  const password = options.password ?? target.password;
  return {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(target.tls ? { tls: options.tls ?? {} } : {}),
    connectionName: "palisade",
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The entity scripts of one Check are issued in the same tick: auto-pipelining sends them in
    // one write, so a Check costs one network round trip however many entities it touches.
    enableAutoPipelining: true,
    reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 1 : false),
  };
}

/** TLS, when asked for, covers the sentinels as well as the master they point to. */
function sentinelOptions(target: RedisTarget, options: RedisConnectionOptions): RedisOptions {
  const tls = target.tls ? options.tls ?? {} : undefined;
  return {
    sentinels: target.endpoints,
    ...(target.masterName === undefined ? {} : { name: target.masterName }),
    ...(options.sentinelUsername === undefined ? {} : { sentinelUsername: options.sentinelUsername }),
    ...(options.sentinelPassword === undefined ? {} : { sentinelPassword: options.sentinelPassword }),
    ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    sentinelCommandTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    sentinelRetryStrategy: backoff(options),
    retryStrategy: backoff(options),
  };
}

function clusterOptions(connection: RedisOptions, options: RedisConnectionOptions): ClusterOptions {
  const { enableOfflineQueue, enableAutoPipelining: _single, ...redisOptions } = connection;
  return {
    enableOfflineQueue,
    // Not on a Cluster: ioredis groups auto-pipelined commands by the slot of their first
    // argument, which for our scripts is the key count, so scripts for entities on different
    // masters land in one pipeline and all fail ("All keys in the pipeline should belong to the
    // same slots allocation group"); every Check then ran degraded on a multi-master Cluster
    // (test/integration/redis-cluster-failover.test.ts). Sent without it, a Check's scripts still
    // leave in the same tick, one write per node instead of one in all.
    enableAutoPipelining: false,
    redisOptions,
    clusterRetryStrategy: backoff(options),
    // Slot discovery is part of becoming ready; keep it as short as one connection attempt.
    slotsRefreshTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

function backoff(options: RedisConnectionOptions): (attempt: number) => number {
  const maxDelayMs = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
  return (attempt) => reconnectDelayMs(attempt, maxDelayMs);
}

/**
 * 50 ms doubling per attempt up to `maxDelayMs`, with jitter in the upper half so that the
 * replicas of a large deployment do not reconnect in lockstep after Redis comes back.
 */
export function reconnectDelayMs(attempt: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, 50 * 2 ** Math.min(Math.max(attempt - 1, 0), 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Resolves true once `client` is connected and ready, false if that takes longer than `timeoutMs`. */
export function waitForReady(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean): void => {
      clearTimeout(timer);
      client.off("ready", onReady);
      resolve(ready);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on("ready", onReady);
  });
}

/** Sends QUIT when connected (pending replies arrive first); otherwise just stops reconnecting. */
export async function closeClient(client: RedisClient): Promise<void> {
  try {
    if (client.status === "ready") await client.quit();
  } catch {
    // Already gone: nothing left to flush.
  } finally {
    client.disconnect();
  }
}
