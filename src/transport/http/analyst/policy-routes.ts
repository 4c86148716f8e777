import { z } from "zod";
import { parsePolicyText } from "../../../policy/loader.js";
import { diffDocuments } from "../../../response/document-paths.js";
import type { Control } from "../../../response/effective-policy.js";
import type { PolicyVersion } from "../../../response/policy-history.js";
import { problem } from "../problem.js";
import { BadInput, durationField, expiresField, readJson, reasonField } from "./input.js";
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
  return { ...rest, loadedAt: new Date(loadedAtMs).toISOString() };
}

const rollbackBody = z
  .object({ version: z.string().min(1).max(64).optional(), id: z.string().min(1).max(64).optional(), reason: reasonField, expires: expiresField })
  .strict()
  .refine((b) => (b.version === undefined) !== (b.id === undefined), { message: "give exactly one of version or id" });
const changeBody = z.object({ reason: reasonField, expires: expiresField }).strict();
const clearBody = z.object({ reason: reasonField }).strict();
const overrideBody = z.object({ path: z.string().min(1).max(256), value: z.number(), reason: reasonField, expires: expiresField }).strict();

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
  /** A document by reference: "effective", "base", or a kept version's id or version string. */
  const documentOf = async (ref: string) => {
    if (ref === "effective") return { ref, version: policy().version, document: policy().document };
    if (ref === "base") return { ref, version: effective.base().policy.version, document: effective.base().policy.document };
    const kept = await history.find(ref);
    if (!kept) throw new BadInput(problem(404, `no kept policy version "${ref}"`));
    return { ref, version: kept.version, document: parsePolicyText(kept.text, kept.source, new Map(kept.listFiles)).document };
  };

  route("GET", "/v1/policy", "read", async () => ({ status: 200, body: status() }));
  route("GET", "/v1/policy/versions", "read", async () => ({ status: 200, body: { versions: (await history.list()).map(versionView) } }));
  route("GET", "/v1/policy/versions/:id", "read", async (request) => {
    const { document, ...about } = await documentOf(request.params.id!);
    return { status: 200, body: { ...about, document } };
  });
  route("GET", "/v1/policy/diff", "read", async (request) => {
    const from = request.query.get("from");
    if (!from) return problem(400, "from: a kept version's id or version, or effective / base");
    const [a, b] = await Promise.all([documentOf(from), documentOf(request.query.get("to") ?? "effective")]);
    return { status: 200, body: { from: { ref: a.ref, version: a.version }, to: { ref: b.ref, version: b.version }, changes: diffDocuments(a.document, b.document) } };
  });

  route("POST", "/v1/policy/rollback", "write", async (request, actor) => {
    const body = readJson(request, rollbackBody);
    await controls.rollback((body.id ?? body.version)!, { actor, reason: body.reason, forMs: durationField(body.expires) });
    return { status: 200, body: status() };
  });
  route("DELETE", "/v1/policy/rollback", "write", async (request, actor) => {
    await controls.clearRollback({ actor, reason: readJson(request, clearBody).reason });
    return { status: 200, body: status() };
  });
  route("POST", "/v1/rules/:id/disable", "write", async (request, actor) => {
    const body = readJson(request, changeBody);
    await controls.disableRule(request.params.id!, { actor, reason: body.reason, forMs: durationField(body.expires) });
    return { status: 200, body: status() };
  });
  route("POST", "/v1/rules/:id/enable", "write", async (request, actor) => {
    await controls.enableRule(request.params.id!, { actor, reason: readJson(request, clearBody).reason });
    return { status: 200, body: status() };
  });
  route("GET", "/v1/overrides", "read", async () => ({ status: 200, body: { thresholds: status().thresholds } }));
  route("POST", "/v1/overrides", "write", async (request, actor) => {
    const body = readJson(request, overrideBody);
    await controls.overrideThreshold(body.path, body.value, { actor, reason: body.reason, forMs: durationField(body.expires) });
    return { status: 200, body: status() };
  });
  route("DELETE", "/v1/overrides", "write", async (request, actor) => {
    const path = request.query.get("path");
    if (!path) return problem(400, "path: the overridden path, e.g. ?path=endpoints/login/velocity/ip/threshold");
    await controls.clearThreshold(path, { actor, reason: readJson(request, clearBody).reason });
    return { status: 200, body: status() };
  });
}
