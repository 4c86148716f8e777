import { basename } from "node:path";
import { ConfigError, type ConfigIssue } from "../config/config-error.js";
import { formatPath } from "../config/issues.js";
import type { WindowAlgorithm } from "../state/store.js";
import type { DescriptorSpec, DomainFile, FailureMode, RateLimitSpec, Unit, WindowSpec } from "./config-schema.js";

/** A rate-limit configuration that cannot be used: every issue, located in its file. */
export class RateLimitConfigError extends ConfigError {
  override readonly name = "RateLimitConfigError";
}

/** The units Envoy's RateLimitResponse can name. */
export type LimitUnit = Unit;

/** One counted window of a limit. */
export interface QuotaWindow {
  /** The counter's name in the store: `limit`, or `burst` for a limit's second window. */
  role: "limit" | "burst";
  requestsPerUnit: number;
  unit: LimitUnit;
  unitMultiplier: number;
  windowMs: number;
  algorithm: WindowAlgorithm;
}

/** What a matched descriptor enforces. Immutable, like the whole configuration. */
export type Rule =
  | { kind: "limited"; name?: string; replaces: readonly string[]; windows: readonly QuotaWindow[]; riskFloor?: number }
  | { kind: "unlimited"; name?: string; replaces: readonly string[] };

export interface DescriptorNode {
  key: string;
  /** The configured value: exact, or a pattern when it holds `*`; absent for the key's default. */
  value?: string;
  rule?: Rule;
  shadowMode: boolean;
  quotaMode: boolean;
  detailedMetric: boolean;
  valueToMetric: boolean;
  /** Set for a `share_threshold` wildcard: every value it matches shares one counter, named by the pattern. */
  sharedPattern?: string;
  /** Returned to Envoy when the descriptor passes (envoyproxy/ratelimit's `metadata`). */
  metadata?: Readonly<Record<string, unknown>>;
  children: DescriptorLevel;
}

/** A `*` pattern, split once at load time. */
export interface WildcardEntry {
  pattern: string;
  /** The literal text between the stars: `a*b*c` → ["a", "b", "c"]. */
  parts: readonly string[];
  node: DescriptorNode;
}

/** The descriptors of one nesting level, indexed the three ways a request entry can match them. */
export interface DescriptorLevel {
  /** By key, then value: a request's entry finds its node without a string joined from both. */
  exact: ReadonlyMap<string, ReadonlyMap<string, DescriptorNode>>;
  /** By key: the wildcard descriptors in file order (envoyproxy/ratelimit tries them in this order). */
  wildcards: ReadonlyMap<string, readonly WildcardEntry[]>;
  /** By key: the same, most literal text first (Palisade's order: the most specific pattern wins). */
  wildcardsBySpecificity: ReadonlyMap<string, readonly WildcardEntry[]>;
  /** By key: the descriptor without a value. */
  anyValue: ReadonlyMap<string, DescriptorNode>;
}

export interface DomainConfig {
  domain: string;
  source: string;
  failureMode: FailureMode;
  root: DescriptorLevel;
  /** Descriptors that carry a rate_limit, for summaries. */
  ruleCount: number;
}

export interface RateLimitConfig {
  domains: ReadonlyMap<string, DomainConfig>;
}

export const UNIT_MS: Readonly<Record<LimitUnit, number>> = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  // The lengths envoyproxy/ratelimit and Envoy assume; windows are aligned to the Unix epoch.
  week: 7 * 86_400_000,
  month: 30 * 86_400_000,
  year: 365 * 86_400_000,
};

/** Longer windows would keep counters for years; nobody means that. */
export const MAX_WINDOW_MS = 365 * 86_400_000;

function descriptorId(key: string, value: string): string {
  return `${key}\0${value}`;
}

/** A domain file compiled on its own: `replaces` can only be checked once the whole domain is known. */
export interface CompiledDomainFile {
  config: DomainConfig;
  /** Every rate_limit name in the file. */
  names: ReadonlySet<string>;
  /** Every `replaces` entry, with where it is. */
  replaced: readonly ReplacesEntry[];
}

interface ReplacesEntry {
  name: string;
  source: string;
  path: string;
}

/**
 * Turns a validated file into the immutable domain configuration, checking what the schema
 * cannot: duplicate descriptors, wildcards, unlimited combined with a unit, windows, and that
 * every `replaces` names a limit of the domain. Throws RateLimitConfigError with every issue.
 */
export function compileDomain(file: DomainFile, source: string): DomainConfig {
  const compiled = compileDomainFile(file, source);
  const issues = unknownReplaces([compiled]).map(({ path, message }) => ({ path, message }));
  if (issues.length > 0) throw new RateLimitConfigError(source, issues);
  return compiled.config;
}

/** compileDomain without the `replaces` check, for domains that several files make up. */
export function compileDomainFile(file: DomainFile, source: string): CompiledDomainFile {
  const issues: ConfigIssue[] = [];
  const context: CompileContext = { issues, names: new Set(), replaced: [], source };
  const root = compileLevel(file.descriptors ?? [], ["descriptors"], context);
  if (issues.length > 0) throw new RateLimitConfigError(source, issues);
  const config = { domain: file.domain, source, failureMode: file.failure_mode ?? "error", root, ruleCount: countRules(root) };
  return { config, names: context.names, replaced: context.replaced };
}

/** The `replaces` entries that name no limit of their domain, as issues of the file they are in. */
export function unknownReplaces(files: readonly CompiledDomainFile[]): (ConfigIssue & { source: string })[] {
  const names = new Set(files.flatMap((file) => [...file.names]));
  return files.flatMap((file) =>
    file.replaced
      .filter(({ name }) => !names.has(name))
      .map(({ name, source, path }) => ({ source, path, message: `replaces a limit named "${name}", but no rate_limit of this domain has that name` })),
  );
}

/**
 * Adds a second file's descriptors to a domain, as envoyproxy/ratelimit does with
 * MERGE_DOMAIN_CONFIG: top-level descriptors join the domain's, and one the domain already has is
 * an error, reported in `next`'s file.
 */
export function mergeDomainFiles(first: CompiledDomainFile, next: CompiledDomainFile): CompiledDomainFile {
  const a = first.config.root;
  const b = next.config.root;
  const issues: ConfigIssue[] = [];
  const clash = (what: string) => issues.push({ path: "descriptors", message: `duplicate descriptor: ${what} is already configured in ${basename(first.config.source)}` });
  for (const [key, byValue] of b.exact) for (const value of byValue.keys()) if (a.exact.get(key)?.has(value)) clash(describeDescriptor(key, value));
  for (const key of b.anyValue.keys()) if (a.anyValue.has(key)) clash(describeDescriptor(key, undefined));
  for (const [key, entries] of b.wildcards) {
    for (const entry of entries) if (a.wildcards.get(key)?.some((known) => known.pattern === entry.pattern)) clash(describeDescriptor(key, entry.pattern));
  }
  // "error" is also what a file without failure_mode gets, so only two other modes can clash.
  const nextMode = next.config.failureMode;
  if (nextMode !== first.config.failureMode && nextMode !== "error" && first.config.failureMode !== "error") {
    issues.push({ path: "failure_mode", message: `"${nextMode}" differs from "${first.config.failureMode}" in ${basename(first.config.source)}; set it in one file of the domain` });
  }
  if (issues.length > 0) throw new RateLimitConfigError(next.config.source, issues);
  const wildcards = mergeMaps(a.wildcards, b.wildcards, (x, y) => [...x, ...y]);
  const root: DescriptorLevel = {
    exact: mergeMaps(a.exact, b.exact, (x, y) => new Map([...x, ...y])),
    wildcards,
    wildcardsBySpecificity: new Map([...wildcards].map(([key, entries]) => [key, bySpecificity(entries)])),
    anyValue: new Map([...a.anyValue, ...b.anyValue]),
  };
  const failureMode = first.config.failureMode === "error" ? nextMode : first.config.failureMode;
  return {
    config: { ...first.config, failureMode, root, ruleCount: first.config.ruleCount + next.config.ruleCount },
    names: new Set([...first.names, ...next.names]),
    replaced: [...first.replaced, ...next.replaced],
  };
}

function mergeMaps<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>, combine: (x: V, y: V) => V): Map<string, V> {
  const merged = new Map(a);
  for (const [key, value] of b) merged.set(key, merged.has(key) ? combine(merged.get(key)!, value) : value);
  return merged;
}

function describeDescriptor(key: string, value: string | undefined): string {
  return value === undefined ? `key "${key}" without a value` : `key "${key}" with value "${value}"`;
}

interface CompileContext {
  issues: ConfigIssue[];
  /** Every rate_limit name in the file. */
  names: Set<string>;
  /** Every `replaces` entry, checked once all names of the domain are known. */
  replaced: ReplacesEntry[];
  source: string;
}

function compileLevel(specs: readonly DescriptorSpec[], path: (string | number)[], context: CompileContext): DescriptorLevel {
  const exact = new Map<string, Map<string, DescriptorNode>>();
  const wildcards = new Map<string, WildcardEntry[]>();
  const anyValue = new Map<string, DescriptorNode>();
  const seen = new Map<string, number>();
  specs.forEach((spec, index) => {
    const here = [...path, index];
    const value = spec.value === "" ? undefined : spec.value;
    const id = value === undefined ? spec.key : descriptorId(spec.key, value);
    const first = seen.get(id);
    if (first !== undefined) {
      context.issues.push({ path: formatPath(here), message: `duplicate descriptor: ${describeDescriptor(spec.key, value)} is already at ${formatPath([...path, first])}` });
      return;
    }
    seen.set(id, index);
    const node = compileNode(spec, value, here, context);
    if (value === undefined) anyValue.set(spec.key, node);
    else if (value.includes("*")) wildcards.set(spec.key, [...(wildcards.get(spec.key) ?? []), { pattern: value, parts: value.split("*"), node }]);
    else exact.set(spec.key, (exact.get(spec.key) ?? new Map()).set(value, node));
  });
  const wildcardsBySpecificity = new Map([...wildcards].map(([key, entries]) => [key, bySpecificity(entries)]));
  return { exact, wildcards, wildcardsBySpecificity, anyValue };
}

/** Most literal characters first; file order among equals (a stable sort). */
function bySpecificity(entries: readonly WildcardEntry[]): WildcardEntry[] {
  const literal = (entry: WildcardEntry) => entry.pattern.length - (entry.parts.length - 1);
  return [...entries].sort((x, y) => literal(y) - literal(x));
}

function compileNode(spec: DescriptorSpec, value: string | undefined, path: (string | number)[], context: CompileContext): DescriptorNode {
  const node: DescriptorNode = {
    key: spec.key,
    shadowMode: spec.shadow_mode ?? false,
    quotaMode: spec.quota_mode ?? false,
    detailedMetric: spec.detailed_metric ?? false,
    valueToMetric: spec.value_to_metric ?? false,
    children: compileLevel(spec.descriptors ?? [], [...path, "descriptors"], context),
  };
  if (value !== undefined) node.value = value;
  if (spec.share_threshold) {
    if (value?.includes("*")) node.sharedPattern = value;
    else context.issues.push({ path: formatPath([...path, "share_threshold"]), message: "only a wildcard value (one holding *) can share its limit" });
  }
  if (spec.metadata && Object.keys(spec.metadata).length > 0) node.metadata = spec.metadata;
  if (spec.rate_limit) {
    const rule = compileRule(spec.rate_limit, [...path, "rate_limit"], context);
    if (rule) node.rule = rule;
  }
  return node;
}

function compileRule(spec: RateLimitSpec, path: (string | number)[], context: CompileContext): Rule | undefined {
  const { issues } = context;
  if (spec.name) context.names.add(spec.name);
  const replaces: string[] = [];
  (spec.replaces ?? []).forEach((entry, i) => {
    const at = formatPath([...path, "replaces", i, "name"]);
    if (!entry.name) issues.push({ path: at, message: "required: the name of the limit this one replaces" });
    else if (entry.name === spec.name) issues.push({ path: at, message: "a limit cannot replace itself" });
    else {
      replaces.push(entry.name);
      context.replaced.push({ name: entry.name, source: context.source, path: at });
    }
  });
  const named = { ...(spec.name ? { name: spec.name } : {}), replaces };
  if (spec.unlimited) {
    // envoyproxy/ratelimit ignores requests_per_unit beside unlimited, but refuses a unit.
    const extra = (["unit", "unit_multiplier", "algorithm", "burst", "risk_floor"] as const).filter((k) => spec[k] !== undefined);
    if (extra.length > 0) issues.push({ path: formatPath(path), message: `unlimited: true cannot be combined with ${extra.join(", ")}` });
    return { kind: "unlimited", ...named };
  }
  const windows = [compileWindow(spec, "limit", path, issues)];
  if (spec.burst) windows.push(compileWindow(spec.burst, "burst", [...path, "burst"], issues));
  if (windows.some((window) => window === undefined)) return undefined;
  const rule: Rule = { kind: "limited", ...named, windows: windows as QuotaWindow[] };
  if (spec.risk_floor !== undefined) rule.riskFloor = spec.risk_floor;
  return rule;
}

function compileWindow(spec: WindowSpec, role: QuotaWindow["role"], path: (string | number)[], issues: ConfigIssue[]): QuotaWindow | undefined {
  const missing = (["unit", "requests_per_unit"] as const).filter((key) => spec[key] === undefined);
  for (const key of missing) {
    const hint = role === "limit" ? " (or unlimited: true)" : "";
    issues.push({ path: formatPath([...path, key]), message: `required${hint}` });
  }
  if (spec.unit === undefined || spec.requests_per_unit === undefined) return undefined;
  const unitMultiplier = spec.unit_multiplier ?? 1;
  const windowMs = UNIT_MS[spec.unit] * unitMultiplier;
  if (windowMs > MAX_WINDOW_MS) {
    issues.push({ path: formatPath([...path, "unit_multiplier"]), message: `a window of ${unitMultiplier} ${spec.unit}s is longer than the longest allowed, 365 days` });
    return undefined;
  }
  return {
    role,
    requestsPerUnit: spec.requests_per_unit,
    unit: spec.unit,
    unitMultiplier,
    windowMs,
    algorithm: spec.algorithm === "sliding_window" ? "sliding" : "fixed",
  };
}

function countRules(level: DescriptorLevel): number {
  const nodes = [...[...level.exact.values()].flatMap((byValue) => [...byValue.values()]), ...[...level.wildcards.values()].flat().map((entry) => entry.node), ...level.anyValue.values()];
  return nodes.reduce((sum, node) => sum + (node.rule ? 1 : 0) + countRules(node.children), 0);
}
