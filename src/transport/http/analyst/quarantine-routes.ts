import { z } from "zod";
import type { Quarantine } from "../../../response/quarantine.js";
import type { LiftHow } from "../../../response/quarantines.js";
import type { ReplicaEntry } from "../../../state/replicated-map.js";
import { problem } from "../problem.js";
import type { AnalystRoutes } from "./routes.js";
import { LOOKUPS, limitQuery, lookupFields, lookupSubjects, reasonField, scopeQuery, timeField } from "./input.js";

/** A quarantine as the API shows it: times in RFC 3339, subjects as pseudonyms. */
export function quarantineView({ startMs, expiresMs, ...rest }: Quarantine, nowMs: number) {
  return {
    ...rest,
    start: new Date(startMs).toISOString(),
    expires: new Date(expiresMs).toISOString(),
    remainingSeconds: Math.max(0, Math.ceil((expiresMs - nowMs) / 1000)),
  };
}

const idParams = z.object({ id: z.string().min(1).max(128) });
const liftOne = z.object({ reason: reasonField }).strict();
const listQuery = z.object({ scope: scopeQuery, rule: z.string().max(64).optional(), limit: limitQuery, ...lookupFields });
const liftMany = z
  .object({
    scope: scopeQuery,
    rule: z.string().min(1).max(64).optional(),
    since: z.string().max(40).optional().describe("With rule: only what it did since then"),
    reason: reasonField,
    ...lookupFields,
  })
  .strict();

interface Selector {
  scope?: string;
  rule?: string;
  sinceMs?: number;
  subjects?: string[];
}

function selects(q: Quarantine, s: Selector): boolean {
  return (!s.scope || q.scope === s.scope) && (!s.rule || q.rule === s.rule) && (s.sinceMs === undefined || q.startMs >= s.sinceMs) && (!s.subjects || s.subjects.includes(q.subject));
}

export function registerQuarantineRoutes({ route, engine, lookup, clock }: AnalystRoutes): void {
  const quarantines = engine.quarantines;
  const lift = async (entries: ReplicaEntry<Quarantine>[], actor: string, reason: string | undefined, how: LiftHow) => {
    const lifted = [];
    for (const entry of entries) if (await quarantines.lift(entry, actor, reason, how)) lifted.push(quarantineView(entry.value, clock()));
    return { status: 200, body: { lifted, count: lifted.length } };
  };

  route("read", {
    method: "GET",
    url: "/v1/quarantines",
    summary: "Active quarantines, newest first",
    query: listQuery,
    handler: async ({ query }) => {
      const selector: Selector = { scope: query.scope, rule: query.rule, subjects: lookupSubjects(query, lookup) };
      const found = quarantines.list().filter((e) => selects(e.value, selector)).sort((a, b) => b.value.startMs - a.value.startMs);
      return { status: 200, body: { quarantines: found.slice(0, query.limit).map((e) => quarantineView(e.value, clock())), total: found.length } };
    },
  });

  route("read", {
    method: "GET",
    url: "/v1/quarantines/:id",
    summary: "One active quarantine",
    params: idParams,
    handler: async ({ params }) => {
      const entry = quarantines.byId(params.id);
      return entry ? { status: 200, body: quarantineView(entry.value, clock()) } : problem(404, "no active quarantine with this id");
    },
  });

  route("write", {
    method: "POST",
    url: "/v1/quarantines/:id/lift",
    summary: "Lift one quarantine by id",
    params: idParams,
    body: liftOne,
    handler: async ({ params, body }, actor) => {
      const entry = quarantines.byId(params.id);
      if (!entry) return problem(404, "no active quarantine with this id");
      const answer = await lift([entry], actor, body.reason, "id");
      return answer.body.count === 1 ? answer : problem(409, "the quarantine changed or was lifted meanwhile; nothing done");
    },
  });

  route("write", {
    method: "POST",
    url: "/v1/quarantines/lift",
    summary: "Lift the quarantines of one client, or a rule's (since a time)",
    body: liftMany,
    handler: async ({ body }, actor) => {
      const subjects = lookupSubjects(body, lookup);
      if (!subjects && !body.rule) return problem(400, `say what to lift: one of ${LOOKUPS.join(", ")}, or a rule (with since for a bulk lift)`);
      const selector: Selector = { scope: body.scope, rule: body.rule, sinceMs: timeField("since", body.since), subjects };
      const entries = quarantines.list().filter((e) => selects(e.value, selector));
      if (entries.length === 0) return problem(404, "no active quarantine matches; nothing done");
      return lift(entries, actor, body.reason, subjects ? "scope" : "bulk");
    },
  });
}
