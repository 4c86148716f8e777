import { z } from "zod";
import type { Decision } from "../../../domain/decision.js";
import type { FlaggedDecision } from "../../../response/flagged.js";
import type { DecisionRecord } from "../../../response/decision-records.js";
import type { ResponseEngine } from "../../../response/engine.js";
import { attackSources, intelText } from "../../../response/intel.js";
import { parseEntryId } from "../../../state/audit-log.js";
import { MAX_RECORD_MINUTES } from "../../../state/decision-records.js";
import { HOUR_MS, MINUTE_MS } from "../../../state/decision-stats.js";
import { StoreUnavailableError } from "../../../state/store.js";
import { problem } from "../problem.js";
import { BadInput, limitQuery, lookupFields, lookupSubjects, scopeQuery, timeField } from "./input.js";
import type { AnalystRoutes } from "./routes.js";

/** The pseudonyms a flagged decision is about, to match an analyst's look-up. */
function subjectsOf(decision: FlaggedDecision): (string | undefined)[] {
  const a: Decision["attribution"] = decision.attribution;
  return [decision.subject, a?.ipId, a?.usernameId, a?.fingerprintId, a?.subnet];
}

const time = z.string().max(40).optional().describe("RFC 3339 or epoch milliseconds");
const auditQuery = z.object({
  from: time,
  to: time,
  action: z.string().max(64).optional().describe("e.g. quarantine.created"),
  actor: z.string().max(128).optional().describe("system or token:<name>"),
  rule: z.string().max(64).optional(),
  scope: scopeQuery,
  limit: limitQuery,
  cursor: z.string().max(64).optional().describe("The `next` of a previous page"),
  order: z.enum(["desc", "asc"]).default("desc"),
  ...lookupFields,
});
const recordsQuery = z.object({
  from: time.describe("Oldest minute to include (RFC 3339 or epoch ms); an hour before `to` when absent"),
  to: time.describe("Newest minute to include; now when absent"),
  action: z.enum(["step_up", "challenge", "throttle", "quarantine", "block"]).optional(),
  rule: z.string().max(64).optional(),
  endpoint: z.string().max(64).optional(),
  limit: limitQuery,
  ...lookupFields,
});
const intelQuery = z.object({
  from: time.describe("Oldest minute to include (RFC 3339 or epoch ms); a day before `to` when absent"),
  to: time.describe("Newest minute to include; now when absent"),
  format: z.enum(["json", "csv", "crowdsec", "stix"]).default("json"),
  prefixV4: z.coerce.number().int().min(8).max(32).optional().describe("Coarsen IPv4 networks to this prefix for partners who need less"),
  prefixV6: z.coerce.number().int().min(16).max(128).optional().describe("Coarsen IPv6 networks to this prefix"),
});
/** Records read for one intel answer: a day of a large attack fits; more says so. */
const INTEL_RECORDS = 50_000;
const decisionsQuery = z.object({
  action: z.string().max(32).optional(),
  rule: z.string().max(64).optional(),
  endpoint: z.string().max(64).optional(),
  limit: limitQuery,
  ...lookupFields,
});

/** Read-only views: the audit trail, this replica's flagged decisions, anomalies in force. */
export function registerRecordRoutes({ route, engine, lookup, clock }: AnalystRoutes): void {
  route("read", {
    method: "GET",
    url: "/v1/audit",
    summary: "The audit trail: every enforcement and every change, with its actor",
    query: auditQuery,
    handler: async ({ query: q }) => {
      if (q.cursor !== undefined && !parseEntryId(q.cursor)) throw new BadInput(problem(400, "cursor: use the `next` of a previous page"));
      const page = await engine.audit.query({
        fromMs: timeField("from", q.from),
        toMs: timeField("to", q.to),
        action: q.action,
        actor: q.actor,
        rule: q.rule,
        scope: q.scope,
        subjects: lookupSubjects(q, lookup),
        limit: q.limit,
        cursor: q.cursor,
        newestFirst: q.order === "desc",
      });
      return { status: 200, body: page };
    },
  });

  route("read", {
    method: "GET",
    url: "/v1/decisions",
    summary: "This replica's recent flagged decisions",
    query: decisionsQuery,
    handler: async ({ query: q }) => {
      const subjects = lookupSubjects(q, lookup);
      const wanted = (decision: FlaggedDecision) =>
        (!q.action || decision.action === q.action) &&
        (!q.rule || decision.rule === q.rule || decision.shadowed.some((s) => s.rule === q.rule)) &&
        (!q.endpoint || decision.endpoint === q.endpoint) &&
        (!subjects || subjectsOf(decision).some((s) => s !== undefined && subjects.includes(s)));
      const found = engine.flagged.list().filter(wanted);
      return { status: 200, body: { decisions: found.slice(0, q.limit), total: found.length } };
    },
  });

  route("read", {
    method: "GET",
    url: "/v1/decisions/:id",
    summary: "One decision by id (an appeal): this replica's copy if it took it, and the shared decision record on any replica",
    params: z.object({ id: z.string().min(1).max(128) }),
    handler: async ({ params }) => {
      const local = engine.flagged.list().find((d) => d.decisionId === params.id);
      const record = await findRecord(engine, params.id, local !== undefined);
      if (local) return { status: 200, body: { ...local, source: "replica", record } };
      if (!record) return problem(404, "no decision record carries this id (allowed requests leave none, and records expire after the policy's response.decisions.retention)");
      const { reasons, action, rule, scope, subject, endpoint, policyVersion, risk, degraded, eventTime } = record;
      return { status: 200, body: { decisionId: params.id, time: eventTime, action, rule, scope, subject, endpoint, policyVersion, risk, reasons, degraded, shadowed: [], source: "record", record } };
    },
  });

  route("read", {
    method: "GET",
    url: "/v1/decision-records",
    summary: "The shared decision records of every replica: each enforcement aggregated per rule, scope, subject, endpoint and minute, newest first",
    query: recordsQuery,
    handler: async ({ query: q }) => {
      const toMs = timeField("to", q.to) ?? clock();
      const fromMs = timeField("from", q.from) ?? toMs - HOUR_MS;
      if (fromMs > toMs) throw new BadInput(problem(400, "from: must not be after to"));
      if (toMs - fromMs >= MAX_RECORD_MINUTES * MINUTE_MS) throw new BadInput(problem(400, "from/to: at most two days per request (page with to)"));
      const subjects = lookupSubjects(q, lookup);
      const records = await engine.records.list({
        fromMs,
        toMs,
        limit: q.limit,
        match: (r) =>
          (!q.action || r.action === q.action) &&
          (!q.rule || r.rule === q.rule) &&
          (!q.endpoint || r.endpoint === q.endpoint) &&
          (!subjects || (r.subject !== undefined && subjects.includes(r.subject))),
      });
      return { status: 200, body: { records, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() } };
    },
  });

  route("read", {
    method: "GET",
    url: "/v1/intel",
    summary: "Attacking networks to share: those quarantined or blocked, with the rules that acted; never an address, username or pseudonym",
    query: intelQuery,
    handler: async ({ query: q }) => {
      const toMs = timeField("to", q.to) ?? clock();
      const fromMs = timeField("from", q.from) ?? toMs - 24 * HOUR_MS;
      if (fromMs > toMs) throw new BadInput(problem(400, "from: must not be after to"));
      if (toMs - fromMs >= MAX_RECORD_MINUTES * MINUTE_MS) throw new BadInput(problem(400, "from/to: at most two days per request (page with to)"));
      const records = await engine.records.list({ fromMs, toMs, limit: INTEL_RECORDS, match: (r) => r.network !== undefined });
      const text = intelText(attackSources(records, { v4: q.prefixV4, v6: q.prefixV6 }), q.format);
      const contentType = q.format === "csv" ? "text/csv; charset=utf-8" : "application/json";
      return { status: 200, headers: { "content-type": contentType, "x-palisade-records-read": String(records.length) }, body: text };
    },
  });

  route("read", {
    method: "GET",
    url: "/v1/whoami",
    summary: "The caller's token name and role (the console shows what it may do)",
    handler: async ({ caller }) => ({ status: 200, body: { name: caller!.name, role: caller!.role } }),
  });

  route("read", { method: "GET", url: "/v1/anomalies", summary: "Site-wide anomalies in force", handler: async () => ({ status: 200, body: { anomalies: engine.anomalies.active() } }) });
}

/** The shared record of a decision id; a store that is away only fails the look-up when this replica has no copy either. */
async function findRecord(engine: ResponseEngine, id: string, haveLocal: boolean): Promise<DecisionRecord | undefined> {
  try {
    return await engine.records.find(id);
  } catch (error) {
    if (haveLocal && error instanceof StoreUnavailableError) return undefined;
    throw error;
  }
}
