import { describe, expect, it } from "vitest";
import type { CompiledPolicy } from "../policy/compile.js";
import { MINUTE_MS, type StatsBucket, type StatsResolution } from "../state/decision-stats.js";
import type { AuditQuery, AuditRecord } from "./audit.js";
import { buildPostureReport, familyWords, incidentsOf, MAX_INCIDENTS, MAX_REPORT_AUDIT_RECORDS, type PostureReport, type ReportChart } from "./posture-report.js";

/**
 * The report built from fixed statistics and audit records, every figure and sentence worked
 * out by hand. The report is for people: its sentences are what it promises, so they are
 * checked word for word.
 */
const T0 = Date.UTC(2026, 10, 24, 9, 0);
const at = (minutes: number, seconds = 0) => T0 + minutes * MINUTE_MS + seconds * 1000;

/** Only what the report reads of a policy: its name, version and which endpoints are sign-in. */
const policy = {
  name: "shop",
  version: "v1",
  endpoints: [
    { name: "login", authentication: true },
    { name: "search", authentication: false },
  ],
} as unknown as CompiledPolicy;

interface Sources {
  buckets: StatsBucket[];
  records: AuditRecord[];
  statsCalls: [StatsResolution, number, number][];
  auditCalls: AuditQuery[];
}

/** Sources over fixed data: statistics as given, the audit trail paged by `limit` with a numeric cursor. */
function sources(buckets: StatsBucket[], records: AuditRecord[]): Sources & { report(fromMs: number, toMs: number): Promise<PostureReport> } {
  const s: Sources = { buckets, records, statsCalls: [], auditCalls: [] };
  const report = (fromMs: number, toMs: number) =>
    buildPostureReport(
      {
        stats: async (resolution, from, to) => {
          s.statsCalls.push([resolution, from, to]);
          return buckets;
        },
        audit: async (query) => {
          s.auditCalls.push(query);
          const start = query.cursor === undefined ? 0 : Number(query.cursor);
          const page = records.slice(start, start + query.limit).map((r, i) => ({ id: String(start + i), ...r }));
          const next = start + query.limit < records.length ? String(start + query.limit) : undefined;
          return next === undefined ? { records: page } : { records: page, next };
        },
        policy,
      },
      fromMs,
      toMs,
      at(30),
    );
  return { ...s, report };
}

const record = (minutes: number, action: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({ time: new Date(at(minutes, 10)).toISOString(), action, actor: "system", ...extra });

// Given out of order: the report must sort them itself.
const BUCKETS: StatsBucket[] = [
  { startMs: at(3), counts: { n: 5, "a:allow": 4, "a:throttle": 1, "i:search": 1 } },
  { startMs: at(0), counts: { n: 10, "a:allow": 10 } },
  {
    startMs: at(1),
    counts: {
      n: 20,
      "a:allow": 12,
      "a:block": 5,
      "a:quarantine": 3,
      "f:velocity": 6,
      "f:login": 2,
      "r:deny:block": 5,
      "r:trap:quarantine": 3,
      "e:login:m": 4,
      "e:search:m": 4,
      "i:login": 1,
      "s:trial:block": 2,
      d: 2,
      "l:challenge": 1,
      "l:mfa": 2,
      w: 3,
    },
  },
  { startMs: at(6), counts: { n: 4, "a:allow": 4, "i:login": 1 } },
  { startMs: at(7), counts: { n: 4, "a:allow": 2, "a:challenge": 2, "i:login": 1, "f:bot": 2, "r:trap:challenge": 2 } },
  { startMs: at(10), counts: { n: 1, "a:allow": 1, "i:api": 1 } },
];

const RECORDS: AuditRecord[] = [
  record(0, "policy.loaded", { policyVersion: "v1" }),
  record(1, "quarantine.created", { scope: "username", subject: "u-1" }),
  record(1, "quarantine.created", { scope: "ip", subject: "ip-1" }),
  record(1, "enforcement.block", { scope: "username", subject: "u-2" }),
  record(1, "enforcement.block", { scope: "username", subject: "u-1" }),
  record(1, "shadow.would_have", { scope: "username", subject: "u-3" }),
  record(2, "policy.loaded", { policyVersion: "v2" }),
  record(4, "rule.disabled", { rule: "deny", policyVersion: "v2+rt.1" }),
  record(5, "threshold.overridden", { detail: { path: "endpoints.login.velocity.ip.threshold" } }),
  record(8, "policy.rolled_back", { policyVersion: "v1" }),
  record(9, "quarantine.lifted", { scope: "ip", subject: "ip-1", actor: "token:alice" }),
];

const section = (report: PostureReport, id: string) => report.sections.find((s) => s.id === id)!;
const sentences = (report: PostureReport) => Object.fromEntries(report.sections.map((s) => [s.id, s.sentence]));
const values = (chart: ReportChart) => (chart.kind === "bars" ? Object.fromEntries(chart.series.map((s) => [s.name, s.values])) : {});

describe("posture report", () => {
  it("adds up a busy ten minutes into its headline, incidents, charts and sentences", async () => {
    const s = sources(BUCKETS, RECORDS);
    const report = await s.report(at(0), at(10));
    expect(s.statsCalls).toEqual([["minute", at(0), at(10)]]);
    expect(s.auditCalls).toEqual([{ fromMs: at(0), toMs: at(10), limit: 1000, cursor: undefined, newestFirst: false }]);
    expect(report).toMatchObject({
      title: "Security posture report",
      generatedAt: new Date(at(30)).toISOString(),
      from: "2026-11-24T09:00:00.000Z",
      to: "2026-11-24T09:10:00.000Z",
      resolution: "minute",
      policy: { name: "shop", version: "v1" },
      auditTruncated: false,
    });
    expect(report.headline).toEqual({
      requests: 44,
      mitigated: 11,
      mitigatedShare: 0.25,
      loginAttacksStopped: 4,
      accountsProtected: 2,
      quarantinesMade: 2,
      quarantinesLifted: 1,
      policyChanges: 4, // three run-time changes and one new version after the first load
      rollbacks: 1,
      frictionPassed: 3,
      degradedShare: 2 / 44,
      incidents: 3,
      slowestFirstMitigationMinutes: 1,
    });
    expect(report.incidents).toEqual([
      { start: "2026-11-24T09:01:00.000Z", end: "2026-11-24T09:04:00.000Z", endpoints: ["login", "search"], mitigated: 9, minutesToFirstMitigation: 0 },
      { start: "2026-11-24T09:06:00.000Z", end: "2026-11-24T09:08:00.000Z", endpoints: ["login"], mitigated: 2, minutesToFirstMitigation: 1 },
      { start: "2026-11-24T09:10:00.000Z", end: "2026-11-24T09:11:00.000Z", endpoints: ["api"], mitigated: 0 },
    ]);
    expect(sentences(report)).toEqual({
      traffic: "Palisade answered 44 requests and slowed, challenged or stopped 11 of them (25.0%).",
      families: "Most of the traffic Palisade acted on looked like request floods (6 requests); 2 other kinds were seen as well.",
      actions: "Of the requests Palisade acted on, most were blocked (5).",
      accounts: "4 sign-in attempts from attacking clients were stopped or slowed before they could take over an account, and 2 accounts were shielded by a quarantine.",
      incidents: "3 site-wide surges were seen; Palisade acted within 1 minutes of each one's start (to the minute).",
      rules: 'The rule "deny" acted most often (5 requests).',
      friction: "3 times a legitimate user passed a challenge or MFA, and Palisade then let them through without asking again.",
      quarantines: "2 quarantines were made and 1 lifted early by an analyst; an early lift usually means a quarantine was a mistake.",
      policy: "The policy changed 4 times (new versions deployed and changes made at run time), including 1 rollback.",
      shadow: 'Rules on trial would have acted 2 times; "trial:block" most often.',
      store: "4.5% of decisions were taken from a replica's local state because the shared store was unavailable.",
    });
    expect(report.sections.map((s) => s.title)).toEqual([
      "Traffic and mitigation",
      "Attacks seen, by kind",
      "What Palisade did",
      "Accounts protected",
      "Incidents",
      "Rules that acted most",
      "Friction for legitimate users",
      "Quarantines made and lifted",
      "Policy changes and rollbacks",
      "Rules on trial (shadow mode)",
      "Shared store availability",
    ]);
  });

  it("draws one bar per minute of the period, and the totals by kind, action and rule", async () => {
    const report = await sources(BUCKETS, RECORDS).report(at(0), at(10));
    const traffic = section(report, "traffic").chart;
    expect(traffic).toMatchObject({ kind: "bars", stacked: true, labels: ["09:00", "09:01", "09:02", "09:03", "09:04", "09:05", "09:06", "09:07", "09:08", "09:09", "09:10"] });
    expect(values(traffic)).toEqual({ allowed: [10, 12, 0, 4, 0, 0, 4, 2, 0, 0, 1], mitigated: [0, 8, 0, 1, 0, 0, 0, 2, 0, 0, 0] });
    expect(section(report, "families").chart).toEqual({ kind: "bars", stacked: false, labels: ["request floods", "automated clients", "password guessing"], series: [{ name: "requests", values: [6, 2, 2] }] });
    expect(section(report, "actions").chart).toEqual({ kind: "bars", stacked: false, labels: ["challenged", "slowed down", "quarantined", "blocked"], series: [{ name: "requests", values: [2, 1, 3, 5] }] });
    // trap's quarantines and challenges are one rule's: 5, tied with deny, which sorts first.
    expect(section(report, "rules").chart).toMatchObject({ labels: ["deny", "trap"], series: [{ name: "requests", values: [5, 5] }] });
    expect(section(report, "shadow").chart).toMatchObject({ labels: ["trial:block"], series: [{ name: "would have acted", values: [2] }] });
    expect(values(section(report, "accounts").chart)).toEqual({ "sign-in attempts stopped": [0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
    expect(section(report, "accounts").chart).toMatchObject({ stacked: false });
    expect(section(report, "friction").chart).toMatchObject({ labels: ["challenge passed", "MFA passed", "friction waived afterwards"], series: [{ name: "times", values: [1, 2, 3] }] });
    expect(values(section(report, "quarantines").chart)).toEqual({ made: [0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0], "lifted by an analyst": [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0] });
    expect(values(section(report, "store").chart)).toEqual({ "with the shared store": [10, 18, 0, 5, 0, 0, 4, 4, 0, 0, 1], "local state only": [0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
    expect(section(report, "store").chart).toMatchObject({ stacked: true });
  });

  it("puts incidents and policy changes on timelines, in words", async () => {
    const report = await sources(BUCKETS, RECORDS).report(at(0), at(10));
    expect(section(report, "incidents").chart).toEqual({
      kind: "timeline",
      fromMs: at(0),
      toMs: at(10),
      emptyLabel: "no incident in this period",
      events: [
        { atMs: at(1), label: "surge on login, search until 09:04 UTC; 9 requests acted on, the first within 0 min" },
        { atMs: at(6), label: "surge on login until 09:08 UTC; 2 requests acted on, the first within 1 min" },
        { atMs: at(10), label: "surge on api until 09:11 UTC; 0 requests acted on" },
      ],
    });
    expect(section(report, "policy").chart).toEqual({
      kind: "timeline",
      fromMs: at(0),
      toMs: at(10),
      emptyLabel: "no change in this period",
      events: [
        { atMs: at(0, 10), label: "version v1 loaded" },
        { atMs: at(2, 10), label: "version v2 loaded" },
        { atMs: at(4, 10), label: "rule deny switched off" },
        { atMs: at(5, 10), label: "endpoints.login.velocity.ip.threshold changed" },
        { atMs: at(8, 10), label: "rolled back to v1" },
      ],
    });
  });

  it("labels every kind of policy change, with a placeholder for what a record lacks", async () => {
    const records = [
      record(0, "policy.loaded"),
      record(0, "policy.rolled_back"),
      record(0, "policy.override_cleared"),
      record(0, "rule.disabled"),
      record(0, "rule.enabled", { rule: "deny" }),
      record(0, "threshold.overridden"),
      record(0, "threshold.cleared", { detail: { path: "signals.x" } }),
      record(0, "threshold.cleared"),
      record(0, "policy.renamed"),
    ];
    const report = await sources([], records).report(at(0), at(10));
    const chart = section(report, "policy").chart;
    expect(chart.kind === "timeline" && chart.events.map((e) => e.label)).toEqual([
      "version ? loaded",
      "rolled back to ?",
      "rollback ended",
      "rule ? switched off",
      "rule deny switched on",
      "a threshold changed",
      "signals.x restored",
      "a threshold restored",
      "policy.renamed",
    ]);
    // The first load is the policy in force, not a change.
    expect(report.headline.policyChanges).toBe(8);
  });

  it("says plainly that nothing happened in a quiet period", async () => {
    const report = await sources([], []).report(at(0), at(10));
    expect(report.headline).toEqual({
      requests: 0,
      mitigated: 0,
      mitigatedShare: 0,
      loginAttacksStopped: 0,
      accountsProtected: 0,
      quarantinesMade: 0,
      quarantinesLifted: 0,
      policyChanges: 0,
      rollbacks: 0,
      frictionPassed: 0,
      degradedShare: 0,
      incidents: 0,
    });
    expect(report.incidents).toEqual([]);
    expect(sentences(report)).toEqual({
      traffic: "Palisade saw no requests in this period.",
      families: "No attack traffic was seen.",
      actions: "Palisade did not need to act on any request.",
      accounts: "No attack on sign-in was seen.",
      incidents: "No site-wide surge of traffic was seen.",
      rules: "No rule acted in this period.",
      friction: "No legitimate user was reported passing a challenge or MFA that Palisade asked for.",
      quarantines: "No client was quarantined and none was lifted.",
      policy: "The policy stayed as loaded (version v1); nobody changed or rolled it back.",
      shadow: "No rule on trial would have acted.",
      store: "Every decision was taken with the shared store available.",
    });
    // A single load of the policy is no change either.
    expect((await sources([], [record(0, "policy.loaded")]).report(at(0), at(10))).headline.policyChanges).toBe(0);
  });

  it("words the singular cases in the singular", async () => {
    const buckets: StatsBucket[] = [
      { startMs: at(1), counts: { n: 1000, "a:allow": 999, "a:step_up": 1, "f:some_new_kind": 1, "e:login:m": 1, "i:login": 1, d: 1, "l:mfa": 1 } },
    ];
    const records = [record(1, "quarantine.created", { scope: "username", subject: "u-1" }), record(2, "threshold.cleared", { detail: { path: "p" } })];
    const report = await sources(buckets, records).report(at(0), at(10));
    expect(sentences(report)).toMatchObject({
      traffic: "Palisade answered 1,000 requests and slowed, challenged or stopped 1 of them (0.10%).",
      families: "Most of the traffic Palisade acted on looked like some new kind (1 requests); no other kind was seen.",
      actions: "Of the requests Palisade acted on, most were asked for MFA (1).",
      accounts: "1 sign-in attempts from attacking clients were stopped or slowed before they could take over an account, and 1 account was shielded by a quarantine.",
      incidents: "1 site-wide surge was seen; Palisade acted in the first minute of it (to the minute).",
      friction: "1 times a legitimate user passed a challenge or MFA, and Palisade then let them through without asking again.",
      quarantines: "1 quarantine was made and 0 lifted early by an analyst; an early lift usually means a quarantine was a mistake.",
      policy: "The policy changed 1 time (new versions deployed and changes made at run time), with no rollback.",
      store: "0.10% of decisions were taken from a replica's local state because the shared store was unavailable.",
    });
  });

  it("counts two kinds, rollbacks and surges nobody needed to act on in the plural", async () => {
    const buckets: StatsBucket[] = [
      { startMs: at(1), counts: { n: 3, "a:allow": 3, "f:probe": 2, "f:input": 1, "i:api": 1 } },
      { startMs: at(5), counts: { n: 1, "a:allow": 1, "i:api": 1 } },
    ];
    const records = [record(1, "policy.rolled_back", { policyVersion: "v0" }), record(2, "policy.rolled_back", { policyVersion: "v1" }), record(3, "quarantine.lifted")];
    const report = await sources(buckets, records).report(at(0), at(10));
    expect(sentences(report)).toMatchObject({
      traffic: "Palisade answered 4 requests and slowed, challenged or stopped 0 of them (0.0%).",
      families: "Most of the traffic Palisade acted on looked like probing for weak spots (2 requests); 1 other kind was seen as well.",
      incidents: "2 site-wide surges were seen; Palisade did not need to act during them.",
      quarantines: "0 quarantines were made and 1 lifted early by an analyst; an early lift usually means a quarantine was a mistake.",
      policy: "The policy changed 2 times (new versions deployed and changes made at run time), including 2 rollbacks.",
    });
    expect(report.headline).not.toHaveProperty("slowestFirstMitigationMinutes");
    const one = await sources([buckets[0]!], []).report(at(0), at(10));
    expect(section(one, "incidents").sentence).toBe("1 site-wide surge was seen; Palisade did not need to act during it.");
  });

  it("draws a period longer than six hours by the hour", async () => {
    const buckets: StatsBucket[] = [
      { startMs: at(0), counts: { n: 2, "a:allow": 1, "a:block": 1, "i:login": 1 } },
      { startMs: at(60), counts: { n: 1, "a:allow": 1, "i:login": 1 } },
    ];
    const s = sources(buckets, [record(90, "quarantine.created"), record(-1, "quarantine.created")]);
    const report = await s.report(at(0), at(6 * 60 + 1));
    expect(s.statsCalls[0]![0]).toBe("hour");
    expect(report.resolution).toBe("hour");
    const traffic = section(report, "traffic").chart;
    expect(traffic.kind === "bars" && traffic.labels).toEqual(["11-24 09h", "11-24 10h", "11-24 11h", "11-24 12h", "11-24 13h", "11-24 14h", "11-24 15h"]);
    expect(values(section(report, "quarantines").chart).made).toEqual([0, 1, 0, 0, 0, 0, 0]);
    expect(report.incidents).toEqual([{ start: "2026-11-24T09:00:00.000Z", end: "2026-11-24T11:00:00.000Z", endpoints: ["login"], mitigated: 1, minutesToFirstMitigation: 0 }]);
    expect(section(report, "incidents").sentence).toBe("1 site-wide surge was seen; Palisade acted in the first hour of it (to the hour).");
    // Exactly six hours is still drawn by the minute.
    const six = sources(buckets, []);
    expect((await six.report(at(0), at(6 * 60))).resolution).toBe("minute");
    expect(six.statsCalls[0]![0]).toBe("minute");
  });

  it("says when every incident was acted on in its first minute", async () => {
    const buckets: StatsBucket[] = [
      { startMs: at(1), counts: { n: 2, "a:allow": 1, "a:block": 1, "i:login": 1 } },
      { startMs: at(5), counts: { n: 2, "a:allow": 1, "a:block": 1, "i:login": 1 } },
    ];
    const report = await sources(buckets, []).report(at(0), at(10));
    expect(section(report, "incidents").sentence).toBe("2 site-wide surges were seen; Palisade acted in the first minute of each (to the minute).");
    expect(report.headline.slowestFirstMitigationMinutes).toBe(0);
  });

  it("reads the audit trail page by page, and says when it stopped at its limit", async () => {
    const many = Array.from({ length: 2500 }, (_, i) => record(1, i % 2 === 0 ? "quarantine.created" : "quarantine.lifted"));
    const s = sources([], many);
    const report = await s.report(at(0), at(10));
    expect(s.auditCalls.map((q) => q.cursor)).toEqual([undefined, "1000", "2000"]);
    expect(report.headline.quarantinesMade).toBe(1250);
    expect(report.auditTruncated).toBe(false);

    const endless = Array.from({ length: MAX_REPORT_AUDIT_RECORDS + 1 }, () => record(1, "quarantine.created"));
    const full = sources([], endless);
    const truncated = await full.report(at(0), at(10));
    expect(truncated.auditTruncated).toBe(true);
    expect(truncated.headline.quarantinesMade).toBe(MAX_REPORT_AUDIT_RECORDS);
    expect(full.auditCalls).toHaveLength(MAX_REPORT_AUDIT_RECORDS / 1000);
    expect(section(truncated, "quarantines").sentence).toMatch(/^10,000 quarantines were made/);
  });

  it("keeps only the newest incidents, and joins runs one quiet bucket apart", () => {
    const buckets = Array.from({ length: MAX_INCIDENTS + 5 }, (_, i) => ({ startMs: at(i * 3), counts: { n: 1, "i:api": 1 } }));
    const incidents = incidentsOf(buckets, MINUTE_MS);
    expect(incidents).toHaveLength(MAX_INCIDENTS);
    expect(incidents[0]!.start).toBe(new Date(at(15)).toISOString());
    // Two minutes apart (one quiet minute between) is one incident; the quiet minute's mitigations count.
    const joined = incidentsOf(
      [
        { startMs: at(0), counts: { n: 1, "i:api": 1 } },
        { startMs: at(1), counts: { n: 3, "a:allow": 1 } },
        { startMs: at(2), counts: { n: 1, "i:login": 1 } },
      ],
      MINUTE_MS,
    );
    expect(joined).toEqual([{ start: new Date(at(0)).toISOString(), end: new Date(at(3)).toISOString(), endpoints: ["api", "login"], mitigated: 4, minutesToFirstMitigation: 0 }]);
  });

  it("puts reason families in plain words, and unknown ones readably", () => {
    expect(familyWords("login")).toBe("password guessing");
    expect(familyWords("site")).toBe("site-wide surges");
    expect(familyWords("new_family_name")).toBe("new family name");
  });

  it("adds a kind, rule or endpoint up over buckets, folds a rule's actions, and keeps the top eight", async () => {
    const buckets: StatsBucket[] = [
      { startMs: at(0), counts: { n: 30, "a:allow": 0, "a:block": 30, "f:bot": 3, "f:velocity": 4, "r:b:block": 5, "r:a:block": 3, "i:search": 1, "i:login": 1, "e:login:m": 2 } },
      { startMs: at(1), counts: { n: 1, "a:allow": 1, "f:bot": 2, "r:a:challenge": 3, ...Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`s:trial-${i}:block`, 9 - i])) } },
    ];
    const report = await sources(buckets, []).report(at(0), at(10));
    expect(section(report, "families").chart).toMatchObject({ labels: ["automated clients", "request floods"], series: [{ values: [5, 4] }] });
    // a's block and challenge fold to 6, above b's 5, though each of a's alone is below it.
    expect(section(report, "rules").chart).toMatchObject({ labels: ["a", "b"], series: [{ values: [6, 5] }] });
    const shadow = section(report, "shadow").chart;
    expect(shadow.kind === "bars" && shadow.labels).toEqual(Array.from({ length: 8 }, (_, i) => `trial-${i}:block`));
    const rules = Array.from({ length: 9 }, (_, i) => [`r:rule-${i}:block`, 20 - i]);
    const many = await sources([{ startMs: at(0), counts: { n: 1, ...Object.fromEntries(rules) } }], []).report(at(0), at(10));
    expect(section(many, "rules").chart).toMatchObject({ labels: Array.from({ length: 8 }, (_, i) => `rule-${i}`) });
    // By total first, whatever the names: zeta's 9 before mid's 4 before alpha's 2.
    const byTotal = await sources([{ startMs: at(0), counts: { n: 1, "r:alpha:block": 2, "r:zeta:block": 9, "r:mid:challenge": 4 } }], []).report(at(0), at(10));
    expect(section(byTotal, "rules").chart).toMatchObject({ labels: ["zeta", "mid", "alpha"], series: [{ values: [9, 4, 2] }] });
    // Endpoints of an incident are listed by name, whichever surged first.
    expect(report.incidents[0]!.endpoints).toEqual(["login", "search"]);
    expect((await sources([{ startMs: at(0), counts: { n: 1, "i:search": 1 } }, { startMs: at(1), counts: { n: 1, "i:login": 1 } }], []).report(at(0), at(10))).incidents[0]!.endpoints).toEqual(["login", "search"]);
    expect(section(report, "accounts").sentence).toBe("2 sign-in attempts from attacking clients were stopped or slowed before they could take over an account.");
  });

  it("counts accounts protected by quarantines and blocks on usernames only", async () => {
    const records = [
      record(1, "shadow.would_have", { scope: "username", subject: "u-shadow" }),
      record(1, "enforcement.block", { scope: "ip", subject: "ip-1" }),
      record(1, "enforcement.block", { scope: "username", subject: "u-1" }),
      record(1, "enforcement.block", { scope: "username", subject: "u-2" }),
      record(1, "quarantine.created", { scope: "username" }),
    ];
    expect((await sources([], records).report(at(0), at(10))).headline.accountsProtected).toBe(2);
  });

  it("puts a record in the bucket it falls in, first and last included, none outside", async () => {
    const records = [record(-1, "quarantine.created"), record(0, "quarantine.created"), record(10, "quarantine.created"), record(11, "quarantine.created"), record(10, "quarantine.lifted")];
    const report = await sources([], records).report(at(0), at(10));
    expect(values(section(report, "quarantines").chart)).toEqual({ made: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "lifted by an analyst": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] });
    expect(section(report, "quarantines").chart).toMatchObject({ stacked: false });
  });

  it("draws at most 800 bars however long the period", async () => {
    const report = await sources([], []).report(at(0), at(60 * 24 * 40));
    const traffic = section(report, "traffic").chart;
    expect(traffic.kind === "bars" && traffic.labels.length).toBe(800);
  });

  it("gives a share of exactly one in a hundred to one decimal, below it to two", async () => {
    const share = async (n: number) => (await sources([{ startMs: at(0), counts: { n, "a:allow": n - 1 } }], []).report(at(0), at(10))).sections[0]!.sentence;
    expect(await share(100)).toMatch(/\(1\.0%\)\.$/);
    expect(await share(101)).toMatch(/\(0\.99%\)\.$/);
  });
});
