import { DEFAULT_NAMESPACE, windowBucketKeys, windowKeyTtlMs } from "./keys.js";
import {
  createRedisClient,
  DEFAULT_COMMAND_TIMEOUT_MS,
  type RedisClient,
  type RedisConnectionOptions,
} from "./redis-connection.js";
import { parseRedisUrl } from "./redis-url.js";
import {
  assertValidApply,
  slidingWindowEstimate,
  StoreUnavailableError,
  type EntityOp,
  type Store,
} from "./store.js";

/**
 * All of one entity's `window.add` ops, atomically, in one round trip.
 *
 * KEYS: two per op, in op order: KEYS[2i-1] = the op's current bucket, KEYS[2i] = its previous
 *       bucket. All keys carry the entity's `{…}` hash tag, so they share one Cluster slot.
 * ARGV: two per op, aligned with KEYS: ARGV[2i-1] = amount (integer ≥ 0; 0 only reads),
 *       ARGV[2i] = TTL in ms of the current bucket (two windows), renewed on every write.
 * Returns: {current_1, previous_1, current_2, previous_2, …} as integers (0 for a missing key).
 * The estimate is computed in TypeScript with the same function as the memory store, so the two
 * agree to the last digit and the script stays free of floating point.
 */
export const WINDOW_ADD_SCRIPT = `
local counts = {}
for i = 1, #KEYS, 2 do
  local amount = tonumber(ARGV[i])
  local current
  if amount > 0 then
    current = redis.call('INCRBY', KEYS[i], amount)
    redis.call('PEXPIRE', KEYS[i], ARGV[i + 1])
  else
    current = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  counts[#counts + 1] = current
  counts[#counts + 1] = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
end
return counts
`;

/** ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT for commands made by defineCommand. */
const WINDOW_ADD_COMMAND = "palisadeWindowAdd";

interface ScriptedClient {
  [WINDOW_ADD_COMMAND](numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<unknown>;
}

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
    if (!(WINDOW_ADD_COMMAND in client)) client.defineCommand(WINDOW_ADD_COMMAND, { lua: WINDOW_ADD_SCRIPT });
  }

  async apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    assertValidApply(entity, ops, nowMs);
    if (ops.length === 0) return [];
    const keys = ops.map((op) => windowBucketKeys(this.#namespace, entity, op, nowMs));
    const args = ops.flatMap((op) => [op.amount, windowKeyTtlMs(op.windowMs)]);
    const reply = await this.#call("window.add script", () =>
      (this.#client as unknown as ScriptedClient)[WINDOW_ADD_COMMAND](
        keys.length * 2,
        ...keys.flatMap((k) => [k.current, k.previous]),
        ...args,
      ),
    );
    const counts = parseCounts(reply, ops.length);
    return ops.map((op, i) => slidingWindowEstimate(counts[2 * i]!, counts[2 * i + 1]!, nowMs, op.windowMs));
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

function parseCounts(reply: unknown, opCount: number): number[] {
  const valid =
    Array.isArray(reply) && reply.length === 2 * opCount && reply.every((n) => typeof n === "number" && Number.isSafeInteger(n));
  if (!valid) throw new StoreUnavailableError(`redis window.add script returned an unexpected reply: ${JSON.stringify(reply)}`);
  return reply as number[];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
