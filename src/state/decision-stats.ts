/**
 * Per-minute and per-hour decision statistics that every replica adds to and every replica can
 * read: a third port of the shared backend, beside the shared maps and the audit log. A bucket
 * is a set of named counters (`field → count`) for one minute or one hour; replicas add their
 * own counts to the same bucket, so a read sees the fleet.
 *
 * Bounded by construction: a bucket keeps at most MAX_STATS_FIELDS fields, and counts for new
 * fields past that go to STATS_OVERFLOW_FIELD; minutes are kept for at most
 * MAX_MINUTE_RETENTION_MS and hours for the retention given with each add.
 */
export interface DecisionStatsStore {
  /** Adds each field's count to the minute bucket and to its hour bucket (a full bucket's new fields to the overflow), then sets their expiry. */
  add(minuteMs: number, counts: Readonly<Record<string, number>>, retention: StatsRetention): Promise<void>;
  /** The buckets of `resolution` that start within [fromMs, toMs], oldest first; empty ones left out. */
  read(resolution: StatsResolution, fromMs: number, toMs: number): Promise<StatsBucket[]>;
}

export type StatsResolution = "minute" | "hour";

export interface StatsRetention {
  /** How long an hour bucket is kept after its last add. */
  hourMs: number;
  /** How long a minute bucket is kept after its last add (capped at MAX_MINUTE_RETENTION_MS). */
  minuteMs: number;
}

export interface StatsBucket {
  startMs: number;
  counts: Record<string, number>;
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
/** Minutes are for the console's recent view: two days of them at most. */
export const MAX_MINUTE_RETENTION_MS = 2 * 24 * HOUR_MS;
/** Fields one bucket may hold: actions × the policy's rules and endpoints fit; a flood of names does not. */
export const MAX_STATS_FIELDS = 512;
/** Counts for fields a full bucket has no room for go here (one more field beyond the bound). */
export const STATS_OVERFLOW_FIELD = "x";
/** A read covers at most this many buckets (a week of hours is 168; 2 days of minutes is 2,880). */
export const MAX_STATS_BUCKETS = 3_000;
const MAX_FIELD_LENGTH = 160;

export function bucketStart(resolution: StatsResolution, ms: number): number {
  const size = resolution === "minute" ? MINUTE_MS : HOUR_MS;
  return Math.floor(ms / size) * size;
}

/** Every bucket start of `resolution` in [fromMs, toMs], refusing ranges past MAX_STATS_BUCKETS. */
export function bucketStarts(resolution: StatsResolution, fromMs: number, toMs: number): number[] {
  if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || toMs < fromMs) throw new TypeError("stats read needs integer bounds with from ≤ to");
  const size = resolution === "minute" ? MINUTE_MS : HOUR_MS;
  const starts: number[] = [];
  for (let at = bucketStart(resolution, fromMs); at <= toMs; at += size) {
    starts.push(at);
    if (starts.length > MAX_STATS_BUCKETS) throw new TypeError(`stats read covers more than ${MAX_STATS_BUCKETS} ${resolution} buckets`);
  }
  return starts;
}

export function assertValidStatsAdd(minuteMs: number, counts: Readonly<Record<string, number>>, retention: StatsRetention): void {
  if (!Number.isSafeInteger(minuteMs) || minuteMs % MINUTE_MS !== 0) throw new TypeError("stats minute must be a whole minute in ms");
  const fields = Object.entries(counts);
  if (fields.length > MAX_STATS_FIELDS) throw new TypeError(`stats add of more than ${MAX_STATS_FIELDS} fields`);
  for (const [field, count] of fields) {
    if (field.length === 0 || field.length > MAX_FIELD_LENGTH) throw new TypeError(`stats field must be 1-${MAX_FIELD_LENGTH} characters`);
    if (!Number.isSafeInteger(count) || count < 0) throw new TypeError(`stats count must be a non-negative integer`);
  }
  for (const ms of [retention.hourMs, retention.minuteMs]) {
    if (!Number.isSafeInteger(ms) || ms <= 0) throw new TypeError("stats retention must be a positive integer of ms");
  }
}

/** One replica's statistics: the same buckets and expiry as Redis, in a Map. */
export class MemoryDecisionStatsStore implements DecisionStatsStore {
  readonly #buckets = new Map<string, { counts: Map<string, number>; expiresMs: number }>();
  readonly #clock: () => number;

  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? (() => Date.now());
  }

  async add(minuteMs: number, counts: Readonly<Record<string, number>>, retention: StatsRetention): Promise<void> {
    assertValidStatsAdd(minuteMs, counts, retention);
    const now = this.#clock();
    this.#sweep(now);
    const targets: [string, number][] = [
      [`minute:${minuteMs}`, now + Math.min(retention.minuteMs, MAX_MINUTE_RETENTION_MS)],
      [`hour:${bucketStart("hour", minuteMs)}`, now + retention.hourMs],
    ];
    for (const [key, expiresMs] of targets) {
      let bucket = this.#buckets.get(key);
      if (!bucket) this.#buckets.set(key, (bucket = { counts: new Map(), expiresMs }));
      bucket.expiresMs = expiresMs;
      for (const [name, count] of Object.entries(counts)) {
        const field = bucket.counts.has(name) || bucket.counts.size < MAX_STATS_FIELDS ? name : STATS_OVERFLOW_FIELD;
        bucket.counts.set(field, (bucket.counts.get(field) ?? 0) + count);
      }
    }
  }

  async read(resolution: StatsResolution, fromMs: number, toMs: number): Promise<StatsBucket[]> {
    const now = this.#clock();
    return bucketStarts(resolution, fromMs, toMs).flatMap((startMs) => {
      const bucket = this.#buckets.get(`${resolution}:${startMs}`);
      if (!bucket || bucket.expiresMs <= now || bucket.counts.size === 0) return [];
      return [{ startMs, counts: Object.fromEntries(bucket.counts) }];
    });
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.expiresMs <= now) this.#buckets.delete(key);
  }
}
