import type { AuditLog } from "./audit-log.js";
import { MemoryDecisionRecordStore, type DecisionRecordStore } from "./decision-records.js";
import { MemoryDecisionStatsStore, type DecisionStatsStore } from "./decision-stats.js";
import { MemoryAuditLog } from "./memory-audit-log.js";
import { MemorySharedMap, type IdempotencyMemory } from "./memory-shared-map.js";
import { assertValidMapName, type SharedMapStore } from "./shared-map.js";

/**
 * Where the response engine keeps what all replicas share: named shared maps, the audit log,
 * the decision statistics and the decision records.
 * Redis for a fleet (redis/shared-backend.ts), memory for one replica; src/app/ picks.
 */
export interface SharedBackend {
  /** The shared map `name` (one instance per name). */
  map(name: string): SharedMapStore;
  readonly audit: AuditLog;
  /** Per-minute and per-hour decision counts that every replica adds to (the console, the report). */
  readonly stats: DecisionStatsStore;
  /** The shared record of every enforcement, aggregated per minute (appeals by decision id). */
  readonly decisions: DecisionRecordStore;
  /** `memory` or `redis`, for logs. */
  readonly kind: string;
  close(): Promise<void>;
}

export class MemorySharedBackend implements SharedBackend {
  readonly kind = "memory";
  readonly audit: MemoryAuditLog;
  readonly stats: DecisionStatsStore;
  readonly decisions: DecisionRecordStore;
  readonly #idempotency: IdempotencyMemory = new Map();
  readonly #maps = new Map<string, MemorySharedMap>();
  readonly #clock: (() => number) | undefined;

  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock;
    this.audit = new MemoryAuditLog({ clock: options.clock });
    this.stats = new MemoryDecisionStatsStore({ clock: options.clock });
    this.decisions = new MemoryDecisionRecordStore({ clock: options.clock });
  }

  map(name: string): SharedMapStore {
    assertValidMapName(name);
    let map = this.#maps.get(name);
    if (!map) {
      map = new MemorySharedMap({ clock: this.#clock, audit: this.audit, idempotency: this.#idempotency });
      this.#maps.set(name, map);
    }
    return map;
  }

  async close(): Promise<void> {}
}
