import type { Decision } from "../../../domain/decision.js";
import type { FlaggedDecision } from "../../../response/flagged.js";
import { parseEntryId } from "../../../state/audit-log.js";
import { problem } from "../problem.js";
import { BadInput, limitField, lookupFromQuery, lookupSubjects, scopeField, timeField } from "./input.js";
import type { AnalystRoutes } from "./routes.js";

/** The pseudonyms a flagged decision is about, to match an analyst's look-up. */
function subjectsOf(decision: FlaggedDecision): (string | undefined)[] {
  const a: Decision["attribution"] = decision.attribution;
  return [decision.subject, a?.ipId, a?.usernameId, a?.fingerprintId, a?.subnet];
}

/** Read-only views: the audit trail, this replica's flagged decisions, anomalies in force. */
export function registerRecordRoutes({ route, engine, lookup }: AnalystRoutes): void {
  route("GET", "/v1/audit", "read", async (request) => {
    const q = request.query;
    const cursor = q.get("cursor") ?? undefined;
    if (cursor !== undefined && !parseEntryId(cursor)) throw new BadInput(problem(400, "cursor: use the `next` of a previous page"));
    const order = q.get("order") ?? "desc";
    if (order !== "desc" && order !== "asc") throw new BadInput(problem(400, "order: desc or asc"));
    const page = await engine.audit.query({
      fromMs: timeField("from", q.get("from") ?? undefined),
      toMs: timeField("to", q.get("to") ?? undefined),
      action: q.get("action") ?? undefined,
      actor: q.get("actor") ?? undefined,
      rule: q.get("rule") ?? undefined,
      scope: scopeField(q.get("scope")),
      subjects: lookupSubjects(lookupFromQuery(q), lookup),
      limit: limitField(q),
      cursor,
      newestFirst: order === "desc",
    });
    return { status: 200, body: page };
  });

  route("GET", "/v1/decisions", "read", async (request) => {
    const q = request.query;
    const subjects = lookupSubjects(lookupFromQuery(q), lookup);
    const wanted = (decision: FlaggedDecision) =>
      (!q.get("action") || decision.action === q.get("action")) &&
      (!q.get("rule") || decision.rule === q.get("rule") || decision.shadowed.some((s) => s.rule === q.get("rule"))) &&
      (!q.get("endpoint") || decision.endpoint === q.get("endpoint")) &&
      (!subjects || subjectsOf(decision).some((s) => s !== undefined && subjects.includes(s)));
    const found = engine.flagged.list().filter(wanted);
    return { status: 200, body: { decisions: found.slice(0, limitField(q)), total: found.length } };
  });

  route("GET", "/v1/decisions/:id", "read", async (request) => {
    const decision = engine.flagged.list().find((d) => d.decisionId === request.params.id);
    return decision ? { status: 200, body: decision } : problem(404, "no flagged decision with this id on this replica (the audit trail keeps enforcements)");
  });

  route("GET", "/v1/anomalies", "read", async () => ({ status: 200, body: { anomalies: engine.anomalies.active() } }));
}
