import { randomUUID } from "node:crypto";
import type { CompiledPolicy } from "../policy/compile.js";
import type { AuditEntry, AuditFollowing } from "../state/audit-log.js";
import { ReplicatedMap, type ReplicatedMapOptions, type SyncEvent } from "../state/replicated-map.js";
import type { SharedBackend } from "../state/shared-backend.js";
import type { Store } from "../state/store.js";
import { AnomalyTracker } from "./anomalies.js";
import { AuditTrail } from "./audit.js";
import { DecisionRecords } from "./decision-records.js";
import { DecisionStatistics } from "./decision-stats.js";
import { RuntimeControls } from "./controls.js";
import { decodeControl, EffectivePolicy, type Control, type PolicySourcePort } from "./effective-policy.js";
import { ResponseEvents, SYSTEM, type ResponseEvent, type ResponseListener, type ResponseLog, type WriteId } from "./events.js";
import { FlaggedDecisions } from "./flagged.js";
import { PolicyHistory } from "./policy-history.js";
import { QUARANTINE_COPY, type QuarantineMark } from "./quarantine-record.js";
import { Quarantines } from "./quarantines.js";
import { recordRelief, type ReliefKind } from "./relief.js";
import { Responder } from "./responder.js";

export type TrailListener = (entry: AuditEntry) => void;

/** The consumer group of the trail's followers that publish webhooks. */
export const WEBHOOK_FOLLOWERS = "webhooks";

/** What telemetry wants to hear from the engine; every hook is optional. */
export interface ResponseObserver {
  event?(event: ResponseEvent): void;
  held?(quarantine: QuarantineMark): void;
  sync?(map: string, event: SyncEvent): void;
  auditFailed?(action: string): void;
  policyInForce?(policy: CompiledPolicy): void;
  relief?(kind: ReliefKind): void;
}

export interface ResponseEngineDependencies {
  backend: SharedBackend;
  /** The Check path's store: offences and friction relief live with each entity's counters. */
  store: Store;
  source: PolicySourcePort;
  log: ResponseLog;
  /** Wall clock, ms since the epoch. */
  clock: () => number;
  /** Longest a Check waits for a new quarantine's shared write (see Quarantines). */
  budgetMs: number;
  /** Most active quarantines held in this replica's copy (ReplicatedMap maxEntries); unbounded when absent. */
  quarantineCopyMax?: number;
  /** How often the shared maps' copies compare versions with the store, as a backstop (ReplicatedMap checkIntervalMs); 5 s when absent. */
  replicaCheckMs?: number;
  /** How often this replica adds its decision counts to the shared statistics; 5 s when absent. */
  statsFlushMs?: number;
  /** How often this replica adds its counts to the shared decision records; 2 s when absent. */
  recordsFlushMs?: number;
  /** Further receivers of every event (anomaly webhooks). */
  listeners?: ResponseListener[];
  /**
   * Receivers of the audit trail's records, each record handed to one replica (webhooks for
   * state changes: published from the trail, so every webhook has its record, and a change is
   * announced even when the replica that made it died right after).
   */
  trailListeners?: TrailListener[];
  /** This replica's name among the trail's followers; random when absent. */
  followerName?: string;
  observer?: ResponseObserver;
  /** false in offline replay: see ResponderDependencies.bookkeeping. */
  bookkeeping?: boolean;
}

/**
 * The response engine: quarantines, runtime controls over the policy, the audit trail, flagged
 * decisions and anomaly reports, assembled over the storage ports. src/app/ picks the backend
 * and wires the engine's responder into the pipeline and its services into the analyst API.
 */
export class ResponseEngine {
  readonly events: ResponseEvents;
  readonly audit: AuditTrail;
  readonly quarantines: Quarantines;
  readonly controls: RuntimeControls;
  readonly effective: EffectivePolicy;
  readonly history: PolicyHistory;
  readonly flagged = new FlaggedDecisions();
  readonly anomalies: AnomalyTracker;
  /** Per-minute and per-hour decision counts, shared by every replica (console, posture report). */
  readonly stats: DecisionStatistics;
  /** Every enforcement, aggregated per minute, shared by every replica (appeals by decision id). */
  readonly records: DecisionRecords;
  readonly responder: Responder;
  readonly #deps: ResponseEngineDependencies;
  readonly #maps: ReplicatedMap<unknown>[];
  #following: AuditFollowing | undefined;
  #fileVersion: string;

  private constructor(deps: ResponseEngineDependencies, quarantineMap: ReplicatedMap<QuarantineMark>, controlMap: ReplicatedMap<Control>) {
    this.#deps = deps;
    this.#maps = [quarantineMap, controlMap] as ReplicatedMap<unknown>[];
    this.#fileVersion = deps.source.filePolicy().version;
    const { log, observer } = deps;
    this.events = new ResponseEvents({ clock: deps.clock, onListenerError: (error) => log.error({ err: error }, "response event listener failed") });
    this.audit = new AuditTrail(deps.backend.audit, () => deps.source.current().response.audit, (error, action) => {
      observer?.auditFailed?.(action);
      log.error({ err: error, action }, "audit record could not be written");
    });
    this.events.on((event, atMs, meta) => this.audit.record(event, atMs, meta));
    for (const listener of deps.listeners ?? []) this.events.on(listener);
    this.events.on((event) => {
      observer?.event?.(event);
      log.info({ event: summary(event) }, event.type);
    });
    this.history = new PolicyHistory(deps.backend.map("policies"));
    this.effective = new EffectivePolicy(deps.source, controlMap, log, (policy) => observer?.policyInForce?.(policy));
    // A write whose reply was lost but which Redis did run (see WriteInDoubtError) is announced
    // once the store says so: the trail has it already (its webhook follows from there); logs
    // and metrics follow from this event.
    const audited = (event: ResponseEvent, atMs: number, id: WriteId) => ({
      ...this.audit.audited(event, atMs, id),
      onAppliedLater: ({ auditId }: { auditId: string }) => {
        log.warn({ auditId, action: event.type }, "a write whose reply was lost had been applied: announcing it now");
        this.events.publish(event, { auditId }, atMs);
      },
    });
    this.controls = new RuntimeControls({ map: controlMap, history: this.history, effective: this.effective, events: this.events, audited, clock: deps.clock });
    this.quarantines = new Quarantines({ map: quarantineMap, store: deps.store, events: this.events, audited, log, clock: deps.clock, budgetMs: deps.budgetMs });
    this.anomalies = new AnomalyTracker(this.events);
    this.stats = new DecisionStatistics({
      store: deps.backend.stats,
      retention: () => {
        const keep = deps.source.current().response.audit.maxAgeMs;
        return { hourMs: keep, minuteMs: keep };
      },
      clock: deps.clock,
      log,
      flushEveryMs: deps.statsFlushMs,
    });
    this.records = new DecisionRecords({
      store: deps.backend.decisions,
      limits: () => deps.source.current().response.decisions,
      clock: deps.clock,
      log,
      flushEveryMs: deps.recordsFlushMs,
    });
    this.responder = new Responder({
      records: this.records,
      quarantines: this.quarantines,
      events: this.events,
      flagged: this.flagged,
      anomalies: this.anomalies,
      stats: this.stats,
      log,
      onHeld: (quarantine) => observer?.held?.(quarantine),
      bookkeeping: deps.bookkeeping,
    });
  }

  /** Loads the shared state (tolerating a store that is not up yet) and starts following it. */
  static async start(deps: ResponseEngineDependencies): Promise<ResponseEngine> {
    const replicate = <V>(name: string, decode: (raw: string) => V | undefined, options: Partial<ReplicatedMapOptions<V>> = {}) =>
      new ReplicatedMap({ store: deps.backend.map(name), decode, onSync: (event) => deps.observer?.sync?.(name, event), checkIntervalMs: deps.replicaCheckMs, ...options });
    // Quarantines can be hundreds of thousands in a campaign: a compact copy, bounded by count.
    const quarantineMap = replicate("quarantines", QUARANTINE_COPY.decode, { ...QUARANTINE_COPY, maxEntries: deps.quarantineCopyMax });
    const controlMap = replicate("controls", decodeControl);
    await Promise.all([quarantineMap.start(), controlMap.start()]);
    const engine = new ResponseEngine(deps, quarantineMap, controlMap);
    const trailListeners = deps.trailListeners ?? [];
    if (trailListeners.length > 0) {
      engine.#following = await deps.backend.audit.follow(WEBHOOK_FOLLOWERS, deps.followerName ?? randomUUID(), async (entries) => {
        for (const entry of entries) for (const listener of trailListeners) listener(entry);
      });
    }
    engine.effective.start();
    engine.stats.start();
    engine.records.start();
    deps.observer?.policyInForce?.(deps.source.current());
    deps.source.onFileChange(() => {
      // Registered after the effective policy's own listener: the override is already recomputed.
      deps.observer?.policyInForce?.(deps.source.current());
      void engine.#recordFilePolicy();
    });
    await engine.#recordFilePolicy();
    return engine;
  }

  /** A passed challenge or MFA, reported by the application, waives friction for a while. */
  async recordRelief(kind: ReliefKind, subjects: { username?: string; session?: string }, nowMs: number): Promise<void> {
    await recordRelief(this.#deps.store, kind, subjects, nowMs, this.#deps.source.current().response.friction.reliefMs);
    this.stats.relief(kind);
    this.#deps.observer?.relief?.(kind);
  }

  /** True while a shared map could not be loaded (decisions go on from the last copy). */
  get stale(): boolean {
    return this.#maps.some((map) => map.stale);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#maps.map((map) => map.stop()), this.stats.stop(), this.records.stop(), this.#following?.close()]);
  }

  /** Keeps the file's policy for rollback; the first replica to see a version records it. */
  async #recordFilePolicy(): Promise<void> {
    const policy = this.#deps.source.filePolicy();
    const previousVersion = this.#fileVersion === policy.version ? undefined : this.#fileVersion;
    this.#fileVersion = policy.version;
    try {
      const { created, version } = await this.history.record(this.#deps.source.fileSnapshot(), policy, this.#deps.clock());
      if (created) {
        this.events.publish({ type: "policy.loaded", actor: SYSTEM, version: policy.version, id: version.id, name: policy.name, source: version.source, previousVersion });
      }
    } catch (error) {
      this.#deps.log.warn({ err: error, version: policy.version }, "policy version not kept for rollback: store unavailable");
    }
  }
}

/** The log line of an event: its identifying fields, never the rationale's bulk. */
function summary(event: ResponseEvent): Record<string, unknown> {
  if ("quarantine" in event) {
    const { id, scope, subject, rule, expiresMs, offence } = event.quarantine;
    return { type: event.type, quarantineId: id, scope, subject, rule, expires: new Date(expiresMs).toISOString(), offence, ...("actor" in event ? { actor: event.actor } : {}) };
  }
  const { reasons: _reasons, ...rest } = event as ResponseEvent & { reasons?: unknown };
  return rest;
}
