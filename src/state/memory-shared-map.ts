import { randomUUID } from "node:crypto";
import type { MemoryAuditLog } from "./memory-audit-log.js";
import {
  assertValidAuditedChange,
  assertValidMapKey,
  IdempotencyConflictError,
  type AuditedChange,
  type AuditedOutcome,
  assertValidMapWrite,
  type MapChange,
  type MapRemoval,
  type MapSnapshot,
  type MapSubscription,
  type MapVersion,
  type MapWrite,
  type SharedMapStore,
} from "./shared-map.js";

/** Answers of audited writes by idempotency key, shared by the maps of one backend. */
export type IdempotencyMemory = Map<string, { fingerprint: string; answer: object; expiresMs: number }>;

interface Entry {
  value: string;
  deadlineMs: number;
}

/**
 * The shared map of a single replica: the same numbering and expiry as the Redis one, in one
 * process. Changes are announced synchronously, before the writing call resolves, so the
 * replica's own copy is current as soon as a write returns. Expiry runs on `clock` (the local
 * clock), like Redis TTLs.
 */
export class MemorySharedMap implements SharedMapStore {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(change: MapChange) => void>();
  readonly #clock: () => number;
  readonly #epoch = randomUUID();
  readonly #audit: MemoryAuditLog | undefined;
  readonly #idempotency: IdempotencyMemory;
  #seq = 0;

  /** `audit` (the backend's log) is needed for audited writes; without it they are refused. */
  constructor(options: { clock?: () => number; audit?: MemoryAuditLog; idempotency?: IdempotencyMemory } = {}) {
    this.#clock = options.clock ?? (() => Date.now());
    this.#audit = options.audit;
    this.#idempotency = options.idempotency ?? new Map();
  }

  async put(key: string, value: string, ttlMs: number, audited?: AuditedChange): Promise<MapWrite & AuditedOutcome> {
    assertValidMapWrite(key, value, ttlMs);
    assertValidAuditedChange(audited);
    return this.#audited(audited, () => ({ changed: true, answer: this.#write(key, value, ttlMs) }));
  }

  async putIfAbsent(key: string, value: string, ttlMs: number, audited?: AuditedChange): Promise<MapWrite & { created: boolean } & AuditedOutcome> {
    assertValidMapWrite(key, value, ttlMs);
    assertValidAuditedChange(audited);
    return this.#audited<MapWrite & { created: boolean }>(audited, () => {
      const existing = this.#live(key);
      if (existing) return { changed: false, answer: { created: false, value: existing.value, ...this.#version() } };
      return { changed: true, answer: { created: true, ...this.#write(key, value, ttlMs) } };
    });
  }

  async remove(key: string, expected?: string, audited?: AuditedChange): Promise<MapRemoval & AuditedOutcome> {
    assertValidMapKey(key);
    assertValidAuditedChange(audited);
    return this.#audited<MapRemoval>(audited, () => {
      const existing = this.#live(key);
      if (!existing || (expected !== undefined && existing.value !== expected)) return { changed: false, answer: { removed: false, ...this.#version() } };
      this.#entries.delete(key);
      this.#seq += 1;
      this.#announce({ op: "remove", key, ...this.#version() });
      return { changed: true, answer: { removed: true, value: existing.value, ...this.#version() } };
    });
  }

  /**
   * The same steps as the Redis script: a known key answers as before; otherwise the change,
   * then its record when it changed something, then the answer kept under the key. One
   * synchronous step, so nothing interleaves.
   */
  #audited<T extends object>(audited: AuditedChange | undefined, change: () => { changed: boolean; answer: T }): T & AuditedOutcome {
    if (!audited) return change().answer;
    if (!this.#audit) throw new TypeError("audited writes need the backend's audit log");
    const now = this.#clock();
    sweepIdempotency(this.#idempotency, now);
    const fingerprint = audited.fingerprint ?? "";
    let kept = this.#idempotency.get(audited.idempotencyKey);
    if (kept && kept.expiresMs <= now) {
      // Expired but not yet swept (written under a later clock than an entry before it).
      this.#idempotency.delete(audited.idempotencyKey);
      kept = undefined;
    }
    if (kept) {
      if (kept.fingerprint !== fingerprint) throw new IdempotencyConflictError();
      return { ...(kept.answer as T & AuditedOutcome), replayed: true };
    }
    const { changed, answer } = change();
    const outcome: T & AuditedOutcome = changed ? { ...answer, auditId: this.#audit.appendNow(audited.record, audited.retention) } : answer;
    this.#idempotency.set(audited.idempotencyKey, { fingerprint, answer: outcome, expiresMs: now + audited.idempotencyTtlMs });
    return outcome;
  }

  async snapshot(): Promise<MapSnapshot> {
    const now = this.#clock();
    const entries = new Map<string, { value: string; ttlMs: number }>();
    for (const key of [...this.#entries.keys()]) {
      const entry = this.#live(key);
      if (entry) entries.set(key, { value: entry.value, ttlMs: entry.deadlineMs - now });
    }
    return { entries, ...this.#version() };
  }

  async read(keys: readonly string[]): Promise<(string | undefined)[]> {
    for (const key of keys) assertValidMapKey(key);
    return keys.map((key) => this.#live(key)?.value);
  }

  async version(): Promise<MapVersion> {
    return this.#version();
  }

  async subscribe(onChange: (change: MapChange) => void): Promise<MapSubscription> {
    this.#listeners.add(onChange);
    return { close: async () => void this.#listeners.delete(onChange) };
  }

  #write(key: string, value: string, ttlMs: number): MapWrite {
    this.#entries.set(key, { value, deadlineMs: this.#clock() + ttlMs });
    this.#seq += 1;
    this.#announce({ op: "put", key, value, ttlMs, ...this.#version() });
    return { value, ...this.#version() };
  }

  /** The entry if it has not expired; an expired one is dropped on the way. */
  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.deadlineMs <= this.#clock()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #version(): MapVersion {
    return { epoch: this.#epoch, seq: this.#seq };
  }

  #announce(change: MapChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/**
 * Forgets expired idempotency answers, oldest first, up to the first that is still live. Every
 * answer is kept for the same time after its write, so the Map's insertion order is the order
 * they expire in while the clock runs forward, and a sweep looks at the expired answers and one
 * more. (Scanning all answers on every write made a replay's quarantines quadratic: a day of
 * traffic holds tens of thousands.) An answer written under a later clock than one after it
 * waits for its turn; the look-up checks expiry itself, so it is never used past it.
 */
function sweepIdempotency(idempotency: IdempotencyMemory, now: number): void {
  for (const [key, kept] of idempotency) {
    if (kept.expiresMs > now) return;
    idempotency.delete(key);
  }
}
