import { z } from "zod";
import { parsePolicyText } from "../../../policy/loader.js";
import { diffDocuments } from "../../../response/document-paths.js";
import type { Control } from "../../../response/effective-policy.js";
import { versionRef, type PolicyVersion } from "../../../response/policy-history.js";
import { problem } from "../problem.js";
import { BadInput, durationField, expiresField, reasonField } from "./input.js";
import type { AnalystRoutes } from "./routes.js";

/** A control as the API shows it: times in RFC 3339, a rollback without the policy's text. */
function controlView(control: Control) {
  const { atMs, untilMs, ...rest } = control;
  const since = new Date(atMs).toISOString();
  const until = new Date(untilMs).toISOString();
  if (rest.kind !== "rollback") return { ...rest, since, until };
  const { text: _text, listFiles: _lists, ...rollback } = rest;
  return { ...rollback, since, until };
}

function versionView({ text: _text, listFiles: _lists, loadedAtMs, ...rest }: PolicyVersion) {
  return { ...rest, ref: versionRef(rest), loadedAt: new Date(loadedAtMs).toISOString() };
}

const rollbackBody = z
  .object({ version: z.string().min(1).max(64).optional(), id: z.string().min(1).max(64).optional(), reason: reasonField, expires: expiresField })
  .strict()
  .refine((b) => (b.version === undefined) !== (b.id === undefined), { message: "give exactly one of version or id" });
const changeBody = z.object({ reason: reasonField, expires: expiresField }).strict();
const clearBody = z.object({ reason: reasonField }).strict();
const overrideBody = z.object({ path: z.string().min(1).max(256), value: z.number(), reason: reasonField, expires: expiresField }).strict();
const ref = z.string().min(1).max(128);
const idParams = z.object({ id: ref });
const diffQuery = z.object({
  from: ref.describe("A kept version's id or version, or effective / base"),
  to: ref.default("effective"),
});
const overridePathQuery = z.object({ path: z.string().min(1).max(256).describe("The overridden path, e.g. endpoints/login/velocity/ip/threshold") });

/** The policy in force, kept versions and their diffs; rollback, disabled rules, threshold overrides. */
export function registerPolicyRoutes({ route, engine, policy }: AnalystRoutes): void {
  const { controls, effective, history } = engine;
  const status = () => {
    const base = effective.base().policy;
    const list = controls.list();
    return {
      effective: { name: policy().name, version: policy().version },
      base: { name: base.name, version: base.version },
      file: { name: effective.filePolicy().name, version: effective.filePolicy().version },
      rollback: list.filter((c) => c.kind === "rollback").map(controlView)[0],
      disabledRules: list.filter((c) => c.kind === "rule").map(controlView),
      thresholds: list.filter((c) => c.kind === "threshold").map(controlView),
      inactive: effective.inactive(),
      problems: effective.problems(),
    };
  };
  /** Carries out a change, then answers with the policy's status after it. */
  const changed = async (change: Promise<unknown>) => {
    await change;
    return { status: 200, body: status() };
  };
  /** A document by reference: "effective", "base", or a kept version's id or version string. */
  const documentOf = async (ref: string) => {
    if (ref === "effective") return { ref, version: policy().version, document: policy().document };
    if (ref === "base") return { ref, version: effective.base().policy.version, document: effective.base().policy.document };
    const kept = await history.find(ref);
    if (!kept) throw new BadInput(problem(404, `no kept policy version "${ref}"`));
    return { ref, version: kept.version, document: parsePolicyText(kept.text, kept.source, new Map(kept.listFiles)).document };
  };

  route("read", { method: "GET", url: "/v1/policy", summary: "The policy in force and every runtime control", handler: async () => ({ status: 200, body: status() }) });
  route("read", {
    method: "GET",
    url: "/v1/policy/versions",
    summary: "Kept policy versions, newest first",
    handler: async () => ({ status: 200, body: { versions: (await history.list()).map(versionView) } }),
  });
  route("read", {
    method: "GET",
    url: "/v1/policy/versions/:id",
    summary: "One kept version's document",
    params: idParams,
    handler: async ({ params }) => {
      const { document, ...about } = await documentOf(params.id);
      return { status: 200, body: { ...about, document } };
    },
  });
  route("read", {
    method: "GET",
    url: "/v1/policy/diff",
    summary: "What changed between two policy documents",
    query: diffQuery,
    handler: async ({ query }) => {
      const [a, b] = await Promise.all([documentOf(query.from), documentOf(query.to)]);
      return { status: 200, body: { from: { ref: a.ref, version: a.version }, to: { ref: b.ref, version: b.version }, changes: diffDocuments(a.document, b.document) } };
    },
  });

  route("write", {
    method: "POST",
    url: "/v1/policy/rollback",
    summary: "Put a kept version in force until cleared or expired",
    body: rollbackBody,
    handler: ({ body }, actor, write) => changed(controls.rollback((body.id ?? body.version)!, { actor, id: write, reason: body.reason, forMs: durationField(body.expires) })),
  });
  route("write", {
    method: "DELETE",
    url: "/v1/policy/rollback",
    summary: "End a rollback: the file's policy is in force again",
    body: clearBody,
    handler: ({ body }, actor, write) => changed(controls.clearRollback({ actor, id: write, reason: body.reason })),
  });
  route("write", {
    method: "POST",
    url: "/v1/rules/:id/disable",
    summary: "Disable a rule until enabled or expired",
    params: idParams,
    body: changeBody,
    handler: ({ params, body }, actor, write) => changed(controls.disableRule(params.id, { actor, id: write, reason: body.reason, forMs: durationField(body.expires) })),
  });
  route("write", {
    method: "POST",
    url: "/v1/rules/:id/enable",
    summary: "Enable a disabled rule",
    params: idParams,
    body: clearBody,
    handler: ({ params, body }, actor, write) => changed(controls.enableRule(params.id, { actor, id: write, reason: body.reason })),
  });
  route("read", { method: "GET", url: "/v1/overrides", summary: "Threshold overrides in force", handler: async () => ({ status: 200, body: { thresholds: status().thresholds } }) });
  route("write", {
    method: "POST",
    url: "/v1/overrides",
    summary: "Override one number of the policy",
    body: overrideBody,
    handler: ({ body }, actor, write) => changed(controls.overrideThreshold(body.path, body.value, { actor, id: write, reason: body.reason, forMs: durationField(body.expires) })),
  });
  route("write", {
    method: "DELETE",
    url: "/v1/overrides",
    summary: "Clear one threshold override",
    query: overridePathQuery,
    body: clearBody,
    handler: ({ query, body }, actor, write) => changed(controls.clearThreshold(query.path, { actor, id: write, reason: body.reason })),
  });
}
