import { createHash } from "node:crypto";
import type { Action, Scope } from "../domain/decision.js";
import { parseCidr, type CidrList } from "./cidr-lists.js";
import { compileChallenge, type CompiledChallenge } from "./challenge-schema.js";
import { compileCondition, type CompiledCondition } from "./cel.js";
import { durationMs } from "../config/duration.js";
import { ConfigError, type ConfigIssue } from "../config/config-error.js";
import { compileLimit, compileResponse, type CompiledLimit, type CompiledResponse } from "./response-schema.js";
import { defaultOutcome, type EndpointSpec, type FailMode, type FieldSource, type OutcomeSpec, type PolicyDocument } from "./schema.js";
import { compileSignals, type CompiledSignals } from "./signals.js";

/** One problem in a policy, located by its path in the document. */
export type PolicyIssue = ConfigIssue;

/** A policy that cannot be used; `issues` say where and why. */
export class PolicyError extends ConfigError {
  override readonly name = "PolicyError";
}

export interface VelocityLimit {
  windowMs: number;
  threshold: number;
  weight: number;
}

export interface CompiledEndpoint {
  name: string;
  sensitivity: EndpointSpec["sensitivity"];
  authentication: boolean;
  failMode: FailMode;
  username?: FieldSource;
  password?: FieldSource;
  session?: FieldSource;
  /** How to read a login outcome; present on authentication endpoints. */
  outcome?: OutcomeSpec;
  pageView: boolean;
  /** Index of the path segment holding the resource id, for enumeration signals. */
  resourceSegment?: number;
  velocity: Partial<Record<"ip" | "subnet" | "username", VelocityLimit>>;
  matches(method: string, path: string): boolean;
}

export interface AllowedBot {
  name: string;
  category: string;
  userAgent: RegExp;
  ranges: CidrList["ranges"];
}

export interface CompiledRule {
  id: string;
  endpoints?: ReadonlySet<string>;
  condition: CompiledCondition;
  action: Action;
  scope: Scope;
  shadow: boolean;
  retryAfterMs?: number;
  /** Adaptive limit: the rule acts only beyond it (see response/throttle.ts). */
  limit?: CompiledLimit;
}

/** An immutable, ready-to-evaluate policy. */
export interface CompiledPolicy {
  name: string;
  version: string;
  mode: "enforce" | "shadow";
  client: PolicyDocument["spec"]["client"];
  limits: PolicyDocument["spec"]["limits"];
  fingerprint: PolicyDocument["spec"]["fingerprint"];
  challenge: CompiledChallenge;
  failMode: FailMode;
  endpoints: readonly CompiledEndpoint[];
  signals: CompiledSignals;
  lists: readonly CidrList[];
  bots: { allowed: readonly AllowedBot[]; impersonationWeight: number };
  rules: readonly CompiledRule[];
  response: CompiledResponse;
  document: PolicyDocument;
  endpointFor(method: string, path: string): CompiledEndpoint | undefined;
}

/**
 * Turns a validated document into an immutable policy: CEL conditions planned, route matchers
 * built, CIDR lists parsed. `listFiles` holds the text of files the lists name (the loader reads
 * them, so compiling stays pure). Semantic problems are collected, not thrown one at a time.
 */
export function compilePolicy(
  document: PolicyDocument,
  source: string,
  listFiles: ReadonlyMap<string, string> = new Map(),
): CompiledPolicy {
  const issues: PolicyIssue[] = [];
  const spec = document.spec;
  checkUniqueNames(spec.endpoints.map((e) => e.name), "spec.endpoints", "endpoint", issues);
  checkUniqueNames(spec.rules.map((r) => r.id), "spec.rules", "rule id", issues);
  const endpoints = spec.endpoints.map((e) => compileEndpoint(e, spec.failMode));
  const endpointNames = new Set(endpoints.map((e) => e.name));
  const rules = spec.rules.flatMap((rule, index) => {
    const path = `spec.rules[${index}]`;
    for (const name of rule.endpoints ?? []) {
      if (!endpointNames.has(name)) issues.push({ path: `${path}.endpoints`, message: `no endpoint named "${name}"` });
    }
    try {
      return [
        {
          id: rule.id,
          endpoints: rule.endpoints ? new Set(rule.endpoints) : undefined,
          condition: compileCondition(rule.when),
          action: rule.action,
          scope: rule.scope,
          shadow: rule.shadow,
          retryAfterMs: rule.retryAfter ? durationMs(rule.retryAfter) : undefined,
          limit: rule.limit && compileLimit(rule.limit),
        } satisfies CompiledRule,
      ];
    } catch (error) {
      issues.push({ path: `${path}.when`, message: `invalid CEL: ${(error as Error).message}` });
      return [];
    }
  });
  const lists = spec.reputation.lists.map((list, index) => {
    const path = `spec.reputation.lists[${index}]`;
    const texts = [
      ...list.cidrs.map((text, i) => ({ text, where: `${path}.cidrs[${i}]` })),
      ...list.files.flatMap((file, i) => fileEntries(file, listFiles, `${path}.files[${i}]`, issues)),
    ];
    const ranges = texts.flatMap(({ text, where }) => {
      const range = parseCidr(text);
      if (!range) issues.push({ path: where, message: `not an IP address or CIDR range: "${text}"` });
      return range ? [range] : [];
    });
    return { name: list.name, effect: list.effect, weight: list.weight, ranges } satisfies CidrList;
  });
  const bots = spec.bots.allowed.flatMap((bot, index) => compileBot(bot, `spec.bots.allowed[${index}]`, issues));
  spec.endpoints.forEach((endpoint, index) => {
    if (endpoint.resource && resourceSegmentOf(endpoint) === undefined) {
      issues.push({ path: `spec.endpoints[${index}].resource.param`, message: `the path has no {${endpoint.resource.param}} segment` });
    }
  });
  if (issues.length > 0) throw new PolicyError(source, issues);
  return Object.freeze({
    name: document.metadata.name,
    version: document.metadata.version ?? contentVersion(document),
    mode: spec.mode,
    client: spec.client,
    limits: spec.limits,
    fingerprint: spec.fingerprint,
    challenge: compileChallenge(spec.challenge),
    failMode: spec.failMode,
    endpoints,
    signals: compileSignals(spec.signals),
    lists,
    bots: { allowed: bots, impersonationWeight: spec.bots.impersonationWeight },
    rules,
    response: compileResponse(spec.response),
    document,
    endpointFor: (method: string, path: string) => endpoints.find((e) => e.matches(method, path)),
  });
}

function compileEndpoint(spec: EndpointSpec, defaultFailMode: FailMode): CompiledEndpoint {
  const methods = spec.match.methods ? new Set(spec.match.methods) : undefined;
  const pathMatches = spec.match.path !== undefined ? templateMatcher(spec.match.path) : prefixMatcher(spec.match.pathPrefix!);
  const velocity: CompiledEndpoint["velocity"] = {};
  for (const scope of ["ip", "subnet", "username"] as const) {
    const limit = spec.velocity[scope];
    if (limit) velocity[scope] = { windowMs: durationMs(limit.window), threshold: limit.threshold, weight: limit.weight };
  }
  return {
    name: spec.name,
    sensitivity: spec.sensitivity,
    authentication: spec.authentication,
    failMode: spec.failMode ?? defaultFailMode,
    username: spec.identity.username,
    password: spec.identity.password,
    session: spec.identity.session,
    outcome: spec.authentication ? (spec.outcome ?? defaultOutcome()) : undefined,
    pageView: spec.pageView,
    resourceSegment: resourceSegmentOf(spec),
    velocity,
    matches: (method, path) => (!methods || methods.has(method)) && pathMatches(path),
  };
}

function resourceSegmentOf(spec: EndpointSpec): number | undefined {
  if (!spec.resource || spec.match.path === undefined) return undefined;
  const index = spec.match.path.split("/").indexOf(`{${spec.resource.param}}`);
  return index >= 0 ? index : undefined;
}

function compileBot(bot: PolicyDocument["spec"]["bots"]["allowed"][number], path: string, issues: PolicyIssue[]): AllowedBot[] {
  let userAgent: RegExp;
  try {
    userAgent = new RegExp(bot.userAgent);
  } catch (error) {
    issues.push({ path: `${path}.userAgent`, message: `invalid regular expression: ${(error as Error).message}` });
    return [];
  }
  const ranges = bot.cidrs.flatMap((text, i) => {
    const range = parseCidr(text);
    if (!range) issues.push({ path: `${path}.cidrs[${i}]`, message: `not an IP address or CIDR range: "${text}"` });
    return range ? [range] : [];
  });
  return [{ name: bot.name, category: bot.category, userAgent, ranges }];
}

/** `/api/v1/products/{id}` matches exactly one non-empty segment where `{id}` stands. */
function templateMatcher(template: string): (path: string) => boolean {
  const segments = template.split("/");
  return (path) => {
    const actual = path.split("/");
    return (
      actual.length === segments.length &&
      segments.every((segment, i) => (/^\{[^}]*\}$/.test(segment) ? actual[i] !== "" : segment === actual[i]))
    );
  };
}

function prefixMatcher(prefix: string): (path: string) => boolean {
  return (path) => path.startsWith(prefix);
}

function fileEntries(file: string, listFiles: ReadonlyMap<string, string>, where: string, issues: PolicyIssue[]) {
  const text = listFiles.get(file);
  if (text === undefined) {
    issues.push({ path: where, message: `cannot read list file "${file}"` });
    return [];
  }
  return text
    .split(/\r?\n/)
    .map((line, i) => ({ text: line.replace(/#.*$/, "").trim(), where: `${where} line ${i + 1}` }))
    .filter((entry) => entry.text !== "");
}

function checkUniqueNames(names: string[], path: string, what: string, issues: PolicyIssue[]): void {
  const seen = new Set<string>();
  names.forEach((name, index) => {
    if (seen.has(name)) issues.push({ path: `${path}[${index}]`, message: `duplicate ${what} "${name}"` });
    seen.add(name);
  });
}

/** A short, stable version for documents that do not name one: the same content, the same version. */
function contentVersion(document: PolicyDocument): string {
  return `sha256:${createHash("sha256").update(JSON.stringify(document)).digest("hex").slice(0, 12)}`;
}
