import { ConfigError, type ConfigIssue } from "../config/config-error.js";
import { formatPath } from "../config/issues.js";
import type { WindowAlgorithm } from "../state/store.js";
import type { DescriptorSpec, DomainFile, FailureMode, RateLimitSpec, Unit, WindowSpec } from "./config-schema.js";

/** A rate-limit configuration that cannot be used: every issue, located in its file. */
export class RateLimitConfigError extends ConfigError {
  override readonly name = "RateLimitConfigError";
}

/** The units Envoy's RateLimitResponse can name; month and year only come from request overrides. */
export type LimitUnit = Unit | "month" | "year";

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
  /** The configured value: exact, or a prefix when it ends in `*`; absent for the key's default. */
  value?: string;
  rule?: Rule;
  shadowMode: boolean;
  detailedMetric: boolean;
  children: DescriptorLevel;
}

/** The descriptors of one nesting level, indexed the three ways a request entry can match them. */
export interface DescriptorLevel {
  /** By `key\0value`. */
  exact: ReadonlyMap<string, DescriptorNode>;
  /** By key: the `value*` descriptors, longest prefix first. */
  prefixes: ReadonlyMap<string, readonly { prefix: string; node: DescriptorNode }[]>;
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
  // Only for limits Envoy sends in a request; the lengths are those Envoy itself assumes.
  month: 30 * 86_400_000,
  year: 365 * 86_400_000,
};

/** Longer windows would keep counters for years; nobody means that. */
export const MAX_WINDOW_MS = 365 * 86_400_000;

export function descriptorId(key: string, value: string): string {
  return `${key}\0${value}`;
}

/**
 * Turns a validated file into the immutable domain configuration, checking what the schema
 * cannot: duplicate descriptors, wildcards, unlimited combined with a limit, windows, and that
 * every `replaces` names a limit of the domain. Throws RateLimitConfigError with every issue.
 */
export function compileDomain(file: DomainFile, source: string): DomainConfig {
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  const replaced: { name: string; path: (string | number)[] }[] = [];
  const context = { issues, names, replaced };
  const root = compileLevel(file.descriptors ?? [], ["descriptors"], context);
  for (const { name, path } of replaced) {
    if (!names.has(name)) issues.push({ path: formatPath(path), message: `replaces a limit named "${name}", but no rate_limit of this domain has that name` });
  }
  if (issues.length > 0) throw new RateLimitConfigError(source, issues);
  return { domain: file.domain, source, failureMode: file.failure_mode ?? "error", root, ruleCount: countRules(root) };
}

interface CompileContext {
  issues: ConfigIssue[];
  /** Every rate_limit name in the domain. */
  names: Set<string>;
  /** Every `replaces` entry, checked once all names are known. */
  replaced: { name: string; path: (string | number)[] }[];
}

function compileLevel(specs: readonly DescriptorSpec[], path: (string | number)[], context: CompileContext): DescriptorLevel {
  const exact = new Map<string, DescriptorNode>();
  const prefixes = new Map<string, { prefix: string; node: DescriptorNode }[]>();
  const anyValue = new Map<string, DescriptorNode>();
  const seen = new Map<string, number>();
  specs.forEach((spec, index) => {
    const here = [...path, index];
    const id = spec.value === undefined ? spec.key : descriptorId(spec.key, spec.value);
    const first = seen.get(id);
    if (first !== undefined) {
      const what = spec.value === undefined ? `key "${spec.key}" without a value` : `key "${spec.key}" with value "${spec.value}"`;
      context.issues.push({ path: formatPath(here), message: `duplicate descriptor: ${what} is already at ${formatPath([...path, first])}` });
      return;
    }
    seen.set(id, index);
    const node = compileNode(spec, here, context);
    if (spec.value === undefined) anyValue.set(spec.key, node);
    else if (spec.value.endsWith("*")) addPrefix(prefixes, spec.key, spec.value.slice(0, -1), node);
    else exact.set(id, node);
    if (spec.value?.slice(0, -1).includes("*")) {
      context.issues.push({ path: formatPath([...here, "value"]), message: "a wildcard may only end the value (value*)" });
    }
  });
  return { exact, prefixes, anyValue };
}

function addPrefix(prefixes: Map<string, { prefix: string; node: DescriptorNode }[]>, key: string, prefix: string, node: DescriptorNode): void {
  const list = prefixes.get(key) ?? [];
  list.push({ prefix, node });
  list.sort((a, b) => b.prefix.length - a.prefix.length);
  prefixes.set(key, list);
}

function compileNode(spec: DescriptorSpec, path: (string | number)[], context: CompileContext): DescriptorNode {
  const node: DescriptorNode = {
    key: spec.key,
    shadowMode: spec.shadow_mode ?? false,
    detailedMetric: spec.detailed_metric ?? false,
    children: compileLevel(spec.descriptors ?? [], [...path, "descriptors"], context),
  };
  if (spec.value !== undefined) node.value = spec.value;
  if (spec.rate_limit) {
    const rule = compileRule(spec.rate_limit, [...path, "rate_limit"], context);
    if (rule) node.rule = rule;
  }
  return node;
}

function compileRule(spec: RateLimitSpec, path: (string | number)[], context: CompileContext): Rule | undefined {
  const { issues } = context;
  if (spec.name !== undefined) context.names.add(spec.name);
  const replaces = (spec.replaces ?? []).map((entry) => entry.name);
  replaces.forEach((name, i) => {
    const at = [...path, "replaces", i, "name"];
    if (name === spec.name) issues.push({ path: formatPath(at), message: "a limit cannot replace itself" });
    else context.replaced.push({ name, path: at });
  });
  const named = { ...(spec.name === undefined ? {} : { name: spec.name }), replaces };
  if (spec.unlimited) {
    const extra = (["unit", "requests_per_unit", "unit_multiplier", "algorithm", "burst", "risk_floor"] as const).filter((k) => spec[k] !== undefined);
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
  const nodes = [...level.exact.values(), ...[...level.prefixes.values()].flat().map((p) => p.node), ...level.anyValue.values()];
  return nodes.reduce((sum, node) => sum + (node.rule ? 1 : 0) + countRules(node.children), 0);
}
