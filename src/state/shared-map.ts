import { assertValidRetention, type AuditRetention } from "./audit-log.js";
import { StoreUnavailableError } from "./store.js";

/**
 * The second storage port, for the response engine: small keyed collections that every replica
 * holds in full and keeps in sync (active quarantines, runtime overrides, policy versions).
 *
 * Unlike `Store`, which counts per entity on the Check path, a shared map is read from a local
 * copy (see `ReplicatedMap`) and written rarely. Every change is numbered: the store keeps an
 * `epoch` (a random id, new whenever the map's bookkeeping is created afresh, e.g. after Redis
 * lost its data) and a sequence number that grows by one per change, and announces each change
 * with both. A replica that sees a gap in the numbers, or another epoch, knows it missed
 * something and reloads the whole map.
 *
 * Entries expire `ttlMs` after they were written (the store's clock). Expiry is not announced:
 * each replica drops its copy by the same rule. Values are opaque strings (JSON by convention).
 */
export interface SharedMapStore {
  /**
   * Writes `value` under `key` (replacing any), announces it, and returns the change's number.
   * With `audited`, see AuditedChange: the record is appended in the same atomic step.
   */
  put(key: string, value: string, ttlMs: number, audited?: AuditedChange): Promise<MapWrite & AuditedOutcome>;
  /** Writes only when `key` holds nothing; otherwise returns what it holds, unchanged. */
  putIfAbsent(key: string, value: string, ttlMs: number, audited?: AuditedChange): Promise<MapWrite & { created: boolean } & AuditedOutcome>;
  /**
   * Removes `key` when it holds `expected` (any value when `expected` is undefined), announces
   * it, and returns the removed value. A conditional removal cannot take away a newer value
   * that another replica wrote meanwhile.
   */
  remove(key: string, expected?: string, audited?: AuditedChange): Promise<MapRemoval & AuditedOutcome>;
  /** Every live entry with its remaining time to live, and the change number it reflects. */
  snapshot(): Promise<MapSnapshot>;
  /**
   * The live values of `keys` (undefined for a key that holds nothing), in one round trip: what
   * a replica whose copy left entries out (ReplicatedMap's `maxEntries`) asks on its Check path.
   */
  read(keys: readonly string[]): Promise<(string | undefined)[]>;
  /** The current epoch and change number, to notice missed announcements cheaply. */
  version(): Promise<MapVersion>;
  /**
   * Delivers every announced change, in order, from the moment the returned promise resolves.
   * `onResubscribed` runs whenever the subscription had to be re-established (a reconnect):
   * changes may have been missed, so the caller reloads.
   */
  subscribe(onChange: (change: MapChange) => void, onResubscribed: () => void): Promise<MapSubscription>;
}

/**
 * A change and its audit record, written together or not at all (an admin write: a lift, an
 * override, a rollback, a quarantine by hand). The record is appended only when the change
 * happens (a put-if-absent that finds an entry, or a conditional removal that finds another
 * value, appends nothing).
 *
 * The idempotency key names the change: a second write with the same key changes nothing and
 * answers what the first answered (`replayed`), for a day; the same key with another
 * `fingerprint` (another request body) is refused with IdempotencyConflictError.
 *
 * An audited write that fails with StoreUnavailableError was not applied and will not be
 * later: a store that keeps commands queued (Redis while it hangs) must refuse them once the
 * caller has given up (see redis/shared-map.ts). The one case left is a reply lost on the way
 * back after the change was made (WriteInDoubtError): the store then finds out in the
 * background, from the idempotency record, and calls `onAppliedLater` if it had been applied,
 * so the caller can still announce it; a retry with the same key tells the same.
 */
export interface AuditedChange {
  record: object;
  retention: AuditRetention;
  idempotencyKey: string;
  /** How long the key is remembered: IDEMPOTENCY_TTL_MS for a key a caller named, GENERATED_KEY_TTL_MS for one made here. */
  idempotencyTtlMs: number;
  fingerprint?: string;
  onAppliedLater?: (outcome: { auditId: string }) => void;
}

/**
 * An audited write whose reply did not come back in time. The store refuses to run it past its
 * deadline, so it almost certainly did not happen; if its reply was lost instead, it did, and
 * `onAppliedLater` says so.
 */
export class WriteInDoubtError extends StoreUnavailableError {}

export interface AuditedOutcome {
  /** The audit entry's id when this write appended one (or, replayed, when the first did). */
  auditId?: string;
  /** True when an earlier write with the same idempotency key answered for this one. */
  replayed?: boolean;
}

/** How long an idempotency key a caller named is remembered: its retries within a day answer alike. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a write whose reply was lost is followed up. */
export const IN_DOUBT_FOLLOW_UP_MS = 10 * 60 * 1000;
/**
 * A key generated here (an automatic quarantine's: no caller retries it) is kept twice the
 * follow-up, so the follow-up's last read still finds it, not a day: a flood of one-off
 * attackers would otherwise leave an answer of about 2 KB per quarantine in the store for a day.
 */
export const GENERATED_KEY_TTL_MS = 2 * IN_DOUBT_FOLLOW_UP_MS;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;

/** The same idempotency key came with another request: nothing was changed. */
export class IdempotencyConflictError extends Error {
  constructor() {
    super("this idempotency key was used for another request; nothing was changed");
    this.name = "IdempotencyConflictError";
  }
}

export function assertValidAuditedChange(audited: AuditedChange | undefined): void {
  if (!audited) return;
  const key = audited.idempotencyKey;
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new TypeError(`idempotency key must be a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  if (!Number.isSafeInteger(audited.idempotencyTtlMs) || audited.idempotencyTtlMs <= 0) {
    throw new TypeError("idempotency ttl must be a positive whole number of milliseconds");
  }
  assertValidRetention(audited.retention);
}

export interface MapVersion {
  /** "" while the map has no bookkeeping yet (never written, or everything expired). */
  epoch: string;
  seq: number;
}

export interface MapWrite extends MapVersion {
  /** The value now stored under the key. */
  value: string;
}

export type MapRemoval = ({ removed: true; value: string } | { removed: false }) & MapVersion;

export interface MapSnapshot extends MapVersion {
  entries: Map<string, { value: string; ttlMs: number }>;
}

export type MapChange =
  | ({ op: "put"; key: string; value: string; ttlMs: number } & MapVersion)
  | ({ op: "remove"; key: string } & MapVersion);

export interface MapSubscription {
  close(): Promise<void>;
}

/** Longest accepted key: keys are scope and pseudonym, rule ids, policy paths. */
export const MAX_MAP_KEY_LENGTH = 512;
/** Largest accepted value: a policy version with its list files fits; a flood of them does not. */
export const MAX_MAP_VALUE_BYTES = 4 * 1024 * 1024;

/** Checks one write so that every store rejects the same input with the same TypeError. */
export function assertValidMapWrite(key: string, value: string, ttlMs: number): void {
  assertValidMapKey(key);
  if (typeof value !== "string" || Buffer.byteLength(value) > MAX_MAP_VALUE_BYTES) {
    throw new TypeError(`map value must be a string of at most ${MAX_MAP_VALUE_BYTES} bytes`);
  }
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new TypeError(`map ttlMs must be a positive integer, got ${String(ttlMs)}`);
  }
}

export function assertValidMapKey(key: string): void {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_MAP_KEY_LENGTH) {
    throw new TypeError(`map key must be a string of 1 to ${MAX_MAP_KEY_LENGTH} characters, got ${JSON.stringify(key)}`);
  }
}

/** Map names become part of Redis keys and channels: keep them short and brace-free. */
export function assertValidMapName(name: string): void {
  if (!/^[a-z][a-z0-9_.-]{0,31}$/.test(name)) {
    throw new TypeError(`map name must be 1-32 lower-case letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  }
}
