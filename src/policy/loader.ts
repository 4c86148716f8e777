import { readFile, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { parseDocument } from "yaml";
import { compilePolicy, PolicyError, type CompiledPolicy } from "./compile.js";
import { documentValue, issuesFromYaml, issuesFromZod, policyErrorMap } from "../config/issues.js";
import { describeFsError } from "../config/files.js";
import { planConditionsInSlices, type PolicyValidator } from "./off-thread.js";
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
export async function loadPolicy(location: string, options: PolicyReadOptions = {}): Promise<CompiledPolicy> {
  return compileSnapshot(await readPolicySnapshot(location, options));
}

export interface PolicyReadOptions {
  /**
   * Directories list files may be read from; the policy file's own directory when empty. A list
   * file elsewhere (or a symbolic link leading elsewhere) is refused unread: a policy must not be
   * a way to read the service's secrets into an error message.
   */
  fileRoots?: readonly string[];
}

/** A list file larger than this is refused unread (a million CIDR lines fit well within it). */
export const MAX_LIST_FILE_BYTES = 32 * 1024 * 1024;

export function compileSnapshot(snapshot: PolicySnapshot): CompiledPolicy {
  return parsePolicyText(snapshot.text, snapshot.source, snapshot.listFiles);
}

/** Reads the policy file `location` names and the list files it refers to. */
export async function readPolicySnapshot(
  location: string,
  options: PolicyReadOptions = {},
  /** How the list file names are found; a reload passes the worker thread's. */
  namesOf: (text: string, source: string) => string[] | Promise<string[]> = listFileNames,
): Promise<PolicySnapshot> {
  const source = await resolvePolicyFile(location);
  const text = await readFile(source, "utf8").catch((error: unknown) => {
    throw new PolicyError(source, [{ path: "", message: `cannot read: ${describeFsError(error)}` }]);
  });
  const baseDir = dirname(source);
  const names = await namesOf(text, source);
  const listPaths = names.map((name) => (isAbsolute(name) ? name : resolve(baseDir, name)));
  const roots = await realRoots(options.fileRoots?.length ? options.fileRoots : [baseDir]);
  const reads = await Promise.all(listPaths.map((path) => readListFile(path, roots)));
  const refused = names.flatMap((name, i) => {
    const read = reads[i]!;
    return read.kind === "refused" ? [{ path: "spec.reputation.lists", message: `list file "${name}" ${read.why}` }] : [];
  });
  if (refused.length > 0) throw new PolicyError(source, refused);
  // An unreadable list file is left out: compilePolicy reports every name it cannot find.
  const listFiles = new Map(names.flatMap((name, i) => {
    const read = reads[i]!;
    return read.kind === "text" ? [[name, read.text] as const] : [];
  }));
  return { source, text, listFiles, listPaths };
}

export async function realRoots(roots: readonly string[]): Promise<string[]> {
  return Promise.all(roots.map((root) => realpath(root).catch(() => resolve(root))));
}

type ListFileRead = { kind: "text"; text: string } | { kind: "unreadable" } | { kind: "refused"; why: string };

/** Reads a list file only once its real path is known to lie inside a root and it is not too large. */
async function readListFile(path: string, roots: readonly string[]): Promise<ListFileRead> {
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) return { kind: "unreadable" };
  if (!roots.some((root) => isInside(real, root))) return { kind: "refused", why: "is outside the allowed policy file roots" };
  const size = await stat(real).then((info) => info.size, () => 0);
  if (size > MAX_LIST_FILE_BYTES) return { kind: "refused", why: `is larger than ${MAX_LIST_FILE_BYTES} bytes` };
  const text = await readFile(real, "utf8").catch(() => undefined);
  return text === undefined ? { kind: "unreadable" } : { kind: "text", text };
}

export function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && rel.split(sep)[0] !== ".." && !isAbsolute(rel);
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
  return compilePolicy(validatePolicyText(text, source), source, listFiles);
}

/** Parses and validates policy text into a document, without compiling it; throws PolicyError. */
export function validatePolicyText(text: string, source: string): PolicyDocument {
  return validateDocument(parseYaml(text, source), source);
}

/**
 * Compiles a snapshot the way a reload does: parsing and validation on the validator's worker
 * thread, the conditions planned one per event-loop turn, so Checks decided meanwhile wait at
 * most for one slice. Rejects with PolicyError.
 */
export async function compileSnapshotOffThread(snapshot: PolicySnapshot, validator: PolicyValidator): Promise<CompiledPolicy> {
  const document = await validator.validate(snapshot.text, snapshot.source);
  const planned = await planConditionsInSlices(document);
  return compilePolicy(document, snapshot.source, snapshot.listFiles, planned);
}

function parseYaml(text: string, source: string): unknown {
  const document = parseDocument(text);
  if (document.errors.length > 0) throw new PolicyError(source, issuesFromYaml(document.errors));
  if (document.contents === null) {
    throw new PolicyError(source, [
      { path: "", message: "the file is empty; expected a Policy document (apiVersion, kind, metadata, spec)" },
    ]);
  }
  return documentValue(document, (issues) => new PolicyError(source, issues));
}

function validateDocument(value: unknown, source: string): PolicyDocument {
  const result = policySchema.safeParse(value, { error: policyErrorMap });
  if (!result.success) throw new PolicyError(source, issuesFromZod(result.error.issues, policySchema));
  return result.data;
}

/** The list files a document names (reputation and probe lists), read leniently: validation reports malformed ones later. */
export function listFileNames(text: string): string[] {
  const document = parseDocument(text);
  if (document.errors.length > 0) return [];
  let value: ReturnType<typeof document.toJS>;
  try {
    value = document.toJS();
  } catch {
    return []; // an alias that cannot be resolved: validation reports it
  }
  const spec = value?.spec;
  const lists: unknown[] = [spec?.reputation?.lists, spec?.signals?.probing?.lists].flatMap((found: unknown) => (Array.isArray(found) ? found : []));
  const files = lists.flatMap((list) => {
    const named = (list as { files?: unknown } | null)?.files;
    return Array.isArray(named) ? (named as unknown[]) : [];
  });
  return [...new Set(files.filter((file): file is string => typeof file === "string" && file !== ""))];
}
