import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, responsePolicy, type EngineHarness } from "../../test/support/response.js";
import type { AuditQuery } from "./audit.js";

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
    const entry = h.engine.quarantines.list()[0]!;
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
    const subject = h.engine.quarantines.list()[0]!.value.subject;
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
