import { closeClient, type RedisClient } from "./connection.js";
import {
  AUDIT_APPEND_SCRIPT,
  MAP_AUDITED_SCRIPT,
  MAP_PUT_SCRIPT,
  MAP_READ_SCRIPT,
  MAP_REMOVE_SCRIPT,
  MAP_SNAPSHOT_SCRIPT,
  RECORD_WRITE_SCRIPT,
  STATS_ADD_SCRIPT,
  TIME_SCRIPT,
} from "./shared-backend-scripts.js";
import { withDeadline } from "./store.js";
import { StoreUnavailableError } from "../store.js";
import { redisSpan } from "./spans.js";

/** The response engine's scripts, sent with EVALSHA (ioredis falls back to EVAL on NOSCRIPT). */
const SCRIPTS = {
  palisadeMapPut: MAP_PUT_SCRIPT,
  palisadeMapRemove: MAP_REMOVE_SCRIPT,
  palisadeMapSnapshot: MAP_SNAPSHOT_SCRIPT,
  palisadeMapRead: MAP_READ_SCRIPT,
  palisadeAuditAppend: AUDIT_APPEND_SCRIPT,
  palisadeMapAudited: MAP_AUDITED_SCRIPT,
  palisadeTime: TIME_SCRIPT,
  palisadeStatsAdd: STATS_ADD_SCRIPT,
  palisadeRecordWrite: RECORD_WRITE_SCRIPT,
} as const;

export type ResponseScript = keyof typeof SCRIPTS;
type ScriptedClient = Record<ResponseScript, (numberOfKeys: number, ...keysThenArgs: string[]) => Promise<unknown>>;

/**
 * The command connection of the response engine, with the same failure contract as RedisStore:
 * whatever goes wrong on the way (refused, timed out, script error) becomes
 * StoreUnavailableError, so callers have one thing to handle.
 */
export class RedisCommands {
  readonly #client: RedisClient;
  readonly timeoutMs: number;

  constructor(client: RedisClient, timeoutMs: number) {
    this.#client = client;
    this.timeoutMs = timeoutMs;
    for (const [name, lua] of Object.entries(SCRIPTS)) if (!(name in client)) client.defineCommand(name, { lua });
  }

  script(name: ResponseScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.call(name, (client) => (client as unknown as ScriptedClient)[name](keys.length, ...keys, ...args));
  }

  /** One call, in a `redis <what>` client span (spans.ts). */
  call<T>(what: string, send: (client: RedisClient) => Promise<T>): Promise<T> {
    return redisSpan(what, async () => {
      try {
        return await withDeadline(send(this.#client), this.timeoutMs, what);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new StoreUnavailableError(`redis ${what} failed (connection ${this.#client.status}): ${reason}`, { cause: error });
      }
    });
  }

  close(): Promise<void> {
    return closeClient(this.#client);
  }
}
