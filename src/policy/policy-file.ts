import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { describeFsError, yamlFilesIn } from "../config/files.js";
import { PolicyError } from "./compile.js";

/**
 * Which file holds the policy when `location` is a directory mounted from a ConfigMap.
 *
 * kubelet shows each key as a symlink (`policy.yaml` → `..data/policy.yaml`) and keeps its own
 * bookkeeping in entries whose names start with `..`; those are skipped. Of the visible
 * `*.yaml` / `*.yml` files:
 *   1. `policy.yaml` (then `policy.yml`) when present — the name to use when a ConfigMap also
 *      carries other configuration (e.g. `ratelimit.yaml`);
 *   2. else the only YAML file;
 *   3. else the only one whose top-level `kind` is `Policy`.
 * Anything else is ambiguous and rejected rather than guessed.
 */
export const PREFERRED_POLICY_FILES = ["policy.yaml", "policy.yml"] as const;

/** The policy file `location` names: itself when it is a file, chosen by the rule above when a directory. */
export async function resolvePolicyFile(location: string): Promise<string> {
  const info = await stat(location).catch((error: unknown) => {
    throw new PolicyError(location, [{ path: "", message: `cannot read: ${describeFsError(error)}` }]);
  });
  return info.isDirectory() ? choosePolicyFile(location) : location;
}

async function choosePolicyFile(dir: string): Promise<string> {
  const names = await yamlFilesIn(dir, PolicyError);
  const fail = (message: string): never => {
    throw new PolicyError(dir, [{ path: "", message }]);
  };
  if (names.length === 0) return fail("no *.yaml or *.yml file in the directory");
  const preferred = PREFERRED_POLICY_FILES.find((name) => names.includes(name));
  if (preferred) return join(dir, preferred);
  if (names.length === 1) return join(dir, names[0]!);
  const kinds = await Promise.all(names.map((name) => kindOf(join(dir, name))));
  const policies = names.filter((_, i) => kinds[i] === "Policy");
  if (policies.length === 1) return join(dir, policies[0]!);
  if (policies.length === 0) {
    const unparsable = names.filter((_, i) => kinds[i] === undefined);
    const note = unparsable.length > 0 ? ` (${unparsable.join(", ")} could not be parsed)` : "";
    return fail(`none of ${names.join(", ")} has kind: Policy${note}; name the policy file policy.yaml`);
  }
  return fail(`several files have kind: Policy (${policies.join(", ")}); keep one, or name the one to use policy.yaml`);
}

/** The top-level `kind`, "" when the file has none, undefined when it cannot be read or parsed. */
async function kindOf(file: string): Promise<string | undefined> {
  try {
    const document = parseDocument(await readFile(file, "utf8"));
    if (document.errors.length > 0) return undefined;
    const kind: unknown = document.toJS()?.kind;
    return typeof kind === "string" ? kind : "";
  } catch {
    return undefined;
  }
}
