import { assertValidAuditRead, assertValidRetention, type AuditEntry, type AuditFollowing, type AuditLog, type AuditRead, type AuditRetention } from "../audit-log.js";
import type { RedisCommands } from "./commands.js";
import { closeClient, waitForReady, type RedisClient } from "./connection.js";
import { auditStreamKey } from "./shared-map.js";

/**
 * The audit trail in one Redis Stream, `<ns>:{response}:audit` (the slot of the shared maps, so
 * audited changes append in the same script as the change; see shared-map.ts), each entry one field `r` holding the
 * record as JSON. Appends trim it (AUDIT_APPEND_SCRIPT); reads are XRANGE / XREVRANGE with the
 * bounds given as ids, so a time range costs no scan.
 */
export class RedisAuditLog implements AuditLog {
  readonly #commands: RedisCommands;
  readonly #key: string;
  readonly #openClient: () => RedisClient;

  /** `openClient` makes a connection of its own for each follower: its reads block. */
  constructor(commands: RedisCommands, namespace: string, openClient: () => RedisClient) {
    this.#commands = commands;
    this.#key = auditStreamKey(namespace);
    this.#openClient = openClient;
  }

  /**
   * A consumer group on the stream (created at the stream's end by the first follower):
   * XREADGROUP hands each new entry to one follower, XACK confirms it once handled, and every
   * few seconds each follower takes over entries another left unconfirmed for CLAIM_IDLE_MS
   * (XAUTOCLAIM), e.g. when that replica died. A group lost with the stream (Redis lost its
   * data, or the stream expired) is created again.
   */
  async follow(group: string, follower: string, handle: (entries: AuditEntry[]) => Promise<void>): Promise<AuditFollowing> {
    const client = this.#openClient();
    const key = this.#key;
    let running = true;
    let grouped = false;
    let lastClaimMs = 0;
    /**
     * A read that failed (its command timed out while Redis hung) may still run once Redis
     * resumes and hand entries to this follower; ioredis drops that late reply, and the entries
     * would wait in the follower's pending list for CLAIM_IDLE_MS. After a failure the follower
     * reads its own pending entries back first (id 0; the connection runs commands in order).
     */
    let rereadOwn = false;
    const take = async (raw: [string, string[]][] | null | undefined) => {
      const entries = (raw ?? []).flatMap(([id, fields]) => {
        const record = decode(fields ?? []);
        return record ? [{ id, record }] : [];
      });
      if (entries.length > 0) await handle(entries);
      if (raw && raw.length > 0) await client.xack(key, group, ...raw.map(([id]) => id));
    };
    const createGroup = async () => {
      await client.xgroup("CREATE", key, group, "$", "MKSTREAM").catch((error: Error) => {
        if (!error.message.includes("BUSYGROUP")) throw error;
      });
      grouped = true;
    };
    // Before returning when Redis answers, so that records appended right after are followed.
    await waitForReady(client, 1_000);
    await createGroup().catch(() => undefined);
    const loop = async () => {
      while (running) {
        try {
          if (!grouped) await createGroup();
          if (rereadOwn) {
            const own = (await client.xreadgroup("GROUP", group, follower, "COUNT", 100, "STREAMS", key, "0")) as [string, [string, string[]][]][] | null;
            const entries = own?.[0]?.[1] ?? [];
            await take(entries);
            rereadOwn = entries.length === 100;
            continue;
          }
          if (Date.now() - lastClaimMs > CLAIM_EVERY_MS) {
            lastClaimMs = Date.now();
            const [, claimed] = (await client.xautoclaim(key, group, follower, CLAIM_IDLE_MS, "0-0", "COUNT", 100)) as [string, [string, string[]][]];
            await take(claimed);
          }
          const reply = (await client.xreadgroup("GROUP", group, follower, "COUNT", 100, "BLOCK", BLOCK_MS, "STREAMS", key, ">")) as [string, [string, string[]][]][] | null;
          await take(reply?.[0]?.[1]);
        } catch (error) {
          if (String((error as Error).message).includes("NOGROUP")) grouped = false;
          rereadOwn = true;
          if (running) await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
        }
      }
    };
    const done = loop();
    return {
      close: async () => {
        running = false;
        client.disconnect(); // ends a blocked read at once
        await done;
        await closeClient(client);
      },
    };
  }

  async append(record: object, retention: AuditRetention): Promise<string> {
    assertValidRetention(retention);
    const args = [String(retention.maxEntries), String(retention.maxAgeMs), JSON.stringify(record)];
    return String(await this.#commands.script("palisadeAuditAppend", [this.#key], args));
  }

  async read(query: AuditRead): Promise<AuditEntry[]> {
    assertValidAuditRead(query);
    // "(" makes a bound exclusive (Redis 6.2+): the page cursor itself is not repeated.
    const cursor = query.after === undefined ? undefined : `(${query.after}`;
    const oldest = query.newestFirst ? String(query.fromMs ?? "-") : (cursor ?? String(query.fromMs ?? "-"));
    const newest = query.newestFirst ? (cursor ?? String(query.toMs ?? "+")) : String(query.toMs ?? "+");
    const count = String(query.count);
    const reply = await this.#commands.call(query.newestFirst ? "XREVRANGE" : "XRANGE", (client) =>
      query.newestFirst ? client.xrevrange(this.#key, newest, oldest, "COUNT", count) : client.xrange(this.#key, oldest, newest, "COUNT", count),
    );
    return reply.flatMap(([id, fields]) => {
      const record = decode(fields);
      return record ? [{ id, record }] : [];
    });
  }
}

/** A follower blocks this long per read, well inside the connection's command timeout. */
const BLOCK_MS = 500;
const RETRY_MS = 500;
const CLAIM_EVERY_MS = 5_000;
/** Unconfirmed this long, an entry goes to another follower. */
const CLAIM_IDLE_MS = 30_000;

/** An entry someone else wrote by hand (not one field `r` of JSON) is skipped. */
function decode(fields: string[]): Record<string, unknown> | undefined {
  const at = fields.indexOf("r");
  if (at < 0 || at % 2 !== 0) return undefined;
  try {
    const record: unknown = JSON.parse(fields[at + 1] ?? "");
    return typeof record === "object" && record !== null && !Array.isArray(record) ? (record as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
