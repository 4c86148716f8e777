import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
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
  appendEntityCall,
  decodeBaseline,
  decodeBindingReply,
  decodeEntityBatch,
  encodeEntityBatch,
  entityBatchWidth,
  encodeObserveBaseline,
  encodeObserveBinding,
  ENTITY_BATCH_SCRIPT,
  OBSERVE_BASELINE_SCRIPT,
  OBSERVE_BINDING_SCRIPT,
  type ScriptCall,
} from "./store-scripts.js";
import { decodeExchangeReply, encodeExchange, EXCHANGE_SCRIPT } from "./exchange-script.js";
import { PackedCommand } from "./packed-command.js";
import { noTracerProvider, redisSpan } from "./spans.js";
import { parseRedisUrl } from "./url.js";
import {
  assertValidApply,
  assertValidBaselineObservation,
  assertValidBinding,
  assertValidExchange,
  StoreUnavailableError,
  type BaselineObservation,
  type BaselineState,
  type EntityBatch,
  type EntityOp,
  type Publication,
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
  palisadeExchange: EXCHANGE_SCRIPT,
} as const;

type ScriptName = keyof typeof SCRIPTS;

/** What EVALSHA names each script by. */
const SCRIPT_SHAS = Object.fromEntries(Object.entries(SCRIPTS).map(([name, lua]) => [name, createHash("sha1").update(lua).digest("hex")])) as Record<ScriptName, string>;
type ScriptedClient = Record<ScriptName, (numberOfKeys: number, keys: string[], args: (string | number)[]) => Promise<unknown>>;

/** One apply() or applyBatch() waiting for the next coalesced script call. */
interface QueuedBatch {
  call: ScriptCall;
  ops: readonly EntityOp[];
  nowMs: number;
  resolve(results: number[]): void;
  reject(error: unknown): void;
}

/** A turn's script call besides the entity batches (a binding, a baseline, an exchange), written with them (#flush). */
interface QueuedScript {
  name: ScriptName;
  call: ScriptCall;
  resolve(reply: unknown): void;
  reject(error: unknown): void;
}

/**
 * Most ops one coalesced script call carries: Redis runs a script to the end before anything
 * else, so a burst of thousands of calls goes out as several scripts rather than one long one.
 */
export const MAX_COALESCED_OPS = 256;

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
  /** Entity batches of this turn of the event loop, sent as one script call (see #enqueue). */
  #queue: QueuedBatch[] = [];
  #queuedOps = 0;
  /** Other script calls of this turn, written in the same socket write as the entity batches. */
  #scripts: QueuedScript[] = [];

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
    const call = encodeEntityBatch(this.#namespace, entity, ops, nowMs);
    if (this.#coalesces()) return this.#enqueue(call, ops, nowMs);
    return decodeEntityBatch(await this.#runScript("palisadeEntityBatch", call), ops, nowMs);
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
    const flat = this.#coalesces() ? await this.#enqueue(call, ops, nowMs) : decodeEntityBatch(await this.#runScript("palisadeEntityBatch", call), ops, nowMs);
    let next = 0;
    return batches.map((batch) => flat.slice(next, (next += batch.ops.length)));
  }

  async observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    assertValidBaselineObservation(entity, name, observation);
    return decodeBaseline(await this.#script("palisadeObserveBaseline", encodeObserveBaseline(this.#namespace, entity, name, observation)));
  }

  /** One script call: the binding's step runs in Redis, so replicas take turns on it. */
  async observeBinding(entity: string, use: BindingUse, rules: BindingRules): Promise<BindingRecord | undefined> {
    assertValidBinding(entity, use, rules);
    return decodeBindingReply(await this.#script("palisadeObserveBinding", encodeObserveBinding(this.#namespace, entity, use, rules)));
  }

  /** One script call on the name's hash (exchange-script.ts). */
  async exchange(entity: string, publication: Publication, nowMs: number): Promise<string[]> {
    assertValidExchange(entity, publication, nowMs);
    return decodeExchangeReply(await this.#script("palisadeExchange", encodeExchange(this.#namespace, entity, publication, nowMs)));
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
   * Entity scripts are coalesced on a single Redis (or Sentinel's master) while tracing is off:
   * on a Cluster keys of different slots cannot share a call, and a traced call keeps a `redis`
   * span of its own under the Check or ShouldRateLimit that made it.
   */
  #coalesces(): boolean {
    return !this.#cluster && noTracerProvider();
  }

  /**
   * Queues one caller's encoded entity batches for one script call with all the others made in
   * this turn of the event loop: the call leaves from a setImmediate, after the turn's I/O
   * callbacks, so the requests that arrived together are counted together, and is written at
   * once (#flush), when ioredis' auto-pipeline would have written it from its own setImmediate.
   * Every queued call's ops follow a `commit` of the ones before, so each entity's takes stay
   * all or nothing on their own exactly as in a call of its own, and calls run in the order they
   * were made. Under load a ShouldRateLimit or Check then shares one command, one EVALSHA and
   * one socket write with the others of its turn instead of having its own (BENCHMARKS.md,
   * branch rlcpu).
   */
  #enqueue(call: ScriptCall, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    return new Promise<number[]>((resolve, reject) => {
      if (this.#queue.length > 0 && this.#queuedOps + ops.length > MAX_COALESCED_OPS) this.#flush(); // full: this call starts the next
      if (this.#queue.length === 0 && this.#scripts.length === 0) setImmediate(this.#flush);
      this.#queue.push({ call, ops, nowMs, resolve, reject });
      this.#queuedOps += ops.length;
    });
  }

  /**
   * A script call other than an entity batch (a binding, a baseline, an exchange), whose reply is
   * text: with the turn's entity batches in one write where those are coalesced (#flush), so a
   * Check's calls stay one round trip; through ioredis elsewhere.
   */
  #script(name: ScriptName, call: ScriptCall): Promise<unknown> {
    return this.#coalesces() ? this.#enqueueScript(name, call) : this.#runScript(name, call);
  }

  /** Another script call (not an entity batch) for this turn's write: see #flush. */
  #enqueueScript(name: ScriptName, call: ScriptCall): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.#queue.length === 0 && this.#scripts.length === 0) setImmediate(this.#flush);
      this.#scripts.push({ name, call, resolve, reject });
    });
  }

  /**
   * Writes the turn's queued calls, each as a packed command (packed-command.ts), in one write:
   * the socket is corked while they are handed to ioredis, so they leave in one writev. The
   * batch used to ride ioredis' auto-pipeline whenever that held the turn's other scripts, a
   * refresh Check's binding most often: ioredis then built the entity script's request as one
   * long string (155 of 346 entity calls in 5,000 Checks of the bench's mix).
   */
  readonly #flush = (): void => {
    const queued = this.#queue;
    const scripts = this.#scripts;
    if (queued.length === 0 && scripts.length === 0) return; // already sent when the queue filled up
    this.#queue = [];
    this.#queuedOps = 0;
    this.#scripts = [];
    const stream = queued.length + scripts.length > 1 && this.#client.status === "ready" ? (this.#client as Redis).stream : undefined;
    stream?.cork();
    try {
      if (queued.length > 0) this.#sendEntityBatches(queued);
      // Their replies are text, decoded as ioredis' own commands decode them.
      for (const script of scripts) this.#sendPacked(script.name, script.call, "utf8").then(script.resolve, script.reject);
    } finally {
      stream?.uncork();
    }
  };

  #sendEntityBatches(queued: readonly QueuedBatch[]): void {
    if (queued.length === 1) {
      const only = queued[0]!;
      this.#sendPacked("palisadeEntityBatch", only.call)
        .then((reply) => only.resolve(decodeEntityBatch(reply, only.ops, only.nowMs)))
        .catch(only.reject);
      return;
    }
    const merged: ScriptCall = { keys: [], args: [] };
    for (const { call } of queued) appendEntityCall(merged, call);
    this.#sendPacked("palisadeEntityBatch", merged).then(
      (reply) => {
        let offset = 0;
        for (const item of queued) {
          const width = entityBatchWidth(item.ops);
          const own = Array.isArray(reply) ? reply.slice(offset, (offset += width)) : reply;
          try {
            item.resolve(decodeEntityBatch(own, item.ops, item.nowMs));
          } catch (error) {
            item.reject(error);
          }
        }
      },
      (error: unknown) => {
        for (const item of queued) item.reject(error);
      },
    );
  }

  /**
   * A script call as one packed command written now, past ioredis' auto-pipeline (whose
   * setImmediate would hold it back another turn of the event loop): EVALSHA, and EVAL when
   * Redis does not know the script yet (started afresh, or SCRIPT FLUSH), as ioredis does.
   */
  #sendPacked(name: ScriptName, call: ScriptCall, replyEncoding?: BufferEncoding): Promise<unknown> {
    return this.#call(`${name} script`, () =>
      this.#sendScriptCommand("evalsha", name, call, replyEncoding).catch((error: unknown) => {
        if (error instanceof Error && error.message.includes("NOSCRIPT")) return this.#sendScriptCommand("eval", name, call, replyEncoding);
        throw error;
      }),
    );
  }

  #sendScriptCommand(command: "evalsha" | "eval", name: ScriptName, { keys, args }: ScriptCall, replyEncoding?: BufferEncoding): Promise<unknown> {
    const head = [command === "evalsha" ? SCRIPT_SHAS[name] : SCRIPTS[name], keys.length];
    return this.#client.sendCommand(new PackedCommand(command, head, keys, args, replyEncoding)) as Promise<unknown>;
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
