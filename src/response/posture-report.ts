import { ACTIONS } from "../domain/decision.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { HOUR_MS, MINUTE_MS, type StatsBucket, type StatsResolution } from "../state/decision-stats.js";
import type { AuditPage, AuditQuery, AuditRecord } from "./audit.js";

/**
 * The security posture report: what Palisade saw and did over a period, for people who will
 * not read JSON. Built only from what every replica shares (the decision statistics and the
 * audit trail), so any replica gives the same report. Every section has a chart and one
 * sentence in plain language; nothing in it is a client's identifier (counts of distinct
 * pseudonyms at most).
 */
export interface PostureReport {
  title: string;
  generatedAt: string;
  from: string;
  to: string;
  resolution: StatsResolution;
  policy: { name: string; version: string };
  headline: Headline;
  /** Periods with a site-wide anomaly (surge) in force, oldest first, at most MAX_INCIDENTS. */
  incidents: Incident[];
  sections: ReportSection[];
  /** True when the audit trail held more records than the report reads (the figures from it are a floor). */
  auditTruncated: boolean;
}

export interface Headline {
  requests: number;
  mitigated: number;
  /** Share of requests not simply allowed, 0-1. */
  mitigatedShare: number;
  /** Mitigated requests on authentication endpoints: takeover attempts answered. */
  loginAttacksStopped: number;
  /** Distinct accounts (by pseudonym) a quarantine or block protected. */
  accountsProtected: number;
  quarantinesMade: number;
  quarantinesLifted: number;
  policyChanges: number;
  rollbacks: number;
  /** Legitimate users who met friction and passed it (challenge or MFA), as the application reported. */
  frictionPassed: number;
  /** Share of decisions taken without the shared store, 0-1. */
  degradedShare: number;
  /** Periods with a site-wide anomaly in force. */
  incidents: number;
  /** The longest time, over the incidents, from an incident's first bucket to the first bucket in it with a mitigation; absent without incidents. */
  slowestFirstMitigationMinutes?: number;
}

/**
 * A run of buckets in which decisions carried a site-wide anomaly (`site.*` reasons), runs one
 * empty bucket apart joined. Times are bucket bounds, so a minute-resolution report places an
 * incident to the minute and an hour-resolution one to the hour.
 */
export interface Incident {
  start: string;
  end: string;
  endpoints: string[];
  /** Decisions during the incident that Palisade did not simply allow. */
  mitigated: number;
  /** From the incident's first bucket to the first bucket in it with a mitigation; absent when none. */
  minutesToFirstMitigation?: number;
}

export const MAX_INCIDENTS = 20;

/** The incidents in `buckets` (oldest first), each bucket `stepMs` long. */
export function incidentsOf(buckets: readonly StatsBucket[], stepMs: number): Incident[] {
  const runs: StatsBucket[][] = [];
  for (const bucket of [...buckets].sort((a, b) => a.startMs - b.startMs)) {
    if (!Object.keys(bucket.counts).some((f) => f.startsWith("i:"))) continue;
    const run = runs.at(-1);
    if (run && bucket.startMs - run.at(-1)!.startMs <= 2 * stepMs) run.push(bucket);
    else runs.push([bucket]);
  }
  return runs.slice(-MAX_INCIDENTS).map((run) => {
    const first = run[0]!.startMs;
    const last = run.at(-1)!.startMs;
    // Every bucket from the first to the last, with the quiet one between two runs joined.
    const within = buckets.filter((b) => b.startMs >= first && b.startMs <= last);
    const mitigatedIn = (b: StatsBucket) => (b.counts.n ?? 0) - (b.counts["a:allow"] ?? 0);
    const acted = within.filter((b) => mitigatedIn(b) > 0).sort((a, b) => a.startMs - b.startMs)[0];
    const endpoints = new Set(run.flatMap((b) => Object.keys(b.counts).filter((f) => f.startsWith("i:")).map((f) => f.slice(2))));
    return {
      start: new Date(first).toISOString(),
      end: new Date(last + stepMs).toISOString(),
      endpoints: [...endpoints].sort(),
      mitigated: within.reduce((t, b) => t + mitigatedIn(b), 0),
      ...(acted ? { minutesToFirstMitigation: Math.round((acted.startMs - first) / MINUTE_MS) } : {}),
    };
  });
}

export type ReportChart =
  | { kind: "bars"; labels: string[]; series: { name: string; values: number[] }[]; stacked: boolean }
  | { kind: "timeline"; fromMs: number; toMs: number; events: { atMs: number; label: string }[]; emptyLabel?: string };

export interface ReportSection {
  id: string;
  title: string;
  sentence: string;
  chart: ReportChart;
}

export interface PostureReportSources {
  /** Decision statistics of the period (the engine's DecisionStatistics.read). */
  stats(resolution: StatsResolution, fromMs: number, toMs: number): Promise<StatsBucket[]>;
  /** The audit trail (the engine's AuditTrail.query). */
  audit(query: AuditQuery): Promise<AuditPage>;
  policy: CompiledPolicy;
}

/** Periods up to this long are drawn by the minute; longer ones by the hour. */
const MINUTES_UP_TO_MS = 6 * HOUR_MS;
/** At most this many audit records are read for one report. */
export const MAX_REPORT_AUDIT_RECORDS = 10_000;

/** Plain words for the families of reasons (the first part of a reason code). */
const FAMILY_WORDS: Record<string, string> = {
  velocity: "request floods",
  login: "password guessing",
  password: "password guessing",
  ip: "one source trying many accounts",
  username: "attacks on single accounts",
  scraping: "scraping",
  enumeration: "scraping",
  bot: "automated clients",
  automation: "automated clients",
  rhythm: "automated clients",
  session: "session abuse",
  token: "stolen tokens",
  probe: "probing for weak spots",
  probing: "probing for weak spots",
  list: "known bad networks",
  quarantine: "clients already quarantined",
  input: "malformed requests",
  site: "site-wide surges",
};

const ACTION_WORDS: Record<string, string> = {
  step_up: "asked for MFA",
  challenge: "challenged",
  throttle: "slowed down",
  quarantine: "quarantined",
  block: "blocked",
};

export function familyWords(family: string): string {
  return FAMILY_WORDS[family] ?? family.replaceAll("_", " ");
}

export async function buildPostureReport(sources: PostureReportSources, fromMs: number, toMs: number, nowMs: number): Promise<PostureReport> {
  const resolution: StatsResolution = toMs - fromMs <= MINUTES_UP_TO_MS ? "minute" : "hour";
  const step = resolution === "minute" ? MINUTE_MS : HOUR_MS;
  const buckets = await sources.stats(resolution, fromMs, toMs);
  const { records, truncated } = await readAudit(sources, fromMs, toMs);
  const sum = (field: string) => buckets.reduce((total, b) => total + (b.counts[field] ?? 0), 0);
  const fieldsLike = (prefix: string) => {
    const totals = new Map<string, number>();
    for (const bucket of buckets) for (const [field, count] of Object.entries(bucket.counts)) if (field.startsWith(prefix)) totals.set(field.slice(prefix.length), (totals.get(field.slice(prefix.length)) ?? 0) + count);
    return [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  };

  const requests = sum("n");
  const allowed = sum("a:allow");
  const mitigated = requests - allowed;
  const authEndpoints = new Set(sources.policy.endpoints.filter((e) => e.authentication).map((e) => e.name));
  const loginAttacksStopped = [...authEndpoints].reduce((total, name) => total + sum(`e:${name}:m`), 0);
  const created = records.filter((r) => r.action === "quarantine.created");
  const lifted = records.filter((r) => r.action === "quarantine.lifted");
  const protectedAccounts = new Set(records.filter((r) => (r.action === "quarantine.created" || r.action === "enforcement.block") && r.scope === "username" && r.subject).map((r) => r.subject));
  const policyEvents = records.filter((r) => /^(policy|rule|threshold)\./.test(r.action) && r.action !== "policy.loaded");
  const loads = records.filter((r) => r.action === "policy.loaded");
  const rollbacks = records.filter((r) => r.action === "policy.rolled_back");
  const frictionPassed = sum("l:challenge") + sum("l:mfa");
  const degraded = sum("d");
  const incidents = incidentsOf(buckets, step);
  const delays = incidents.flatMap((i) => (i.minutesToFirstMitigation === undefined ? [] : [i.minutesToFirstMitigation]));

  const timeLabels = axis(fromMs, toMs, step);
  const series = (field: (b: StatsBucket) => number) => {
    const byStart = new Map(buckets.map((b) => [b.startMs, field(b)]));
    return timeLabels.starts.map((start) => byStart.get(start) ?? 0);
  };
  const families = fieldsLike("f:");
  const actions = ACTIONS.filter((a) => a !== "allow").map((a) => [a, sum(`a:${a}`)] as const).filter(([, n]) => n > 0);
  const topAction = actions.slice().sort((a, b) => b[1] - a[1])[0];
  const rules = ruleTotals(fieldsLike("r:")).slice(0, 8);
  const shadows = fieldsLike("s:").slice(0, 8);
  const share = requests > 0 ? mitigated / requests : 0;

  const headline: Headline = {
    requests,
    mitigated,
    mitigatedShare: share,
    loginAttacksStopped,
    accountsProtected: protectedAccounts.size,
    quarantinesMade: created.length,
    quarantinesLifted: lifted.length,
    policyChanges: policyEvents.length + Math.max(0, loads.length - 1),
    rollbacks: rollbacks.length,
    frictionPassed,
    degradedShare: requests > 0 ? degraded / requests : 0,
    incidents: incidents.length,
    ...(delays.length > 0 ? { slowestFirstMitigationMinutes: Math.max(...delays) } : {}),
  };

  const sections: ReportSection[] = [
    {
      id: "traffic",
      title: "Traffic and mitigation",
      sentence:
        requests === 0
          ? "Palisade saw no requests in this period."
          : `Palisade answered ${fmt(requests)} requests and slowed, challenged or stopped ${fmt(mitigated)} of them (${pct(share)}).`,
      chart: { kind: "bars", labels: timeLabels.labels, stacked: true, series: [
        { name: "allowed", values: series((b) => b.counts["a:allow"] ?? 0) },
        { name: "mitigated", values: series((b) => (b.counts.n ?? 0) - (b.counts["a:allow"] ?? 0)) },
      ] },
    },
    {
      id: "families",
      title: "Attacks seen, by kind",
      sentence:
        families.length === 0
          ? "No attack traffic was seen."
          : `Most of the traffic Palisade acted on looked like ${familyWords(families[0]![0])} (${fmt(families[0]![1])} requests); ${families.length === 1 ? "no other kind was seen" : `${families.length - 1} other kind${families.length === 2 ? " was" : "s were"} seen as well`}.`,
      chart: bars(families.map(([f, n]) => [familyWords(f), n]), "requests"),
    },
    {
      id: "actions",
      title: "What Palisade did",
      sentence:
        !topAction
          ? "Palisade did not need to act on any request."
          : `Of the requests Palisade acted on, most were ${ACTION_WORDS[topAction[0]] ?? topAction[0]} (${fmt(topAction[1])}).`,
      chart: bars(actions.map(([a, n]) => [ACTION_WORDS[a] ?? a, n]), "requests"),
    },
    {
      id: "accounts",
      title: "Accounts protected",
      sentence:
        loginAttacksStopped === 0
          ? "No attack on sign-in was seen."
          : `${fmt(loginAttacksStopped)} sign-in attempts from attacking clients were stopped or slowed before they could take over an account${protectedAccounts.size > 0 ? `, and ${fmt(protectedAccounts.size)} account${protectedAccounts.size === 1 ? " was" : "s were"} shielded by a quarantine` : ""}.`,
      chart: { kind: "bars", labels: timeLabels.labels, stacked: false, series: [{ name: "sign-in attempts stopped", values: series((b) => [...authEndpoints].reduce((t, e) => t + (b.counts[`e:${e}:m`] ?? 0), 0)) }] },
    },
    {
      id: "incidents",
      title: "Incidents",
      sentence: incidentSentence(incidents, resolution),
      chart: {
        kind: "timeline",
        fromMs,
        toMs,
        emptyLabel: "no incident in this period",
        events: incidents.map((i) => ({
          atMs: Date.parse(i.start),
          label: `surge on ${i.endpoints.join(", ")} until ${i.end.slice(11, 16)} UTC; ${fmt(i.mitigated)} requests acted on${i.minutesToFirstMitigation === undefined ? "" : `, the first within ${i.minutesToFirstMitigation} min`}`,
        })),
      },
    },
    {
      id: "rules",
      title: "Rules that acted most",
      sentence: rules.length === 0 ? "No rule acted in this period." : `The rule "${rules[0]![0]}" acted most often (${fmt(rules[0]![1])} requests).`,
      chart: bars(rules, "requests"),
    },
    {
      id: "friction",
      title: "Friction for legitimate users",
      sentence:
        frictionPassed === 0
          ? "No legitimate user was reported passing a challenge or MFA that Palisade asked for."
          : `${fmt(frictionPassed)} times a legitimate user passed a challenge or MFA, and Palisade then let them through without asking again.`,
      chart: bars([["challenge passed", sum("l:challenge")], ["MFA passed", sum("l:mfa")], ["friction waived afterwards", sum("w")]], "times"),
    },
    {
      id: "quarantines",
      title: "Quarantines made and lifted",
      sentence:
        created.length === 0 && lifted.length === 0
          ? "No client was quarantined and none was lifted."
          : `${fmt(created.length)} quarantine${created.length === 1 ? " was" : "s were"} made and ${fmt(lifted.length)} lifted early by an analyst; an early lift usually means a quarantine was a mistake.`,
      chart: { kind: "bars", labels: timeLabels.labels, stacked: false, series: [
        { name: "made", values: countPer(created, timeLabels.starts, step) },
        { name: "lifted by an analyst", values: countPer(lifted, timeLabels.starts, step) },
      ] },
    },
    {
      id: "policy",
      title: "Policy changes and rollbacks",
      sentence:
        headline.policyChanges === 0
          ? `The policy stayed as loaded (version ${sources.policy.version}); nobody changed or rolled it back.`
          : `The policy changed ${fmt(headline.policyChanges)} time${headline.policyChanges === 1 ? "" : "s"} (new versions deployed and changes made at run time), ${rollbacks.length === 0 ? "with no rollback" : `including ${fmt(rollbacks.length)} rollback${rollbacks.length === 1 ? "" : "s"}`}.`,
      chart: { kind: "timeline", fromMs, toMs, emptyLabel: "no change in this period", events: [...loads, ...policyEvents].map((r) => ({ atMs: Date.parse(r.time), label: policyLabel(r) })) },
    },
    {
      id: "shadow",
      title: "Rules on trial (shadow mode)",
      sentence: shadows.length === 0 ? "No rule on trial would have acted." : `Rules on trial would have acted ${fmt(shadows.reduce((t, [, n]) => t + n, 0))} times; "${shadows[0]![0]}" most often.`,
      chart: bars(shadows, "would have acted"),
    },
    {
      id: "store",
      title: "Shared store availability",
      sentence:
        degraded === 0
          ? "Every decision was taken with the shared store available."
          : `${pct(headline.degradedShare)} of decisions were taken from a replica's local state because the shared store was unavailable.`,
      chart: { kind: "bars", labels: timeLabels.labels, stacked: true, series: [
        { name: "with the shared store", values: series((b) => (b.counts.n ?? 0) - (b.counts.d ?? 0)) },
        { name: "local state only", values: series((b) => b.counts.d ?? 0) },
      ] },
    },
  ];

  return {
    title: "Security posture report",
    generatedAt: new Date(nowMs).toISOString(),
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    resolution,
    policy: { name: sources.policy.name, version: sources.policy.version },
    headline,
    incidents,
    sections,
    auditTruncated: truncated,
  };
}

function incidentSentence(incidents: Incident[], resolution: StatsResolution): string {
  if (incidents.length === 0) return "No site-wide surge of traffic was seen.";
  const acted = incidents.filter((i) => i.minutesToFirstMitigation !== undefined);
  const slowest = acted.length > 0 ? Math.max(...acted.map((i) => i.minutesToFirstMitigation!)) : undefined;
  const grain = resolution === "minute" ? "minute" : "hour";
  const count = `${fmt(incidents.length)} site-wide surge${incidents.length === 1 ? " was" : "s were"} seen`;
  if (slowest === undefined) return `${count}; Palisade did not need to act during ${incidents.length === 1 ? "it" : "them"}.`;
  return `${count}; Palisade acted ${slowest === 0 ? `in the first ${grain} of ${incidents.length === 1 ? "it" : "each"}` : `within ${slowest} minutes of each one's start`} (to the ${grain}).`;
}

async function readAudit(sources: PostureReportSources, fromMs: number, toMs: number): Promise<{ records: AuditRecord[]; truncated: boolean }> {
  const records: AuditRecord[] = [];
  let cursor: string | undefined;
  while (records.length < MAX_REPORT_AUDIT_RECORDS) {
    const page = await sources.audit({ fromMs, toMs, limit: 1000, cursor, newestFirst: false });
    records.push(...page.records);
    if (!page.next) return { records, truncated: false };
    cursor = page.next;
  }
  return { records, truncated: true };
}

/** `r:<rule>:<action>` totals folded per rule. */
function ruleTotals(entries: [string, number][]): [string, number][] {
  const totals = new Map<string, number>();
  for (const [key, count] of entries) {
    const rule = key.slice(0, key.lastIndexOf(":"));
    totals.set(rule, (totals.get(rule) ?? 0) + count);
  }
  return [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function bars(entries: readonly (readonly [string, number])[], name: string): ReportChart {
  return { kind: "bars", labels: entries.map(([label]) => label), stacked: false, series: [{ name, values: entries.map(([, n]) => n) }] };
}

function countPer(records: AuditRecord[], starts: number[], step: number): number[] {
  const counts = starts.map(() => 0);
  for (const record of records) {
    const at = Date.parse(record.time);
    const index = Math.floor((at - (starts[0] ?? 0)) / step);
    if (index >= 0 && index < counts.length) counts[index]!++;
  }
  return counts;
}

/** Bucket starts of the period and their labels (UTC), at most a few hundred. */
function axis(fromMs: number, toMs: number, step: number): { starts: number[]; labels: string[] } {
  const starts: number[] = [];
  for (let at = Math.floor(fromMs / step) * step; at <= toMs && starts.length < 800; at += step) starts.push(at);
  const labels = starts.map((at) => {
    const iso = new Date(at).toISOString();
    return step < HOUR_MS ? iso.slice(11, 16) : `${iso.slice(5, 10)} ${iso.slice(11, 13)}h`;
  });
  return { starts, labels };
}

function policyLabel(record: AuditRecord): string {
  const detail = record.detail ?? {};
  switch (record.action) {
    case "policy.loaded":
      return `version ${record.policyVersion ?? "?"} loaded`;
    case "policy.rolled_back":
      return `rolled back to ${record.policyVersion ?? "?"}`;
    case "policy.override_cleared":
      return `rollback ended`;
    case "rule.disabled":
      return `rule ${record.rule ?? "?"} switched off`;
    case "rule.enabled":
      return `rule ${record.rule ?? "?"} switched on`;
    case "threshold.overridden":
      return `${String(detail.path ?? "a threshold")} changed`;
    case "threshold.cleared":
      return `${String(detail.path ?? "a threshold")} restored`;
    default:
      return record.action;
  }
}

function fmt(n: number): string {
  return n.toLocaleString("en-GB");
}

function pct(share: number): string {
  return `${(share * 100).toFixed(share > 0 && share < 0.01 ? 2 : 1)}%`;
}
