import { MINUTE_MS } from "./decision-stats.js";

/**
 * Decision records: the shared, durable record of every enforcement, a fourth port of the shared
 * backend. Records are aggregates: one per (action, rule, scope, subject, endpoint) and minute,
 * with a count and the time of the last decision it covers, so a flood from one client is one
 * record per minute however many requests it sends.
 *
 * A minute holds at most `perMinute` aggregates (fleet-wide). Past that, a new aggregate is
 * folded into its overflow aggregate: the same key without the subject (one per action, rule,
 * scope and endpoint). So a flood from many clients is bounded too, and every decision id still
 * finds a record: its own, or the overflow one it was folded into.
 *
 * Records are kept `retentionMs` after the minute's last write; the minute is the unit of expiry.
 */
export interface DecisionRecordStore {
  /**
   * Creates each write's aggregate if its minute lacks it (or folds it into the overflow), then
   * adds the count. One answer per write: true when it counted in its own aggregate, false when
   * in the overflow one (the minute is full).
   */
  write(writes: readonly DecisionRecordWrite[], limits: DecisionRecordLimits): Promise<boolean[]>;
  /** The aggregate `field` of `minuteMs`, else the overflow aggregate it was folded into, else undefined. */
  get(minuteMs: number, field: string, overflowField: string): Promise<StoredDecisionRecord | undefined>;
  /** Aggregates of the minutes within [fromMs, toMs], newest minute first, that `match`, at most `limit`. */
  list(query: DecisionRecordQuery): Promise<StoredDecisionRecord[]>;
}

export interface DecisionRecordWrite {
  /** The minute (wall clock, ms since the epoch, a whole minute) the aggregate belongs to. */
  minuteMs: number;
  /** The aggregate's name within its minute: a hash of its key (RECORD_FIELD), or `overflowField` to count there directly. */
  field: string;
  /** The overflow aggregate's name (OVERFLOW_FIELD): the key's hash without the subject. */
  overflowField: string;
  /** The aggregate's fixed part, written once (the first decision's facts). */
  record: Record<string, unknown>;
  /** The same without the subject, for the overflow aggregate. */
  overflowRecord: Record<string, unknown>;
  /** Decisions to add. */
  count: number;
  /** Time of the newest of them, ms since the epoch. */
  lastMs: number;
}

export interface DecisionRecordLimits {
  retentionMs: number;
  /** Aggregates one minute holds before new ones fold into their overflow aggregate. */
  perMinute: number;
}

export interface StoredDecisionRecord {
  minuteMs: number;
  field: string;
  record: Record<string, unknown>;
  count: number;
  lastMs: number;
  /** True for an overflow aggregate (no subject: the minute was full). */
  overflow: boolean;
}

export interface DecisionRecordQuery {
  fromMs: number;
  toMs: number;
  limit: number;
  match?: (record: StoredDecisionRecord) => boolean;
}

export const RECORD_FIELD = /^[0-9a-f]{16}$/;
export const OVERFLOW_FIELD = /^o[0-9a-f]{12}$/;
/** A list covers at most two days of minutes per call (page with `to`). */
export const MAX_RECORD_MINUTES = 2 * 24 * 60;
/** Serialised records longer than this are refused (reasons are a handful of short entries). */
export const MAX_RECORD_BYTES = 16_384;

/** `recordText`: the record as JSON, when the caller has it already (it is what is measured). */
export function assertValidRecordWrite(write: DecisionRecordWrite, limits: DecisionRecordLimits, recordText = JSON.stringify(write.record)): void {
  if (!Number.isSafeInteger(write.minuteMs) || write.minuteMs % MINUTE_MS !== 0) throw new TypeError("record minute must be a whole minute in ms");
  if (!RECORD_FIELD.test(write.field) && write.field !== write.overflowField) throw new TypeError("record field must be 16 hex digits or the overflow field");
  if (!OVERFLOW_FIELD.test(write.overflowField)) throw new TypeError("record overflow field must be o and 12 hex digits");
  if (!Number.isSafeInteger(write.count) || write.count <= 0) throw new TypeError("record count must be a positive integer");
  if (!Number.isSafeInteger(write.lastMs) || write.lastMs < 0) throw new TypeError("record last time must be ms since the epoch");
  if (recordText.length > MAX_RECORD_BYTES) throw new TypeError(`record larger than ${MAX_RECORD_BYTES} bytes`);
  if (!Number.isSafeInteger(limits.retentionMs) || limits.retentionMs <= 0) throw new TypeError("record retention must be a positive integer of ms");
  if (!Number.isSafeInteger(limits.perMinute) || limits.perMinute <= 0) throw new TypeError("records per minute must be a positive integer");
}

/** The minutes a list reads, newest first; refuses bad bounds and ranges past MAX_RECORD_MINUTES. */
export function listMinutes(query: DecisionRecordQuery): number[] {
  const { fromMs, toMs, limit } = query;
  if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || toMs < fromMs) throw new TypeError("record list needs integer bounds with from ≤ to");
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new TypeError("record list limit must be a positive integer");
  const first = Math.floor(fromMs / MINUTE_MS) * MINUTE_MS;
  const last = Math.floor(toMs / MINUTE_MS) * MINUTE_MS;
  if ((last - first) / MINUTE_MS >= MAX_RECORD_MINUTES) throw new TypeError(`record list covers more than ${MAX_RECORD_MINUTES} minutes`);
  const minutes: number[] = [];
  for (let at = last; at >= first; at -= MINUTE_MS) minutes.push(at);
  return minutes;
}

/** Newest last decision first: the order of a minute's records in a list. */
export const byLastDecision = (a: StoredDecisionRecord, b: StoredDecisionRecord) => b.lastMs - a.lastMs || a.field.localeCompare(b.field);

interface MemoryAggregate {
  record: Record<string, unknown>;
  count: number;
  lastMs: number;
}

/** Aggregates the memory store holds in all: the heap of one replica, not Redis, bounds it. */
export const MAX_MEMORY_RECORDS = 20_000;

/**
 * One replica's decision records: the same aggregation, bound and expiry as Redis, in Maps, and
 * at most `maxRecords` in all (the oldest minutes go first), so a week of attack cannot fill the
 * heap of a replica without Redis.
 */
export class MemoryDecisionRecordStore implements DecisionRecordStore {
  readonly #minutes = new Map<number, { aggregates: Map<string, MemoryAggregate>; size: number; expiresMs: number }>();
  readonly #clock: () => number;
  readonly #maxRecords: number;
  #total = 0;

  constructor(options: { clock?: () => number; maxRecords?: number } = {}) {
    this.#clock = options.clock ?? (() => Date.now());
    this.#maxRecords = options.maxRecords ?? MAX_MEMORY_RECORDS;
  }

  async write(writes: readonly DecisionRecordWrite[], limits: DecisionRecordLimits): Promise<boolean[]> {
    for (const write of writes) assertValidRecordWrite(write, limits);
    const now = this.#clock();
    this.#sweep(now);
    const own: boolean[] = [];
    for (const write of writes) {
      let minute = this.#minutes.get(write.minuteMs);
      if (!minute) this.#minutes.set(write.minuteMs, (minute = { aggregates: new Map(), size: 0, expiresMs: 0 }));
      minute.expiresMs = now + limits.retentionMs;
      let field = write.field;
      if (!minute.aggregates.has(field)) {
        if (field === write.overflowField || minute.size >= limits.perMinute) {
          field = write.overflowField;
          if (!minute.aggregates.has(field)) {
            minute.aggregates.set(field, { record: structuredClone(write.overflowRecord), count: 0, lastMs: 0 });
            this.#total += 1;
          }
        } else {
          minute.aggregates.set(field, { record: structuredClone(write.record), count: 0, lastMs: 0 });
          minute.size += 1;
          this.#total += 1;
        }
      }
      const aggregate = minute.aggregates.get(field)!;
      aggregate.count += write.count;
      aggregate.lastMs = Math.max(aggregate.lastMs, write.lastMs);
      own.push(field !== write.overflowField);
    }
    if (this.#total > this.#maxRecords) this.#trim();
    return own;
  }

  /**
   * Drops minutes in the order they were first written (oldest first: writes follow the wall
   * clock) while more than maxRecords are held, never the newest one.
   */
  #trim(): void {
    let left = this.#minutes.size;
    for (const at of this.#minutes.keys()) {
      if (this.#total <= this.#maxRecords || --left === 0) return;
      this.#total -= this.#minutes.get(at)!.aggregates.size;
      this.#minutes.delete(at);
    }
  }

  async get(minuteMs: number, field: string, overflowField: string): Promise<StoredDecisionRecord | undefined> {
    const minute = this.#live(minuteMs);
    for (const name of [field, overflowField]) {
      const aggregate = minute?.aggregates.get(name);
      if (aggregate) return stored(minuteMs, name, aggregate);
    }
    return undefined;
  }

  async list(query: DecisionRecordQuery): Promise<StoredDecisionRecord[]> {
    const found: StoredDecisionRecord[] = [];
    for (const minuteMs of listMinutes(query)) {
      const minute = this.#live(minuteMs);
      if (!minute) continue;
      const records = [...minute.aggregates].map(([field, aggregate]) => stored(minuteMs, field, aggregate)).sort(byLastDecision);
      for (const record of records) {
        if (query.match && !query.match(record)) continue;
        found.push(record);
        if (found.length >= query.limit) return found;
      }
    }
    return found;
  }

  #live(minuteMs: number) {
    const minute = this.#minutes.get(minuteMs);
    return minute && minute.expiresMs > this.#clock() ? minute : undefined;
  }

  #sweep(now: number): void {
    for (const [at, minute] of this.#minutes) {
      if (minute.expiresMs > now) continue;
      this.#total -= minute.aggregates.size;
      this.#minutes.delete(at);
    }
  }
}

function stored(minuteMs: number, field: string, aggregate: MemoryAggregate): StoredDecisionRecord {
  return { minuteMs, field, record: structuredClone(aggregate.record), count: aggregate.count, lastMs: aggregate.lastMs, overflow: OVERFLOW_FIELD.test(field) };
}
