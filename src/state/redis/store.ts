import { DEFAULT_NAMESPACE } from "../keys.js";
import {
  closeClient,
  createRedisClient,
  DEFAULT_COMMAND_TIMEOUT_MS,
  type RedisClient,
  type RedisConnectionOptions,
  waitForReady,
} from "./connection.js";
import {
  decodeBaseline,
  decodeBindingReply,
  decodeEntityBatch,
  encodeEntityBatch,
  encodeObserveBaseline,
  encodeObserveBinding,
  ENTITY_BATCH_SCRIPT,
  OBSERVE_BASELINE_SCRIPT,
  OBSERVE_BINDING_SCRIPT,
  type ScriptCall,
} from "./store-scripts.js";
import { redisSpan } from "./spans.js";
import { parseRedisUrl } from "./url.js";
import {
  assertValidApply,
  assertValidBaselineObservation,
  assertValidBinding,
  StoreUnavailableError,
  type BaselineObservation,
  type BaselineState,
  type EntityBatch,
  type EntityOp,
  type Store,
} from "../store.js";
import type { BindingRecord, BindingRules, BindingUse } from "../token-binding-record.js";


/**
 * ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT for commands made by defineCommand.
 * The scripts and their KEYS/ARGV layouts are in store-scripts.ts.
 */
const SCRIPTS = {
  palisadeEntityBatch: ENTITY_BATCH_SCRIPT,
  palisadeObserveBaseline: OBSERVE_BASELINE_SCRIPT,
  palisadeObserveBinding: OBSERVE_BINDING_SCRIPT,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptedClient = Record<ScriptName, (numberOfKeys: number, keys: string[], args: (string | number)[]) => Promise<unknown>>;

export interface RedisStoreOptions {
  /** First part of every key; separates deployments sharing one Redis. Default `palisade`. */
  namespace?: string;
  /** Deadline of every call, also enforced here in case the client retries internally. */
  commandTimeoutMs?: number;
}

export interface CreateRedisStoreOptions extends RedisStoreOptions, RedisConnectionOptions {}

/**
 * Builds the client for a URL (see `url.ts` for the schemes: `redis://`, `rediss://`,
 * `redis+cluster://`, `redis+sentinel://`) and the store over it. Connects in the background:
 * until the first connection is ready, calls fail fast with `StoreUnavailableError`.
 */
export function createRedisStore(url: string, options: CreateRedisStoreOptions = {}): RedisStore {
  const target = parseRedisUrl(url);
  assertValidNamespace(options.namespace ?? DEFAULT_NAMESPACE); // before a client starts connecting
  // The budget is enforced by withDeadline, which tells a slow Redis from a busy event loop;
  // the client's own timer cannot, so it only backs it up against a reply that never comes.
  const backstopMs = Math.max(CLIENT_BACKSTOP_MS, 10 * (options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS));
  return new RedisStore(createRedisClient(target, { ...options, commandTimeoutMs: backstopMs }), options);
}

/** The client-level command timeout of the store's connection: far past the store's budget. */
const CLIENT_BACKSTOP_MS = 1_000;

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
  /** A Cluster puts each entity in its own slot: one script per entity there. */
  readonly #cluster: boolean;

  /** Expects a client configured as `createRedisClient` does (no offline queue, timeouts). */
  constructor(client: RedisClient, options: RedisStoreOptions = {}) {
    this.#namespace = options.namespace ?? DEFAULT_NAMESPACE;
    assertValidNamespace(this.#namespace);
    this.#timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#client = client;
    this.#cluster = client.isCluster;
    for (const [name, lua] of Object.entries(SCRIPTS)) if (!(name in client)) client.defineCommand(name, { lua });
  }

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    assertValidApply(entity, ops, nowMs);
    if (ops.length === 0) return [];
    const reply = await this.#runScript("palisadeEntityBatch", encodeEntityBatch(this.#namespace, entity, ops, nowMs));
    return decodeEntityBatch(reply, ops, nowMs);
  }

  /**
   * All entities in one script call on a single Redis, each entity's takes all or nothing on
   * their own (a `commit` between entities); per entity on a Cluster, where keys of different
   * slots cannot share a call.
   */
  async applyBatch(batches: readonly EntityBatch[], nowMs: number): Promise<number[][]> {
    for (const batch of batches) assertValidApply(batch.entity, batch.ops, nowMs);
    if (this.#cluster || batches.length <= 1) {
      return Promise.all(batches.map((batch) => this.apply(batch.entity, batch.ops, nowMs)));
    }
    const call: ScriptCall = { keys: [], args: [] };
    const ops: EntityOp[] = [];
    for (const batch of batches) {
      encodeEntityBatch(this.#namespace, batch.entity, batch.ops, nowMs, call);
      for (const op of batch.ops) ops.push(op);
    }
    if (ops.length === 0) return batches.map(() => []);
    const flat = decodeEntityBatch(await this.#runScript("palisadeEntityBatch", call), ops, nowMs);
    let next = 0;
    return batches.map((batch) => flat.slice(next, (next += batch.ops.length)));
  }

  async observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    assertValidBaselineObservation(entity, name, observation);
    const reply = await this.#runScript("palisadeObserveBaseline", encodeObserveBaseline(this.#namespace, entity, name, observation));
    return decodeBaseline(reply);
  }

  /** One script call: the binding's step runs in Redis, so replicas take turns on it. */
  async observeBinding(entity: string, use: BindingUse, rules: BindingRules): Promise<BindingRecord | undefined> {
    assertValidBinding(entity, use, rules);
    return decodeBindingReply(await this.#runScript("palisadeObserveBinding", encodeObserveBinding(this.#namespace, entity, use, rules)));
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
  waitUntilReady(timeoutMs: number): Promise<boolean> {
    return waitForReady(this.#client, timeoutMs);
  }

  close(): Promise<void> {
    return closeClient(this.#client);
  }

  /**
   * The keys and arguments go as two arrays, which ioredis flattens once into the command
   * (Command: `args.flat()`): spread here, a call of a hundred arguments was copied at each of
   * ioredis's layers (scripting function, auto-pipeline, Script.execute) on every Check.
   */
  #runScript(name: ScriptName, { keys, args }: ScriptCall): Promise<unknown> {
    return this.#call(`${name} script`, () => (this.#client as unknown as ScriptedClient)[name](keys.length, keys, args));
  }

  /** One store call, in a `redis <what>` client span (spans.ts). */
  #call<T>(what: string, send: () => Promise<T>): Promise<T> {
    return redisSpan(what, async () => {
      try {
        return await withDeadline(send(), this.#timeoutMs, what);
      } catch (error) {
        // The connection state says more to an operator than ioredis' wording for "not connected".
        const state = this.#client.status;
        throw new StoreUnavailableError(`redis ${what} failed (connection ${state}): ${errorMessage(error)}`, { cause: error });
      }
    });
  }
}

function assertValidNamespace(namespace: string): void {
  // A brace in the namespace would become the hash tag of every key: one slot for everything.
  if (namespace === "" || /[{}]/.test(namespace)) {
    throw new TypeError(`namespace must be non-empty and contain no "{" or "}", got ${JSON.stringify(namespace)}`);
  }
}

/**
 * Rejects when `promise` has not settled `timeoutMs` after the call. When the timer fires, the
 * rejection waits one turn of the event loop (setImmediate runs after the poll phase): a reply
 * that arrived while the loop was busy with other work is read first and wins. So a CPU-bound
 * process does not mistake its own lateness for a slow store.
 */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  // One promise and one timer per store call (every Check and ShouldRateLimit makes one or two):
  // settled by whichever comes first, the reply or the deadline's turn after the timer.
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new Error(`${what} timed out after ${timeoutMs} ms`));
      });
    }, timeoutMs);
    promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
