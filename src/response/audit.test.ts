import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, responsePolicy, sampleQuarantine, type EngineHarness } from "../../test/support/response.js";
import { MemoryAuditLog } from "../state/memory-audit-log.js";
import type { Quarantine } from "./quarantine-record.js";
import { auditRecordOf, AuditTrail, MAX_SCAN, type AuditQuery } from "./audit.js";
import { generatedWriteId, type ResponseEvent } from "./events.js";
import { GENERATED_KEY_TTL_MS, IDEMPOTENCY_TTL_MS } from "../state/shared-map.js";

let h: EngineHarness;
/** Appends the trail has started and not yet seen finish. */
let appends: Promise<unknown>[] = [];
afterEach(async () => h?.stop());

/** A harness whose audit log reports each append it starts, so a test can wait for exactly those. */
async function harness(...args: Parameters<typeof engineHarness>): Promise<EngineHarness> {
  const made = await engineHarness(...args);
  const log = made.backend.audit;
  const append = log.append.bind(log);
  appends = [];
  log.append = (record, retention) => {
    const appended = append(record, retention);
    appends.push(appended);
    return appended;
  };
  return made;
}

const all: AuditQuery = { limit: 100, newestFirst: false };
/**
 * Audit records are appended after the change they describe (audited changes with the change,
 * others by a write nobody awaits): wait for the appends started so far, never for a time.
 */
const recorded = async (count: number, query: AuditQuery = all) => {
  await Promise.all(appends);
  expect((await h.engine.audit.query(query)).records.length).toBeGreaterThanOrEqual(count);
};

describe("audit trail", () => {
  it("tells a quarantine's whole story: who, what, to which pseudonym, why, under which policy", async () => {
    h = await harness();
    const { decision } = await h.check("/trap", "192.0.2.40");
    const entry = (await h.engine.quarantines.list())[0]!;
    await h.engine.quarantines.lift(entry, "token:alice", "customer called", "id");
    await recorded(2);
    const { records } = await h.engine.audit.query(all);
    const story = records.filter((r) => r.subject === entry.value.subject);
    expect(story.map((r) => [r.action, r.actor])).toEqual([["quarantine.created", "system"], ["quarantine.lifted", "token:alice"]]);
    expect(story[0]).toMatchObject({ scope: "ip", rule: "trap", policyVersion: "v1", detail: { quarantineId: entry.value.id, decisionId: decision.decisionId, offence: 1 } });
    expect(story[0]!.rationale).toEqual(decision.reasons.filter((r) => r.code !== "quarantine.imposed"));
    expect(story[1]!.detail).toMatchObject({ reason: "customer called", how: "id" });
    expect(JSON.stringify(records)).not.toContain("192.0.2.40");
  });

  it("filters by action, actor, rule and subject, and pages with a cursor", async () => {
    h = await harness();
    await h.check("/trap", "192.0.2.41");
    await h.check("/trap", "192.0.2.42");
    await h.engine.controls.disableRule("deny", { actor: "token:bob" });
    await recorded(3);
    const subject = (await h.engine.quarantines.list())[0]!.value.subject;
    const query = (q: Partial<AuditQuery>) => h.engine.audit.query({ ...all, ...q });
    expect((await query({ action: "quarantine.created" })).records).toHaveLength(2);
    expect((await query({ actor: "token:bob" })).records.map((r) => r.action)).toEqual(["rule.disabled"]);
    expect((await query({ rule: "deny" })).records).toHaveLength(1);
    expect((await query({ subjects: [subject] })).records).toHaveLength(1);
    const first = await query({ limit: 1, newestFirst: true });
    expect(first.records[0]!.action).toBe("rule.disabled");
    const second = await query({ limit: 1, newestFirst: true, cursor: first.next });
    expect(second.records[0]!.action).toBe("quarantine.created");
    expect(second.records[0]!.id).not.toBe(first.records[0]!.id);
  });

  it("keeps at most the policy's maxEntries", async () => {
    h = await harness(responsePolicy("v1", "", "  response: { audit: { maxEntries: 2 } }"));
    let last = "";
    for (let i = 0; i < 4; i++) last = (await h.check("/deny", `192.0.2.${50 + i}`)).decision.decisionId;
    // Once the fourth block is recorded, the first two must be gone.
    await recorded(2);
    const { records } = await h.engine.audit.query(all);
    expect(records.map((r) => r.action)).toEqual(["enforcement.block", "enforcement.block"]);
    expect(records.at(-1)!.detail?.decisionId).toBe(last);
  });
});

const T0 = Date.UTC(2026, 10, 24, 9);
const quarantine: Quarantine = { ...sampleQuarantine, offence: 2, decisionId: "d-1", endpoint: "login", reason: "by hand" };

describe("audit records of events", () => {
  const recordOf = (event: ResponseEvent) => JSON.parse(JSON.stringify(auditRecordOf(event, T0) ?? null)) as Record<string, unknown> | null;
  const time = "2026-11-24T09:00:00.000Z";
  const until = { untilMs: T0 + 60_000 };

  it("records a quarantine's making, restoring and lifting with its times, offence and where it came from", () => {
    const detail = { quarantineId: "q-1", start: time, expires: "2026-11-24T09:15:00.000Z", offence: 2, decisionId: "d-1", endpoint: "login" };
    const base = { time, scope: "ip", subject: "pseudonym", rule: "trap", policyVersion: "v1" };
    expect(recordOf({ type: "quarantine.created", quarantine, shared: false })).toEqual({ ...base, action: "quarantine.created", actor: "system", rationale: quarantine.reasons, detail: { ...detail, shared: false, reason: "by hand" } });
    expect(recordOf({ type: "quarantine.restored", quarantine })).toEqual({ ...base, action: "quarantine.restored", actor: "system", detail: { ...detail, restoredBy: "system" } });
    expect(recordOf({ type: "quarantine.lifted", quarantine, actor: "token:alice", reason: "called", how: "scope" })).toEqual({ ...base, action: "quarantine.lifted", actor: "token:alice", detail: { ...detail, reason: "called", how: "scope" } });
  });

  it("records blocks, shadow matches and challenges as the system's, and no anomaly", () => {
    const enforcement = { rule: "deny", scope: "ip" as const, subject: "p", reasons: [{ code: "list.bad", value: 1, weight: 0 }], policyVersion: "v1", decisionId: "d", endpoint: "login" };
    expect(recordOf({ type: "enforcement.block", ...enforcement })).toEqual({ time, action: "enforcement.block", actor: "system", scope: "ip", subject: "p", rule: "deny", policyVersion: "v1", rationale: enforcement.reasons, detail: { decisionId: "d", endpoint: "login" } });
    expect(recordOf({ type: "shadow.would_have", action: "quarantine", ...enforcement })).toMatchObject({ action: "shadow.would_have", detail: { decisionId: "d", endpoint: "login", wouldHave: "quarantine" } });
    expect(recordOf({ type: "challenge.solved", level: 2, solveMs: 300, network: "198.51.100.0/24", endpointClass: "login", decisionId: "d" })).toEqual({
      time,
      action: "challenge.solved",
      actor: "system",
      scope: "subnet",
      subject: "198.51.100.0/24",
      detail: { level: 2, solveMs: 300, endpointClass: "login", decisionId: "d" },
    });
    expect(recordOf({ type: "challenge.failed", reason: "stale", network: "198.51.100.0/24" })).toEqual({ time, action: "challenge.failed", actor: "system", scope: "subnet", subject: "198.51.100.0/24", detail: { reason: "stale" } });
    expect(recordOf({ type: "challenge.failed", reason: "malformed" })).toEqual({ time, action: "challenge.failed", actor: "system", detail: { reason: "malformed" } });
    expect(auditRecordOf({ type: "anomaly.started", endpoint: "login", reasons: [] }, T0)).toBeUndefined();
    expect(auditRecordOf({ type: "anomaly.ended", endpoint: "login", reasons: [] }, T0)).toBeUndefined();
  });

  it("records every policy change with who, which version, and until when", () => {
    const who = { time, actor: "token:bob" };
    expect(recordOf({ type: "policy.loaded", actor: "system", version: "v2", id: "p-2", name: "shop", source: "file", previousVersion: "v1" })).toEqual({ time, action: "policy.loaded", actor: "system", policyVersion: "v2", detail: { id: "p-2", name: "shop", source: "file", previousVersion: "v1" } });
    expect(recordOf({ type: "policy.rolled_back", actor: "token:bob", id: "p-1", fromVersion: "v2", policyVersion: "v1", reason: "bad", ...until })).toEqual({ ...who, action: "policy.rolled_back", policyVersion: "v1", detail: { id: "p-1", fromVersion: "v2", reason: "bad", until: "2026-11-24T09:01:00.000Z" } });
    expect(recordOf({ type: "policy.override_cleared", actor: "token:bob", clearedVersion: "v1", policyVersion: "v2", reason: "fixed" })).toEqual({ ...who, action: "policy.override_cleared", policyVersion: "v2", detail: { clearedVersion: "v1", reason: "fixed" } });
    expect(recordOf({ type: "rule.enabled", actor: "token:bob", rule: "deny", policyVersion: "v2" })).toEqual({ ...who, action: "rule.enabled", rule: "deny", policyVersion: "v2", detail: {} });
    expect(recordOf({ type: "rule.disabled", actor: "token:bob", rule: "deny", policyVersion: "v2+rt.1", ...until })).toEqual({ ...who, action: "rule.disabled", rule: "deny", policyVersion: "v2+rt.1", detail: { until: "2026-11-24T09:01:00.000Z" } });
    expect(recordOf({ type: "threshold.overridden", actor: "token:bob", path: "a.b", value: 5, previous: 10, policyVersion: "v2+rt.2", reason: "noisy", ...until })).toEqual({
      ...who,
      action: "threshold.overridden",
      policyVersion: "v2+rt.2",
      detail: { path: "a.b", value: 5, previous: 10, reason: "noisy", until: "2026-11-24T09:01:00.000Z" },
    });
    expect(recordOf({ type: "threshold.cleared", actor: "token:bob", path: "a.b", policyVersion: "v2" })).toEqual({ ...who, action: "threshold.cleared", policyVersion: "v2", detail: { path: "a.b" } });
  });
});

describe("AuditTrail over a log", () => {
  const retention = { maxAgeMs: 86_400_000, maxEntries: 100_000 };
  const block = (rule: string, subject?: string, scope: "ip" | "username" = "ip"): ResponseEvent => ({ type: "enforcement.block", rule, scope, subject, reasons: [], policyVersion: "v1", decisionId: rule });

  function trail(log = new MemoryAuditLog({ clock: () => T0 })) {
    const failures: [unknown, string][] = [];
    const audit = new AuditTrail(log, () => retention, (error, action) => failures.push([error, action]));
    return { audit, log, failures };
  }

  it("appends with the policy's retention, leaves out undefined fields, and skips what was written with its change", async () => {
    const appended: [object, object][] = [];
    const log = new MemoryAuditLog({ clock: () => T0 });
    const append = log.append.bind(log);
    log.append = (record, r) => {
      appended.push([record, r]);
      return append(record, r);
    };
    const { audit } = trail(log);
    audit.record(block("deny"), T0);
    audit.record(block("deny"), T0, { auditId: "1-0" });
    audit.record({ type: "anomaly.started", endpoint: "login", reasons: [] }, T0);
    expect(appended).toHaveLength(1);
    expect(appended[0]![1]).toEqual(retention);
    expect(Object.keys(appended[0]![0])).not.toContain("subject");
  });

  it("hands a failed append to its failure handler with the action", async () => {
    const log = new MemoryAuditLog();
    const broken = new Error("store away");
    log.append = () => Promise.reject(broken);
    const { audit, failures } = trail(log);
    audit.record(block("deny"), T0);
    await Promise.resolve();
    await Promise.resolve();
    expect(failures).toEqual([[broken, "enforcement.block"]]);
  });

  it("makes the audit half of an audited change, and refuses an event that is not audited", () => {
    const { audit } = trail();
    const change = audit.audited({ type: "quarantine.created", quarantine, shared: true }, T0, { key: "k-1", fingerprint: "f" });
    expect(change).toEqual({ record: JSON.parse(JSON.stringify(auditRecordOf({ type: "quarantine.created", quarantine, shared: true }, T0))), retention, idempotencyKey: "k-1", idempotencyTtlMs: IDEMPOTENCY_TTL_MS, fingerprint: "f" });
    // A key made here (an automatic quarantine's) is kept only while a lost reply is followed up.
    expect(audit.audited({ type: "quarantine.created", quarantine, shared: true }, T0, generatedWriteId()).idempotencyTtlMs).toBe(GENERATED_KEY_TTL_MS);
    expect(() => audit.audited({ type: "anomaly.ended", endpoint: "e", reasons: [] }, T0, { key: "k" })).toThrow(new TypeError("anomaly.ended is not audited"));
  });

  it("filters by scope and subject, and never matches a record without a subject to a subject filter", async () => {
    const { audit } = trail();
    audit.record(block("a", "s-1"), T0);
    audit.record(block("b", "s-1", "username"), T0);
    audit.record(block("c"), T0);
    const q = (query: Partial<AuditQuery>) => audit.query({ limit: 10, newestFirst: false, ...query }).then((page) => page.records.map((r) => r.rule));
    expect(await q({ scope: "username" })).toEqual(["b"]);
    expect(await q({ subjects: ["s-1", "s-2"] })).toEqual(["a", "b"]);
    expect(await q({ subjects: [] })).toEqual([]);
    expect(await q({ action: "enforcement.block", actor: "system", rule: "c" })).toEqual(["c"]);
    expect(await q({ actor: "token:x" })).toEqual([]);
  });

  it("reads past a page of 200, stops at the limit with a cursor to go on from, and ends without one", async () => {
    const { audit } = trail();
    for (let i = 0; i < 450; i++) audit.record(block(i === 300 || i === 440 ? "rare" : "common"), T0);
    const first = await audit.query({ limit: 1, newestFirst: false, rule: "rare" });
    expect(first.records.map((r) => r.id)).toEqual([`${T0}-300`]);
    expect(first.next).toBe(`${T0}-300`);
    const second = await audit.query({ limit: 1, newestFirst: false, rule: "rare", cursor: first.next });
    expect(second.records.map((r) => r.id)).toEqual([`${T0}-440`]);
    const rest = await audit.query({ limit: 1, newestFirst: false, rule: "rare", cursor: second.next });
    expect(rest).toEqual({ records: [] });
    // Exactly 400 entries: two full pages, then an empty one ends the scan.
    const all400 = await audit.query({ limit: 1000, newestFirst: true, toMs: T0, fromMs: T0, cursor: `${T0}-400` });
    expect(all400.records).toHaveLength(400);
    expect(all400.next).toBeUndefined();
    expect(all400.records[0]!.id).toBe(`${T0}-399`);
  });

  it("scans at most MAX_SCAN entries for a filter, and says where to go on", async () => {
    const { audit } = trail();
    for (let i = 0; i < MAX_SCAN + 10; i++) audit.record(block(i === MAX_SCAN + 5 ? "rare" : "common"), T0);
    const page = await audit.query({ limit: 5, newestFirst: false, rule: "rare" });
    expect(page).toEqual({ records: [], next: `${T0}-${MAX_SCAN - 1}` });
    const next = await audit.query({ limit: 5, newestFirst: false, rule: "rare", cursor: page.next });
    expect(next.records.map((r) => r.id)).toEqual([`${T0}-${MAX_SCAN + 5}`]);
  });
});
