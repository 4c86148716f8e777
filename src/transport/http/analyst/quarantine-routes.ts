import { z } from "zod";
import { invalid } from "../../../response/errors.js";
import type { Quarantine } from "../../../response/quarantine-record.js";
import type { WriteId } from "../../../response/events.js";
import type { LiftHow } from "../../../response/quarantines.js";
import type { StoredEntry } from "../../../state/replicated-map.js";
import { problem } from "../problem.js";
import type { AnalystRoutes } from "./routes.js";
import { durationField, LOOKUPS, limitQuery, lookupFields, lookupSubjects, manualSubject, manualTargetFields, reasonField, scopeQuery, timeField } from "./input.js";

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
const selection = {
  scope: scopeQuery,
  rule: z.string().min(1).max(64).optional(),
  since: z.string().max(40).optional().describe("With rule: only what it did since then"),
  ...lookupFields,
};
const liftMany = z.object({ ...selection, reason: reasonField }).strict();
const deleteMany = z.object({ ...selection, all: z.enum(["true"]).optional().describe("Lift every active quarantine") });
const manualBody = z
  .object({
    ...manualTargetFields,
    duration: z.string().max(32).optional().describe("How long: 30m, 4h, 7d; the policy's quarantine duration when absent"),
    reason: reasonField,
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
  const lift = async (entries: StoredEntry<Quarantine>[], actor: string, reason: string | undefined, how: LiftHow, write: WriteId) => {
    const lifted = [];
    for (const entry of entries) {
      // One request, several writes: each lift gets its own key, derived from the request's.
      const id = { key: `${write.key}:${entry.key}`, fingerprint: write.fingerprint };
      if (await quarantines.lift(entry, actor, reason, how, id)) lifted.push(quarantineView(entry.value, clock()));
    }
    return { status: 200, body: { lifted, count: lifted.length } };
  };

  route("read", {
    method: "GET",
    url: "/v1/quarantines",
    summary: "Active quarantines, newest first",
    query: listQuery,
    handler: async ({ query }) => {
      const selector: Selector = { scope: query.scope, rule: query.rule, subjects: lookupSubjects(query, lookup) };
      const found = (await quarantines.list()).filter((e) => selects(e.value, selector)).sort((a, b) => b.value.startMs - a.value.startMs);
      return { status: 200, body: { quarantines: found.slice(0, query.limit).map((e) => quarantineView(e.value, clock())), total: found.length } };
    },
  });

  route("write", {
    method: "POST",
    url: "/v1/quarantines",
    summary: "Quarantine a client by hand: audited and announced like a rule's quarantine",
    body: manualBody,
    handler: async ({ body }, actor, write) => {
      const policy = lookup.policy();
      const durationMs = durationField(body.duration) ?? policy.response.quarantine.durationMs;
      const maxMs = policy.response.overrides.maxDurationMs;
      if (durationMs > maxMs) throw invalid(`duration: at most ${maxMs / 1000}s (the policy's overrides.maxDuration)`);
      const target = manualSubject(body, lookup);
      const quarantine = await quarantines.imposeByHand({ ...target, durationMs, actor, reason: body.reason, policyVersion: policy.version }, write);
      return { status: 201, body: quarantineView(quarantine, clock()) };
    },
  });

  route("read", {
    method: "GET",
    url: "/v1/quarantines/:id",
    summary: "One active quarantine",
    params: idParams,
    handler: async ({ params }) => {
      const entry = await quarantines.byId(params.id);
      return entry ? { status: 200, body: quarantineView(entry.value, clock()) } : problem(404, "no active quarantine with this id");
    },
  });

  const liftById = async (id: string, actor: string, reason: string | undefined, write: WriteId) => {
    const entry = await quarantines.byId(id);
    if (!entry) return problem(404, "no active quarantine with this id");
    const answer = await lift([entry], actor, reason, "id", write);
    return answer.body.count === 1 ? answer : problem(409, "the quarantine changed or was lifted meanwhile; nothing done");
  };
  const liftMatching = async (fields: z.output<typeof deleteMany>, actor: string, reason: string | undefined, write: WriteId) => {
    const subjects = lookupSubjects(fields, lookup);
    if (!subjects && !fields.rule && !fields.all) return problem(400, `say what to lift: one of ${LOOKUPS.join(", ")}, or a rule (with since for a bulk lift), or all`);
    const selector: Selector = { scope: fields.scope, rule: fields.rule, sinceMs: timeField("since", fields.since), subjects };
    const entries = (await quarantines.list()).filter((e) => selects(e.value, selector));
    if (entries.length === 0) return problem(404, "no active quarantine matches; nothing done");
    return lift(entries, actor, reason, subjects ? "scope" : "bulk", write);
  };

  route("write", {
    method: "POST",
    url: "/v1/quarantines/:id/lift",
    summary: "Lift one quarantine by id",
    params: idParams,
    body: liftOne,
    handler: ({ params, body }, actor, write) => liftById(params.id, actor, body.reason, write),
  });
  route("write", {
    method: "DELETE",
    url: "/v1/quarantines/:id",
    summary: "Lift one quarantine by id",
    params: idParams,
    body: liftOne,
    handler: ({ params, body }, actor, write) => liftById(params.id, actor, body.reason, write),
  });
  route("write", {
    method: "POST",
    url: "/v1/quarantines/lift",
    summary: "Lift the quarantines of one client, or a rule's (since a time)",
    body: liftMany,
    handler: ({ body }, actor, write) => liftMatching(body, actor, body.reason, write),
  });
  route("write", {
    method: "DELETE",
    url: "/v1/quarantines",
    summary: "Lift the quarantines of one client, a rule's (since a time), or all",
    query: deleteMany,
    body: liftOne,
    handler: ({ query, body }, actor, write) => liftMatching(query, actor, body.reason, write),
  });
}
