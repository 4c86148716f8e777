import type { z } from "zod";
import type { YAMLError } from "yaml";
import type { ConfigIssue } from "./config-error.js";

/**
 * Turns zod and YAML errors into ConfigIssues an operator can act on: a document path in the
 * notation they would type (`spec.endpoints[0].velocity.ip.window`), YAML words (mapping, list)
 * rather than JavaScript ones, and a "did you mean" for misspelt keys.
 */

type PathSegment = PropertyKey;

/** `["spec", "endpoints", 0, "match"]` → `spec.endpoints[0].match`. */
export function formatPath(path: readonly PathSegment[]): string {
  return path
    .map((segment, index) => {
      if (typeof segment === "number") return `[${segment}]`;
      const key = String(segment);
      if (!/^[A-Za-z_$][\w$-]*$/.test(key)) return `[${JSON.stringify(key)}]`;
      return index === 0 ? key : `.${key}`;
    })
    .join("");
}

/**
 * One line per issue, `file: path: message` (`file: message` for the whole document), for any
 * configuration error located in a file (PolicyError, RateLimitConfigError).
 */
export function formatIssues(error: { source: string; issues: readonly ConfigIssue[] }): string {
  return error.issues
    .map((issue) => {
      const message = issue.message.replace(/\s*\n\s*/g, " ");
      return issue.path ? `${error.source}: ${issue.path}: ${message}` : `${error.source}: ${message}`;
    })
    .join("\n");
}

/**
 * Messages for zod's built-in checks, used as the per-parse error map: a message written in the
 * schema (regex hints, refinements) still wins over these.
 */
export const policyErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return `required; expected ${typeName(issue.expected)}`;
      return `expected ${typeName(issue.expected)}, got ${describeValue(issue.input)}`;
    case "invalid_value":
      if (issue.values.length === 1) return `expected ${show(issue.values[0])}, got ${describeValue(issue.input)}`;
      return `expected one of ${issue.values.map(show).join(", ")}; got ${describeValue(issue.input)}`;
    case "too_small":
      return boundMessage(issue.origin, "at least", "greater than", issue.minimum, issue.inclusive);
    case "too_big":
      return boundMessage(issue.origin, "at most", "less than", issue.maximum, issue.inclusive);
    default:
      return undefined;
  }
};

/**
 * Converts zod's issues to ConfigIssues. `schema` is walked to name the keys that are allowed
 * where an unknown one was found, so `treshold` gets "did you mean threshold".
 */
export function issuesFromZod(issues: readonly z.core.$ZodIssue[], schema: z.core.$ZodType): ConfigIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") return unknownKeyIssues(issue.path, issue.keys, keysAt(schema, issue.path));
    if (issue.code === "invalid_union") return unionIssues(issue, schema);
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
}

function unknownKeyIssues(path: readonly PathSegment[], keys: readonly string[], allowed: string[]): ConfigIssue[] {
  return keys.map((key) => ({ path: formatPath([...path, key]), message: `unknown key${suggestion(key, allowed)}` }));
}

/**
 * zod already reports the inner issues when exactly one alternative fits the shape; what is left
 * is input that fits none, such as `username: { jsonPointr: /user }`: say which keys are allowed.
 */
function unionIssues(issue: z.core.$ZodIssueInvalidUnion, schema: z.core.$ZodType): ConfigIssue[] {
  const allowed = keysAt(schema, issue.path);
  if (allowed.length === 0) return [{ path: formatPath(issue.path), message: "does not match any of the allowed forms" }];
  const unknown = keysUnknownToEveryBranch(issue.errors);
  const message = `expected exactly one of ${allowed.join(", ")}`;
  if (unknown.length === 0) return [{ path: formatPath(issue.path), message }];
  return [
    ...unknownKeyIssues(issue.path, unknown, allowed),
    { path: formatPath(issue.path), message },
  ];
}

function keysUnknownToEveryBranch(branches: readonly (readonly z.core.$ZodIssue[])[]): string[] {
  const perBranch = branches.map(
    (branch) => new Set(branch.flatMap((i) => (i.code === "unrecognized_keys" && i.path.length === 0 ? i.keys : []))),
  );
  const [first, ...rest] = perBranch;
  return [...(first ?? [])].filter((key) => rest.every((keys) => keys.has(key)));
}

/** The object keys the schema allows at `path` (every alternative's, for unions). */
export function keysAt(schema: z.core.$ZodType, path: readonly PathSegment[]): string[] {
  const keys = new Set<string>();
  const visit = (node: z.core.$ZodType, rest: readonly PathSegment[]): void => {
    const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
    const inner = (def.innerType ?? (def.type === "pipe" ? def.in : undefined)) as z.core.$ZodType | undefined;
    if (inner) return visit(inner, rest);
    if (def.type === "union") return (def.options as z.core.$ZodType[]).forEach((option) => visit(option, rest));
    if (def.type === "object") {
      const shape = def.shape as Record<string, z.core.$ZodType>;
      if (rest.length === 0) return Object.keys(shape).forEach((key) => keys.add(key));
      const child = shape[String(rest[0])];
      if (child) visit(child, rest.slice(1));
      return;
    }
    if (rest.length === 0) return;
    if (def.type === "array") return visit(def.element as z.core.$ZodType, rest.slice(1));
    if (def.type === "record") return visit(def.valueType as z.core.$ZodType, rest.slice(1));
  };
  visit(schema, path);
  return [...keys];
}

/** ` (did you mean "threshold"?)` when a close allowed key exists, else the allowed keys. */
function suggestion(key: string, allowed: readonly string[]): string {
  const ranked = allowed
    .map((candidate) => ({ candidate, distance: editDistance(key.toLowerCase(), candidate.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance);
  const best = ranked[0];
  if (best && best.distance <= Math.max(1, Math.floor(key.length / 3))) return ` (did you mean "${best.candidate}"?)`;
  return allowed.length > 0 ? ` (allowed: ${allowed.join(", ")})` : "";
}

/** Levenshtein distance; keys are short, so the quadratic table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length]!;
}

const TYPE_NAMES: Record<string, string> = {
  object: "a mapping",
  array: "a list",
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

/** What the operator wrote, in YAML terms. */
function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return show(value);
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function boundMessage(
  origin: string,
  inclusiveWord: string,
  exclusiveWord: string,
  bound: number | bigint | Date,
  inclusive: boolean | undefined,
): string | undefined {
  const word = inclusive === false ? exclusiveWord : inclusiveWord;
  if (origin === "string") return Number(bound) === 1 && word === "at least" ? "must not be empty" : `must be ${word} ${bound} characters`;
  if (origin === "array") return `must have ${word} ${bound} items`;
  if (origin === "number" || origin === "int") return `must be ${word} ${bound}`;
  return undefined;
}

/**
 * YAML errors as issues located by line and column. One mistake often produces several errors
 * at the same spot; only the first per position is kept.
 */
export function issuesFromYaml(errors: readonly YAMLError[]): ConfigIssue[] {
  const seen = new Set<string>();
  return errors.flatMap((error) => {
    const where = positionOf(error.linePos);
    if (seen.has(where)) return [];
    seen.add(where);
    return [{ path: where, message: yamlMessage(error) }];
  });
}

function positionOf(linePos: YAMLError["linePos"]): string {
  const start = linePos?.[0];
  return start ? `line ${start.line}, column ${start.col}` : "";
}

/** yaml appends " at line L, column C:" and a code excerpt; the position is in the path already. */
function yamlMessage(error: YAMLError): string {
  if (error.code === "MULTIPLE_DOCS") return "a policy file holds one YAML document; remove the second (after ---)";
  const firstLine = (error.message.split("\n")[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, "");
  // The usual cause, e.g. `description: Slow down: too many logins`.
  if (error.code === "BLOCK_AS_IMPLICIT_KEY") return `${firstLine} (quote a value that contains ": ")`;
  return firstLine;
}

/**
 * The value of a parsed document whose errors were checked. Aliases (`*name`) are resolved only
 * here, and yaml throws a ReferenceError for an alias with no anchor before it, and for aliases
 * that would expand into far more nodes than the file holds (its guard against alias bombs):
 * both are mistakes in the file, so they become an issue of the file (from `fail`), not a crash.
 */
export function documentValue(document: { toJS(): unknown }, fail: (issues: ConfigIssue[]) => Error): unknown {
  try {
    return document.toJS();
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    throw fail([{ path: "", message: aliasMessage(error.message) }]);
  }
}

function aliasMessage(message: string): string {
  const unresolved = /^Unresolved alias .*?: (.*)$/.exec(message);
  if (unresolved) return `the alias *${unresolved[1]} has no anchor &${unresolved[1]} before it`;
  if (message.startsWith("Excessive alias count")) return "the aliases (*name) expand into too many nodes; write the repeated values out";
  return message;
}
