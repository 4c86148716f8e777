import { z } from "zod";
import type { Decision } from "../../../domain/decision.js";
import type { FlaggedDecision } from "../../../response/flagged.js";
import { parseEntryId } from "../../../state/audit-log.js";
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
const decisionsQuery = z.object({
  action: z.string().max(32).optional(),
  rule: z.string().max(64).optional(),
  endpoint: z.string().max(64).optional(),
  limit: limitQuery,
  ...lookupFields,
});

/** Read-only views: the audit trail, this replica's flagged decisions, anomalies in force. */
export function registerRecordRoutes({ route, engine, lookup }: AnalystRoutes): void {
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
    summary: "One flagged decision",
    params: z.object({ id: z.string().min(1).max(128) }),
    handler: async ({ params }) => {
      const decision = engine.flagged.list().find((d) => d.decisionId === params.id);
      return decision ? { status: 200, body: decision } : problem(404, "no flagged decision with this id on this replica (the audit trail keeps enforcements)");
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
