import { z } from "zod";
import type { Quarantine } from "../../../response/quarantine-record.js";
import type { LiftHow } from "../../../response/quarantines.js";
import type { ReplicaEntry } from "../../../state/replicated-map.js";
import { problem } from "../problem.js";
import type { AnalystRoutes } from "./routes.js";
import { LOOKUPS, lookupFromQuery, lookupSubjects, limitField, readJson, reasonField, scopeField, timeField, type LookupFields } from "./input.js";

/** A quarantine as the API shows it: times in RFC 3339, subjects as pseudonyms. */
export function quarantineView({ startMs, expiresMs, ...rest }: Quarantine, nowMs: number) {
  return {
    ...rest,
    start: new Date(startMs).toISOString(),
    expires: new Date(expiresMs).toISOString(),
    remainingSeconds: Math.max(0, Math.ceil((expiresMs - nowMs) / 1000)),
  };
}

const liftOne = z.object({ reason: reasonField }).strict();
const liftMany = z
  .object({
    scope: z.string().optional(),
    rule: z.string().min(1).max(64).optional(),
    since: z.string().max(40).optional().describe("With rule: only what it did since then"),
    reason: reasonField,
    ...Object.fromEntries(LOOKUPS.map((name) => [name, z.string().min(1).max(1024).optional()])),
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

  route("GET", "/v1/quarantines", "read", async (request) => {
    const selector: Selector = {
      scope: scopeField(request.query.get("scope")),
      rule: request.query.get("rule") ?? undefined,
      subjects: lookupSubjects(lookupFromQuery(request.query), lookup),
    };
    const found = quarantines.list().filter((e) => selects(e.value, selector)).sort((a, b) => b.value.startMs - a.value.startMs);
    const limit = limitField(request.query);
    return { status: 200, body: { quarantines: found.slice(0, limit).map((e) => quarantineView(e.value, clock())), total: found.length } };
  });

  route("GET", "/v1/quarantines/:id", "read", async (request) => {
    const entry = quarantines.byId(request.params.id!);
    return entry ? { status: 200, body: quarantineView(entry.value, clock()) } : problem(404, "no active quarantine with this id");
  });

  route("POST", "/v1/quarantines/:id/lift", "write", async (request, actor) => {
    const { reason } = readJson(request, liftOne);
    const entry = quarantines.byId(request.params.id!);
    if (!entry) return problem(404, "no active quarantine with this id");
    const answer = await lift([entry], actor, reason, "id");
    return answer.body.count === 1 ? answer : problem(409, "the quarantine changed or was lifted meanwhile; nothing done");
  });

  route("POST", "/v1/quarantines/lift", "write", async (request, actor) => {
    const body = readJson(request, liftMany);
    const subjects = lookupSubjects(body as LookupFields, lookup);
    if (!subjects && !body.rule) return problem(400, `say what to lift: one of ${LOOKUPS.join(", ")}, or a rule (with since for a bulk lift)`);
    const selector: Selector = { scope: scopeField(body.scope), rule: body.rule, sinceMs: timeField("since", body.since), subjects };
    const entries = quarantines.list().filter((e) => selects(e.value, selector));
    if (entries.length === 0) return problem(404, "no active quarantine matches; nothing done");
    return lift(entries, actor, body.reason, subjects ? "scope" : "bulk");
  });
}
