import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Decision } from "../../src/domain/decision.js";
import type { HttpAttributes } from "../../src/domain/request.js";
import type { PolicySource } from "../../src/policy/policy-source.js";
import type { PipelineResult } from "../../src/pipeline/pipeline.js";
import type { Pseudonymiser } from "../../src/privacy/pseudonymiser.js";
import type { ResponseEngine, ResponseObserver, TrailListener } from "../../src/response/engine.js";
import { AuditTrail } from "../../src/response/audit.js";
import { ResponseEvents, type ResponseEvent, type ResponseListener } from "../../src/response/events.js";
import type { Quarantine, QuarantineMark } from "../../src/response/quarantine-record.js";
import { Quarantines } from "../../src/response/quarantines.js";
import type { AuditLog } from "../../src/state/audit-log.js";
import type { ReplicatedMap } from "../../src/state/replicated-map.js";
import { MemoryStore } from "../../src/state/memory-store.js";
import { MemorySharedBackend, type SharedBackend } from "../../src/state/shared-backend.js";
import { WriteInDoubtError, type AuditedChange, type SharedMapStore } from "../../src/state/shared-map.js";
import { StoreUnavailableError, type Store } from "../../src/state/store.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { testDecisionCore } from "./decision-core.js";

export const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** A decision for unit tests of what the engine does with one: a block by rule deny on the ip. */
export const sampleDecision = (extra: Partial<Decision> = {}): Decision => ({
  decisionId: "d-1",
  action: "block",
  risk: 50,
  rule: "deny",
  scope: "ip",
  reasons: [{ code: "list.bad", value: 1, weight: 50 }],
  policyVersion: "v1",
  degraded: false,
  shadowed: [],
  eventTimeMs: Date.UTC(2026, 10, 24, 9),
  endpoint: "login",
  ...extra,
});

/** A quarantine record for unit tests of what is made of one (webhooks, audit records). */
export const sampleQuarantine: Quarantine = {
  id: "q-1",
  scope: "ip",
  subject: "pseudonym",
  rule: "trap",
  policyVersion: "v1",
  reasons: [{ code: "velocity.ip", value: 12, threshold: 10, weight: 40 }],
  startMs: Date.UTC(2026, 10, 24, 9),
  expiresMs: Date.UTC(2026, 10, 24, 9, 15),
  offence: 1,
  actor: "system",
};

/**
 * A policy for response tests: `/trap` quarantines the IP (for a minute, `/brief` for a
 * second), `/deny` blocks, `/shadow` would quarantine (shadow rule), `/step` asks for step-up,
 * `/challenge` challenges the username (from the `x-user` header).
 */
/**
 * Quarantines over a replica's map, with the events they announce (in `seen`) and an audit
 * trail on the backend, on the given clock: the unit tests' replica without an engine.
 */
export function quarantinesOver(map: ReplicatedMap<QuarantineMark>, backend: SharedBackend, clock: () => number, store: Store = new MemoryStore()) {
  const events = new ResponseEvents({ clock });
  const seen: ResponseEvent[] = [];
  events.on((event) => seen.push(event));
  const audit = new AuditTrail(backend.audit, () => ({ maxAgeMs: 86_400_000, maxEntries: 1_000 }), () => {});
  const q = new Quarantines({ map, store, events, audited: (e, at, id) => audit.audited(e, at, id), log: quiet, clock, budgetMs: 1_000 });
  return { q, seen, audit };
}

export function responsePolicy(version: string, extraRules = "", spec = ""): string {
  return `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: response-test, version: "${version}" }
spec:
${spec}
  endpoints:
    - { name: trap, match: { pathPrefix: /trap } }
    - { name: brief, match: { path: /brief } }
    - { name: deny, match: { path: /deny } }
    - { name: shadow, match: { path: /shadow } }
    - { name: step, match: { path: /step }, identity: { username: { header: x-user } } }
    - { name: challenge, match: { path: /challenge }, identity: { username: { header: x-user } } }
    - name: search
      match: { path: /search }
      velocity: { ip: { window: 1m, threshold: 100, weight: 30 } }
  rules:
    - { id: trap, endpoints: [trap], when: "true", action: quarantine, scope: ip, retryAfter: 1m }
    - { id: brief, endpoints: [brief], when: "true", action: quarantine, scope: ip, retryAfter: 1s }
    - { id: deny, endpoints: [deny], when: "true", action: block, scope: ip }
    - { id: would-quarantine, endpoints: [shadow], when: "true", action: quarantine, scope: ip, shadow: true }
    - { id: step, endpoints: [step], when: "true", action: step_up, scope: username }
    - { id: challenge-user, endpoints: [challenge], when: "true", action: challenge, scope: username }
${extraRules}`;
}

export interface EngineHarness {
  engine: ResponseEngine;
  source: PolicySource;
  store: Store;
  backend: SharedBackend;
  events: ResponseEvent[];
  /** The pseudonymiser the Check path uses. */
  pseudonymiser: Pseudonymiser;
  /** Runs a request through a pipeline wired to the engine, as the Check service does. */
  check(path: string, ip: string, headers?: Record<string, string>, timeMs?: number): Promise<PipelineResult>;
  /** Replaces the policy file and reloads it. */
  publish(text: string): Promise<void>;
  clock: { now: number };
  stop(): Promise<void>;
}

export async function engineHarness(
  text = responsePolicy("v1"),
  options: {
    backend?: SharedBackend;
    store?: Store;
    budgetMs?: number;
    observer?: ResponseObserver;
    bookkeeping?: boolean;
    /** Further receivers of the engine's events, after the harness's own. */
    listeners?: ResponseListener[];
    /** Followers of the audit trail (as webhooks follow it). */
    trailListeners?: TrailListener[];
    /** Receives each log line the core writes at info and above, parsed. */
    logs?: Record<string, unknown>[];
  } = {},
): Promise<EngineHarness> {
  const dir = mkdtempSync(join(tmpdir(), "palisade-response-"));
  const file = join(dir, "policy.yaml");
  writeFileSync(file, text);
  const clock = { now: Date.UTC(2026, 10, 24, 9) };
  const store = options.store ?? new MemoryStore();
  const backend = options.backend ?? new MemorySharedBackend({ clock: () => clock.now });
  const events: ResponseEvent[] = [];
  const core = await testDecisionCore(file, {
    store,
    shared: backend,
    clock: { now: () => clock.now },
    // The engine waits this long for a new quarantine's shared write: two store budgets.
    settings: { storeTimeout: (options.budgetMs ?? 1_000) / 2 },
    response: { listeners: [(event) => events.push(event), ...(options.listeners ?? [])], observer: options.observer, trailListeners: options.trailListeners },
    bookkeeping: options.bookkeeping,
    logger: options.logs && createLogger({ level: "info", destination: { write: (line: string) => void options.logs!.push(JSON.parse(line) as Record<string, unknown>) } }),
  });
  const { engine, pipeline, policy: source } = core;
  return {
    engine,
    pseudonymiser: core.pseudonymiser,
    source,
    store,
    backend,
    events,
    clock,
    check: (path, ip, headers = {}, timeMs = clock.now) => {
      const attrs: HttpAttributes = { method: "GET", path, headers: new Map(Object.entries({ "x-forwarded-for": ip, ...headers })), timeMs };
      return pipeline.evaluate(attrs);
    },
    async publish(next) {
      clock.now += 1_000; // an operator's edit comes a while after the last one
      writeFileSync(file, next);
      await source.reload();
    },
    async stop() {
      await core.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a faultyBackend is told to get wrong; every fault is off until a test turns it on. */
export interface BackendFaults {
  /** Appends to the audit log fail (the records of events, not those written with a change). */
  auditDown: boolean;
  /** Names of shared maps whose every call fails as a store away does. */
  mapsDown: Set<string>;
  /**
   * Names of shared maps whose audited writes are applied but whose replies are lost: the
   * writer gets WriteInDoubtError, and hears that the write was applied when `confirmLost` runs
   * (the store's background look at its idempotency record).
   */
  repliesLost: Set<string>;
  /** Runs the `onAppliedLater` of every write whose reply was lost, oldest first. */
  confirmLost(): void;
}

/**
 * A memory backend that fails on demand as a shared store can (see BackendFaults); the
 * in-process stand-in for the integration suites' Redis that stops answering.
 */
export function faultyBackend(clock: () => number): { backend: SharedBackend; faults: BackendFaults } {
  const base = new MemorySharedBackend({ clock });
  const unconfirmed: (() => void)[] = [];
  const faults: BackendFaults = {
    auditDown: false,
    mapsDown: new Set(),
    repliesLost: new Set(),
    confirmLost: () => unconfirmed.splice(0).forEach((confirm) => confirm()),
  };
  const away = () => Promise.reject(new StoreUnavailableError("store away"));
  const audit: AuditLog = {
    append: (record, retention) => (faults.auditDown ? away() : base.audit.append(record, retention)),
    read: (query) => base.audit.read(query),
    follow: (group, follower, handle) => base.audit.follow(group, follower, handle),
  };
  const maps = new Map<string, SharedMapStore>();
  const faulty = (name: string, map: SharedMapStore): SharedMapStore => {
    const down = () => faults.mapsDown.has(name);
    /** Runs an audited write, then loses its reply when told to. */
    const write = async <T extends { auditId?: string }>(audited: AuditedChange | undefined, run: () => Promise<T>): Promise<T> => {
      if (down()) return away();
      const result = await run();
      if (!audited || !faults.repliesLost.has(name)) return result;
      if (result.auditId !== undefined) unconfirmed.push(() => audited.onAppliedLater?.({ auditId: result.auditId! }));
      throw new WriteInDoubtError("reply lost");
    };
    return {
      put: (key, value, ttlMs, audited) => write(audited, () => map.put(key, value, ttlMs, audited)),
      putIfAbsent: (key, value, ttlMs, audited) => write(audited, () => map.putIfAbsent(key, value, ttlMs, audited)),
      remove: (key, expected, audited) => write(audited, () => map.remove(key, expected, audited)),
      snapshot: () => (down() ? away() : map.snapshot()),
      read: (keys) => (down() ? away() : map.read(keys)),
      version: () => (down() ? away() : map.version()),
      subscribe: (onChange, onResubscribed) => map.subscribe(onChange, onResubscribed),
    };
  };
  const backend: SharedBackend = {
    kind: "memory",
    audit,
    stats: base.stats,
    decisions: base.decisions,
    close: () => base.close(),
    map(name) {
      let map = maps.get(name);
      if (!map) maps.set(name, (map = faulty(name, base.map(name))));
      return map;
    },
  };
  return { backend, faults };
}
