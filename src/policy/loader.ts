import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import { compilePolicy, PolicyError, type CompiledPolicy } from "./compile.js";
import { issuesFromYaml, issuesFromZod, policyErrorMap } from "../config/issues.js";
import { describeFsError } from "../config/files.js";
import { resolvePolicyFile } from "./policy-file.js";
import { policySchema, type PolicyDocument } from "./schema.js";

export { formatIssues } from "../config/issues.js";

/**
 * Everything a policy is built from, read from disk in one go: the policy text and the text of
 * every list file it names. Compiling a snapshot needs no I/O, and two snapshots with the same
 * content compile to the same policy (which is how the hot reloader spots "nothing changed").
 */
export interface PolicySnapshot {
  /** The policy file, as named in errors. */
  source: string;
  text: string;
  /** List file text keyed by the name written in the policy; unreadable files are absent. */
  listFiles: ReadonlyMap<string, string>;
  /** Where those list files were looked for, so a watcher can notice them change. */
  listPaths: readonly string[];
}

/**
 * Loads and compiles the policy at `location` (a file, or a directory mounted from a ConfigMap;
 * see policy-file.ts for which file is chosen). Throws PolicyError listing every issue found.
 */
export async function loadPolicy(location: string): Promise<CompiledPolicy> {
  return compileSnapshot(await readPolicySnapshot(location));
}

export function compileSnapshot(snapshot: PolicySnapshot): CompiledPolicy {
  return parsePolicyText(snapshot.text, snapshot.source, snapshot.listFiles);
}

/** Reads the policy file `location` names and the list files it refers to. */
export async function readPolicySnapshot(location: string): Promise<PolicySnapshot> {
  const source = await resolvePolicyFile(location);
  const text = await readFile(source, "utf8").catch((error: unknown) => {
    throw new PolicyError(source, [{ path: "", message: `cannot read: ${describeFsError(error)}` }]);
  });
  const baseDir = dirname(source);
  const names = listFileNames(text);
  const listPaths = names.map((name) => (isAbsolute(name) ? name : resolve(baseDir, name)));
  const texts = await Promise.all(listPaths.map((path) => readFile(path, "utf8").catch(() => undefined)));
  // An unreadable list file is left out: compilePolicy reports every name it cannot find.
  const listFiles = new Map(names.flatMap((name, i) => (texts[i] === undefined ? [] : [[name, texts[i]] as const])));
  return { source, text, listFiles, listPaths };
}

/**
 * Parses, validates and compiles policy text; no I/O (list files are passed in). Schema problems
 * are reported before semantic ones: compiling an invalid document would only add noise.
 */
export function parsePolicyText(
  text: string,
  source: string,
  listFiles: ReadonlyMap<string, string> = new Map(),
): CompiledPolicy {
  return compilePolicy(validateDocument(parseYaml(text, source), source), source, listFiles);
}

function parseYaml(text: string, source: string): unknown {
  const document = parseDocument(text);
  if (document.errors.length > 0) throw new PolicyError(source, issuesFromYaml(document.errors));
  if (document.contents === null) {
    throw new PolicyError(source, [
      { path: "", message: "the file is empty; expected a Policy document (apiVersion, kind, metadata, spec)" },
    ]);
  }
  return document.toJS();
}

function validateDocument(value: unknown, source: string): PolicyDocument {
  const result = policySchema.safeParse(value, { error: policyErrorMap });
  if (!result.success) throw new PolicyError(source, issuesFromZod(result.error.issues, policySchema));
  return result.data;
}

/** The list files a document names, read leniently: validation reports malformed ones later. */
function listFileNames(text: string): string[] {
  const document = parseDocument(text);
  if (document.errors.length > 0) return [];
  const lists: unknown = document.toJS()?.spec?.reputation?.lists;
  if (!Array.isArray(lists)) return [];
  const files = lists.flatMap((list: { files?: unknown }) => (Array.isArray(list?.files) ? list.files : []));
  return [...new Set(files.filter((file): file is string => typeof file === "string" && file !== ""))];
}
