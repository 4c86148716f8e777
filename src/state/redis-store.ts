import { DEFAULT_NAMESPACE, entityKey } from "./keys.js";
import {
  createRedisClient,
  DEFAULT_COMMAND_TIMEOUT_MS,
  type RedisClient,
  type RedisConnectionOptions,
} from "./redis-connection.js";
import { APPLY_SCRIPT, BASELINE_SCRIPT, decodeReply, encodeOp, parseBaselineReply } from "./redis-scripts.js";
import { parseRedisUrl } from "./redis-url.js";
import { StoreUnavailableError, type BaselineObservation, type BaselineState, type EntityOp, type Store } from "./store.js";
import { assertValidApply, assertValidBaseline } from "./validate.js";

/** ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT for commands made by defineCommand. */
const APPLY_COMMAND = "palisadeApply";
const BASELINE_COMMAND = "palisadeBaseline";

type ScriptCommand = (numberOfKeys: number, ...keysThenArgs: (string | number)[]) => Promise<unknown>;
type ScriptedClient = Record<typeof APPLY_COMMAND | typeof BASELINE_COMMAND, ScriptCommand>;

export interface RedisStoreOptions {
  /** First part of every key; separates deployments sharing one Redis. Default `palisade`. */
  namespace?: string;
  /** Deadline of every call, also enforced here in case the client retries internally. */
  commandTimeoutMs?: number;
}

export interface CreateRedisStoreOptions extends RedisStoreOptions, RedisConnectionOptions {}

/**
 * Builds the client for a URL (see `redis-url.ts` for the schemes: `redis://`, `rediss://`,
 * `redis+cluster://`, `redis+sentinel://`) and the store over it. Connects in the background:
 * until the first connection is ready, calls fail fast with `StoreUnavailableError`.
 */
export function createRedisStore(url: string, options: CreateRedisStoreOptions = {}): RedisStore {
  const target = parseRedisUrl(url);
  assertValidNamespace(options.namespace ?? DEFAULT_NAMESPACE); // before a client starts connecting
  return new RedisStore(createRedisClient(target, options), options);
}

/**
 * The shared store of all replicas. Every failure to get an answer — refused, reset, timed out,
 * READONLY after a failover, a script error — becomes `StoreUnavailableError` with the original
 * as `cause`, so callers have one thing to handle: go on without Redis.
 */
export class RedisStore implements Store {
  readonly kind = "redis";
  readonly #client: RedisClient;
  readonly #namespace: string;
  readonly #timeoutMs: number;

  /** Expects a client configured as `createRedisClient` does (no offline queue, timeouts). */
  constructor(client: RedisClient, options: RedisStoreOptions = {}) {
    this.#namespace = options.namespace ?? DEFAULT_NAMESPACE;
    assertValidNamespace(this.#namespace);
    this.#timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#client = client;
    if (!(APPLY_COMMAND in client)) client.defineCommand(APPLY_COMMAND, { lua: APPLY_SCRIPT });
    if (!(BASELINE_COMMAND in client)) client.defineCommand(BASELINE_COMMAND, { lua: BASELINE_SCRIPT });
  }

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    assertValidApply(entity, ops, nowMs);
    if (ops.length === 0) return [];
    const encoded = ops.map((op) => encodeOp(this.#namespace, entity, op, nowMs));
    const keys = encoded.flatMap((op) => op.keys);
    const reply = await this.#call("apply script", () =>
      this.#scripts[APPLY_COMMAND](keys.length, ...keys, ...encoded.flatMap((op) => op.args)),
    );
    const integers = parseIntegers(reply, encoded.reduce((sum, op) => sum + op.replyWidth, 0));
    let offset = 0;
    return ops.map((op, i) => {
      const width = encoded[i]!.replyWidth;
      offset += width;
      return decodeReply(op, integers.slice(offset - width, offset), nowMs);
    });
  }

  async observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    assertValidBaseline(entity, name, observation);
    const { period, value, alpha, retentionMs } = observation;
    const key = entityKey(this.#namespace, entity, "b", name);
    const reply = await this.#call("baseline script", () =>
      this.#scripts[BASELINE_COMMAND](1, key, period, String(value), String(alpha), retentionMs),
    );
    const state = parseBaselineReply(reply);
    if (!state) throw new StoreUnavailableError(`redis baseline script returned an unexpected reply: ${JSON.stringify(reply)}`);
    return state;
  }

  /** False, never a rejection, when Redis does not answer within the command timeout. */
  async ping(): Promise<boolean> {
    try {
      return (await this.#call("ping", () => this.#client.ping())) === "PONG";
    } catch {
      return false;
    }
  }

  /**
   * Resolves true once connected and ready, false if that takes longer than `timeoutMs`. For
   * start-up and tests; calls made before then fail fast rather than wait.
   */
  async waitUntilReady(timeoutMs: number): Promise<boolean> {
    if (this.#client.status === "ready") return true;
    return new Promise((resolve) => {
      const done = (ready: boolean): void => {
        clearTimeout(timer);
        this.#client.off("ready", onReady);
        resolve(ready);
      };
      const onReady = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#client.on("ready", onReady);
    });
  }

  /** Sends QUIT when connected (pending replies arrive first); otherwise just stops reconnecting. */
  async close(): Promise<void> {
    try {
      if (this.#client.status === "ready") await this.#client.quit();
    } catch {
      // Already gone: nothing left to flush.
    } finally {
      this.#client.disconnect();
    }
  }

  get #scripts(): ScriptedClient {
    return this.#client as unknown as ScriptedClient;
  }

  async #call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await withDeadline(send(), this.#timeoutMs, what);
    } catch (error) {
      // The connection state says more to an operator than ioredis' wording for "not connected".
      const state = this.#client.status;
      throw new StoreUnavailableError(`redis ${what} failed (connection ${state}): ${errorMessage(error)}`, { cause: error });
    }
  }
}

function assertValidNamespace(namespace: string): void {
  // A brace in the namespace would become the hash tag of every key: one slot for everything.
  if (namespace === "" || /[{}]/.test(namespace)) {
    throw new TypeError(`namespace must be non-empty and contain no "{" or "}", got ${JSON.stringify(namespace)}`);
  }
}

/** Rejects after `timeoutMs`; the client's own command timeout normally fires first. */
function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    // Slack over the client's timeout so that its more specific error usually wins the race.
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs + 10);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function parseIntegers(reply: unknown, expected: number): number[] {
  const valid =
    Array.isArray(reply) && reply.length === expected && reply.every((n) => typeof n === "number" && Number.isSafeInteger(n));
  if (!valid) throw new StoreUnavailableError(`redis apply script returned an unexpected reply: ${JSON.stringify(reply)}`);
  return reply as number[];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
