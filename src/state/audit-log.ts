/**
 * An append-only log of records (JSON objects) with ids that sort by the time they were
 * appended: Redis Streams ids, `<ms>-<seq>`. The audit trail is built on it; retention is passed
 * with each append because it comes from the policy in force.
 */
export interface AuditLog {
  /** Appends `record`, trims to the retention, and returns the new entry's id. */
  append(record: object, retention: AuditRetention): Promise<string>;
  /** Up to `count` entries in id order (newest first when `newestFirst`), within the bounds. */
  read(query: AuditRead): Promise<AuditEntry[]>;
  /**
   * Hands every entry appended from now on to one follower of `group` (each replica follows
   * under its own `follower` name): what webhooks are published from. An entry whose follower
   * did not confirm it (`handle` resolved) within a while goes to another, so an entry is
   * handled at least once while any follower runs. The stream keeps the order.
   */
  follow(group: string, follower: string, handle: (entries: AuditEntry[]) => Promise<void>): Promise<AuditFollowing>;
}

export interface AuditFollowing {
  close(): Promise<void>;
}

export interface AuditRetention {
  maxEntries: number;
  maxAgeMs: number;
}

export interface AuditRead {
  /** Oldest append time to include, ms since the epoch. */
  fromMs?: number;
  /** Newest append time to include, ms since the epoch. */
  toMs?: number;
  /** Continue after this id (exclusive), in the direction of reading: a page cursor. */
  after?: string;
  count: number;
  newestFirst: boolean;
}

export interface AuditEntry {
  id: string;
  record: Record<string, unknown>;
}

/** `<ms>-<seq>` as numbers, to compare ids without parsing strings twice. */
export function parseEntryId(id: string): [number, number] | undefined {
  const match = /^(\d+)-(\d+)$/.exec(id);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

export function assertValidAuditRead(query: AuditRead): void {
  if (!Number.isSafeInteger(query.count) || query.count <= 0) throw new TypeError(`audit read count must be a positive integer`);
  if (query.after !== undefined && !parseEntryId(query.after)) throw new TypeError(`audit cursor must look like <ms>-<seq>`);
}

export function assertValidRetention(retention: AuditRetention): void {
  if (!Number.isSafeInteger(retention.maxEntries) || retention.maxEntries <= 0) {
    throw new TypeError("audit maxEntries must be a positive integer");
  }
  if (!Number.isSafeInteger(retention.maxAgeMs) || retention.maxAgeMs <= 0) {
    throw new TypeError("audit maxAgeMs must be a positive integer");
  }
}
