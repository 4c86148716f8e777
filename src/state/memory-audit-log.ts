import {
  assertValidAuditRead,
  assertValidRetention,
  parseEntryId,
  type AuditEntry,
  type AuditFollowing,
  type AuditLog,
  type AuditRead,
  type AuditRetention,
} from "./audit-log.js";

/**
 * The audit log of a single replica: ids and trimming as Redis Streams make them (an id is the
 * append time in ms and a sequence within that ms; ids never go backwards even if the clock
 * does), exact retention by count and age.
 */
export class MemoryAuditLog implements AuditLog {
  readonly #entries: { id: string; ms: number; seq: number; record: string }[] = [];
  readonly #clock: () => number;
  /** Followers by group; each entry goes to the next one of its group in turn. */
  readonly #groups = new Map<string, { handlers: ((entries: AuditEntry[]) => Promise<void>)[]; next: number }>();

  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? (() => Date.now());
  }

  async append(record: object, retention: AuditRetention): Promise<string> {
    return this.appendNow(record, retention);
  }

  /** `append` within the caller's step: a memory map appends an audited change's record with it. */
  appendNow(record: object, retention: AuditRetention): string {
    assertValidRetention(retention);
    const now = this.#clock();
    const last = this.#entries.at(-1);
    const ms = Math.max(now, last?.ms ?? 0);
    const seq = last && last.ms === ms ? last.seq + 1 : 0;
    const id = `${ms}-${seq}`;
    const text = JSON.stringify(record);
    this.#entries.push({ id, ms, seq, record: text });
    if (this.#groups.size > 0) this.#handOut({ id, record: JSON.parse(text) as Record<string, unknown> });
    const tooMany = this.#entries.length - retention.maxEntries;
    if (tooMany > 0) this.#entries.splice(0, tooMany);
    const tooOld = this.#entries.findIndex((entry) => entry.ms >= now - retention.maxAgeMs);
    this.#entries.splice(0, tooOld === -1 ? this.#entries.length : tooOld);
    return id;
  }

  async follow(group: string, _follower: string, handle: (entries: AuditEntry[]) => Promise<void>): Promise<AuditFollowing> {
    let members = this.#groups.get(group);
    if (!members) this.#groups.set(group, (members = { handlers: [], next: 0 }));
    members.handlers.push(handle);
    return {
      close: async () => {
        members.handlers = members.handlers.filter((h) => h !== handle);
      },
    };
  }

  /** After the append's step: a follower's work never runs inside the write that caused it. */
  #handOut(entry: AuditEntry): void {
    for (const members of this.#groups.values()) {
      const handle = members.handlers[members.next++ % Math.max(1, members.handlers.length)];
      if (handle) queueMicrotask(() => void handle([entry]).catch(() => undefined));
    }
  }

  async read(query: AuditRead): Promise<AuditEntry[]> {
    assertValidAuditRead(query);
    const cursor = query.after === undefined ? undefined : parseEntryId(query.after)!;
    const inRange = this.#entries.filter((entry) => {
      if (query.fromMs !== undefined && entry.ms < query.fromMs) return false;
      if (query.toMs !== undefined && entry.ms > query.toMs) return false;
      if (!cursor) return true;
      const order = entry.ms - cursor[0] || entry.seq - cursor[1];
      return query.newestFirst ? order < 0 : order > 0;
    });
    const ordered = query.newestFirst ? inRange.reverse() : inRange;
    return ordered.slice(0, query.count).map((entry) => ({ id: entry.id, record: JSON.parse(entry.record) as Record<string, unknown> }));
  }
}
