import { assertValidAuditRead, assertValidRetention, type AuditEntry, type AuditLog, type AuditRead, type AuditRetention } from "../audit-log.js";
import type { RedisCommands } from "./commands.js";
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

  constructor(commands: RedisCommands, namespace: string) {
    this.#commands = commands;
    this.#key = auditStreamKey(namespace);
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
