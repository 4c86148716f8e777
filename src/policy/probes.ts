import type { ConfigIssue as PolicyIssue } from "../config/config-error.js";
import { durationMs } from "../config/duration.js";
import type { SignalsSpec } from "./schema.js";

interface CountLimit {
  threshold: number;
  weight: number;
}

type ProbingSpec = NonNullable<SignalsSpec["probing"]>;
export type ProbeTarget = ProbingSpec["lists"][number]["target"];

export interface CompiledProbeList {
  name: string;
  target: ProbeTarget;
  weight: number;
  /** Distinct matching requests per IP above which it fires; one match fires when absent. */
  threshold?: number;
  /** Every pattern of the list in one case-insensitive alternation: one scan per request. */
  pattern: RegExp;
}

/** `signals.probing` with durations in milliseconds and the list files turned into patterns. */
export interface CompiledProbing {
  windowMs: number;
  lists: readonly CompiledProbeList[];
  probes?: CountLimit;
  missingPaths?: { threshold: number; weight: number; statuses: readonly number[] };
  errorRatio?: { minRequests: number; threshold: number; weight: number };
  authFailures?: CountLimit;
  userAgents?: CountLimit;
  queryFlood?: CountLimit;
  protocol?: { weight: number };
}

/**
 * Builds the probe lists from the policy's inline patterns and the text of the files it names
 * (read by the loader, so this stays pure). A pattern that is not a valid regular expression is
 * an issue located by file and line, like a bad CIDR in a reputation list.
 */
export function compileProbing(
  spec: ProbingSpec | undefined,
  listFiles: ReadonlyMap<string, string>,
  issues: PolicyIssue[],
): CompiledProbing | undefined {
  if (!spec) return undefined;
  const lists = spec.lists.flatMap((list, index) => {
    const path = `spec.signals.probing.lists[${index}]`;
    const entries = [
      ...list.patterns.map((text, i) => ({ text, where: `${path}.patterns[${i}]` })),
      ...list.files.flatMap((file, i) => patternLines(file, listFiles, `${path}.files[${i}]`, issues)),
    ];
    const valid = entries.filter(({ text, where }) => {
      try {
        new RegExp(text, "i");
        return true;
      } catch (error) {
        issues.push({ path: where, message: `invalid regular expression: ${(error as Error).message}` });
        return false;
      }
    });
    if (valid.length === 0) return [];
    const pattern = new RegExp(valid.map(({ text }) => `(?:${text})`).join("|"), "i");
    return [{ name: list.name, target: list.target, weight: list.weight, threshold: list.threshold, pattern }];
  });
  const { window, lists: _lists, ...limits } = spec;
  return { ...limits, windowMs: durationMs(window), lists };
}

/** Non-empty lines that are not comments ('#' first): a '#' later in a line belongs to the pattern. */
function patternLines(file: string, listFiles: ReadonlyMap<string, string>, where: string, issues: PolicyIssue[]) {
  const text = listFiles.get(file);
  if (text === undefined) {
    issues.push({ path: where, message: `cannot read list file "${file}"` });
    return [];
  }
  return text
    .split(/\r?\n/)
    .map((line, i) => ({ text: line.trim(), where: `${where} line ${i + 1}` }))
    .filter((entry) => entry.text !== "" && !entry.text.startsWith("#"));
}
