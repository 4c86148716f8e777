import type { Reason, Scope } from "../domain/decision.js";
import type { CompiledResponse } from "../policy/response-schema.js";
import type { AuditLog } from "../state/audit-log.js";
import { GENERATED_KEY_TTL_MS, IDEMPOTENCY_TTL_MS, type AuditedChange } from "../state/shared-map.js";
import { SYSTEM, type EventMeta, type ResponseEvent, type WriteId } from "./events.js";

/**
 * One audit record: what was done, by whom, to which (pseudonymised) scope, under which rule
 * and policy version, and why (the signals with their values). Never a raw identifier.
 */
export interface AuditRecord {
  /** Wall-clock time it was recorded, ISO 8601. */
  time: string;
  action: string;
  actor: string;
  scope?: Scope;
  subject?: string;
  rule?: string;
  policyVersion?: string;
  rationale?: Reason[];
  detail?: Record<string, unknown>;
}

/** Anomalies are reported (webhooks, logs) but are not something Palisade did: not audited. */
export function auditRecordOf(event: ResponseEvent, atMs: number): AuditRecord | undefined {
  const time = new Date(atMs).toISOString();
  switch (event.type) {
    case "quarantine.created":
    case "quarantine.restored":
    case "quarantine.lifted": {
      const q = event.quarantine;
      const lifted =
        event.type === "quarantine.lifted"
          ? { reason: event.reason, how: event.how }
          : event.type === "quarantine.created"
            ? { shared: event.shared, reason: q.reason }
            : { restoredBy: SYSTEM };
      return {
        time,
        action: event.type,
        actor: event.type === "quarantine.lifted" ? event.actor : q.actor,
        scope: q.scope,
        subject: q.subject,
        rule: q.rule,
        policyVersion: q.policyVersion,
        rationale: event.type === "quarantine.created" ? q.reasons : undefined,
        detail: {
          quarantineId: q.id,
          start: new Date(q.startMs).toISOString(),
          expires: new Date(q.expiresMs).toISOString(),
          offence: q.offence,
          decisionId: q.decisionId,
          endpoint: q.endpoint,
          ...lifted,
        },
      };
    }
    case "enforcement.block":
    case "shadow.would_have": {
      const { type, rule, scope, subject, reasons, policyVersion, decisionId, endpoint } = event;
      const wouldHave = type === "shadow.would_have" ? { wouldHave: event.action } : {};
      return { time, action: type, actor: SYSTEM, scope, subject, rule, policyVersion, rationale: reasons, detail: { decisionId, endpoint, ...wouldHave } };
    }
    case "anomaly.started":
    case "anomaly.ended":
      return undefined;
    case "challenge.solved": {
      const { type, network, ...detail } = event;
      return { time, action: type, actor: SYSTEM, scope: "subnet", subject: network, detail };
    }
    case "challenge.failed": {
      const { type, network, ...detail } = event;
      return { time, action: type, actor: SYSTEM, scope: network === undefined ? undefined : "subnet", subject: network, detail };
    }
    default:
      return policyRecord(event, time);
  }
}

type PolicyEvent = Exclude<ResponseEvent, { type: `quarantine.${string}` | "enforcement.block" | "shadow.would_have" | `anomaly.${string}` | `challenge.${string}` }>;

function policyRecord(event: PolicyEvent, time: string): AuditRecord {
  const { type, actor } = event;
  const until = "untilMs" in event && event.untilMs !== undefined ? { until: new Date(event.untilMs).toISOString() } : {};
  const base = { time, action: type, actor };
  switch (type) {
    case "policy.loaded":
      return { ...base, policyVersion: event.version, detail: { id: event.id, name: event.name, source: event.source, previousVersion: event.previousVersion } };
    case "policy.rolled_back":
      return { ...base, policyVersion: event.policyVersion, detail: { id: event.id, fromVersion: event.fromVersion, reason: event.reason, ...until } };
    case "policy.override_cleared":
      return { ...base, policyVersion: event.policyVersion, detail: { clearedVersion: event.clearedVersion, reason: event.reason } };
    case "rule.disabled":
    case "rule.enabled":
      return { ...base, rule: event.rule, policyVersion: event.policyVersion, detail: { reason: event.reason, ...until } };
    case "threshold.overridden":
      return { ...base, policyVersion: event.policyVersion, detail: { path: event.path, value: event.value, previous: event.previous, reason: event.reason, ...until } };
    case "threshold.cleared":
      return { ...base, policyVersion: event.policyVersion, detail: { path: event.path, reason: event.reason } };
    default: {
      const unknown: never = type;
      throw new Error(`unhandled event ${String(unknown)}`);
    }
  }
}

export interface AuditQuery {
  fromMs?: number;
  toMs?: number;
  action?: string;
  actor?: string;
  rule?: string;
  scope?: Scope;
  /** Any of these subjects (an analyst's typed value, pseudonymised under each valid key). */
  subjects?: string[];
  limit: number;
  /** Continue after this record id (the `next` of a previous page). */
  cursor?: string;
  newestFirst: boolean;
}

export interface AuditPage {
  records: (AuditRecord & { id: string })[];
  /** Pass as `cursor` for the next page; absent when the range is exhausted. */
  next?: string;
}

/** Entries read per round trip while filtering, and at most per query (filters run in process). */
const PAGE = 200;
export const MAX_SCAN = 10_000;

/**
 * Appends records for the events it is given, with the retention of the policy in force, and
 * answers filtered queries. Streams are indexed by time only, so filters other than time scan
 * the range newest (or oldest) first, at most MAX_SCAN entries per query; the page's `next`
 * cursor continues where the scan stopped.
 */
export class AuditTrail {
  constructor(
    private readonly log: AuditLog,
    private readonly retention: () => CompiledResponse["audit"],
    private readonly onFailure: (error: unknown, action: string) => void,
  ) {}

  /** Appends the event's record, unless it was written with its change already (`meta.auditId`). */
  record(event: ResponseEvent, atMs: number, meta: EventMeta = {}): void {
    if (meta.auditId !== undefined) return;
    const record = auditRecordOf(event, atMs);
    if (!record) return;
    const { maxAgeMs, maxEntries } = this.retention();
    this.log.append(stripUndefined(record), { maxAgeMs, maxEntries }).catch((error: unknown) => this.onFailure(error, record.action));
  }

  /** The audit half of an audited change: `event`'s record, written in one step with the change. */
  audited(event: ResponseEvent, atMs: number, id: WriteId): AuditedChange {
    const record = auditRecordOf(event, atMs);
    if (!record) throw new TypeError(`${event.type} is not audited`);
    const { maxAgeMs, maxEntries } = this.retention();
    return { record: stripUndefined(record), retention: { maxAgeMs, maxEntries }, idempotencyKey: id.key, idempotencyTtlMs: id.generated ? GENERATED_KEY_TTL_MS : IDEMPOTENCY_TTL_MS, fingerprint: id.fingerprint };
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    const records: AuditPage["records"] = [];
    let cursor = query.cursor;
    for (let scanned = 0; scanned < MAX_SCAN; scanned += PAGE) {
      const page = await this.log.read({ fromMs: query.fromMs, toMs: query.toMs, after: cursor, count: PAGE, newestFirst: query.newestFirst });
      for (const entry of page) {
        cursor = entry.id;
        const record = entry.record as unknown as AuditRecord;
        if (matches(record, query)) records.push({ id: entry.id, ...record });
        if (records.length === query.limit) return { records, next: entry.id };
      }
      if (page.length < PAGE) return { records };
    }
    return { records, next: cursor };
  }
}

function matches(record: AuditRecord, query: AuditQuery): boolean {
  if (query.action && record.action !== query.action) return false;
  if (query.actor && record.actor !== query.actor) return false;
  if (query.rule && record.rule !== query.rule) return false;
  if (query.scope && record.scope !== query.scope) return false;
  return !query.subjects || (record.subject !== undefined && query.subjects.includes(record.subject));
}

/**
 * JSON drops undefined anyway; dropping it first keeps stored records tidy and comparable. Plain
 * objects and arrays are copied without serialising (a JSON round trip per quarantine was 0.4%
 * of replay's profile); what else a record holds is left for the log's JSON to write as ever.
 */
function stripUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(stripUndefined) as T;
  if (value === null || typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const copy: Record<string, unknown> = {};
  const fields = value as Record<string, unknown>;
  // Object.keys, not Object.entries: no [key, field] array per field of every record.
  for (const key of Object.keys(fields)) {
    const field = fields[key];
    if (field !== undefined) copy[key] = stripUndefined(field);
  }
  return copy as T;
}
