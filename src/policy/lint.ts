import { PolicyError, type CompiledPolicy } from "./compile.js";
import { formatIssues, readPolicySnapshot, compileSnapshot, type PolicyReadOptions } from "./loader.js";

/** What `palisade policy lint` prints, and whether it should exit 0. */
export interface LintResult {
  ok: boolean;
  /**
   * Issues one per line (`file: path: message`), or a one-line summary of a valid policy followed
   * by its warnings (`file: path: warning: message`). No trailing newline.
   */
  output: string;
}

/**
 * Checks a policy file or ConfigMap directory offline with the loader the server uses, so a
 * policy that lints clean is one the server accepts.
 */
export async function lintPolicy(path: string, options: PolicyReadOptions = {}): Promise<LintResult> {
  try {
    const snapshot = await readPolicySnapshot(path, options);
    const policy = compileSnapshot(snapshot);
    const warnings = policy.warnings.map((issue) => ({ ...issue, message: `warning: ${issue.message}` }));
    return { ok: true, output: [summary(snapshot.source, policy), ...(warnings.length > 0 ? [formatIssues({ source: snapshot.source, issues: warnings })] : [])].join("\n") };
  } catch (error) {
    if (error instanceof PolicyError) return { ok: false, output: formatIssues(error) };
    throw error;
  }
}

function summary(source: string, policy: CompiledPolicy): string {
  const counts = [
    plural(policy.endpoints.length, "endpoint"),
    plural(policy.rules.length, "rule"),
    plural(policy.lists.length, "reputation list"),
  ];
  return `${source}: ok: policy "${policy.name}" version ${policy.version} (${policy.mode}): ${counts.join(", ")}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
