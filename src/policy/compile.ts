import { createHash } from "node:crypto";
import type ipaddr from "ipaddr.js";
import type { Action, Scope } from "../domain/decision.js";
import { parseCidr, type CidrList, type FeedSource } from "./cidr-lists.js";
import { RangeSet } from "./range-set.js";
import { compileChallenge, type CompiledChallenge } from "./challenge-schema.js";
import { compileCondition, ConditionCostError, type CompiledCondition, type PlannedCondition } from "./cel.js";
import { durationMs } from "../config/duration.js";
import { ConfigError, type ConfigIssue } from "../config/config-error.js";
import { compileLimit, compileResponse, type CompiledLimit, type CompiledResponse } from "./response-schema.js";
import { defaultOutcome, type EndpointSpec, type FailMode, type FieldSource, type OutcomeSpec, type PolicyDocument } from "./schema.js";
import { compileProbing } from "./probes.js";
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
  /** A sign-up endpoint: a successful registration teaches the account's history, as a sign-in does. */
  registration: boolean;
  failMode: FailMode;
  username?: FieldSource;
  password?: FieldSource;
  session?: FieldSource;
  /** How to read a login's or registration's outcome; present on authentication and registration endpoints. */
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
  ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][];
  /** Published range files, loaded by the service under the name botFeedKey(name). */
  feeds: readonly FeedSource[];
}

/** The name a bot's feeds are loaded under: a colon never appears in a list name. */
export const botFeedKey = (name: string) => `bot:${name}`;

export interface CompiledRule {
  id: string;
  endpoints?: ReadonlySet<string>;
  condition: CompiledCondition;
  /** Estimated evaluation cost of the condition (cel-cost.ts). */
  cost: number;
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
  /** The class of every request no endpoint matches ("every request is seen"). */
  defaultEndpoint: CompiledEndpoint;
  /** Write velocity per client and path shape on the default class; absent, off. */
  defaultWrites?: CompiledWrites;
  signals: CompiledSignals;
  lists: readonly CidrList[];
  bots: { allowed: readonly AllowedBot[]; impersonationWeight: number };
  rules: readonly CompiledRule[];
  /** Sum of the rules' estimated costs: the most one Check can spend on conditions. */
  ruleCost: number;
  response: CompiledResponse;
  /** What loads but probably does not do what its author meant; logged at load and by `policy lint`. */
  warnings: readonly PolicyIssue[];
  document: PolicyDocument;
  endpointFor(method: string, path: string): CompiledEndpoint | undefined;
}

/** What all rules of a policy may cost together (cel.ts has the per-rule budget). */
export const POLICY_COST_BUDGET = 1_000_000;
/** More rules than this are refused: each one is evaluated on every Check of its endpoints. */
export const MAX_RULES = 500;

/**
 * Turns a validated document into an immutable policy: CEL conditions planned, route matchers
 * built, CIDR lists parsed. `listFiles` holds the text of files the lists name (the loader reads
 * them, so compiling stays pure). Semantic problems are collected, not thrown one at a time.
 * `planned` holds conditions already compiled (by planConditionsInSlices), keyed by source.
 */
export function compilePolicy(
  document: PolicyDocument,
  source: string,
  listFiles: ReadonlyMap<string, string> = new Map(),
  planned: ReadonlyMap<string, PlannedCondition> = new Map(),
): CompiledPolicy {
  const issues: PolicyIssue[] = [];
  const spec = document.spec;
  checkUniqueNames(spec.endpoints.map((e) => e.name), "spec.endpoints", "endpoint", issues);
  checkUniqueNames(spec.rules.map((r) => r.id), "spec.rules", "rule id", issues);
  const endpoints = spec.endpoints.map((e) => compileEndpoint(e, spec.failMode));
  if (spec.rules.length > MAX_RULES) {
    // Compiling them first would be the stall this limit prevents: report and compile none.
    throw new PolicyError(source, [{ path: "spec.rules", message: `too expensive: ${spec.rules.length} rules; at most ${MAX_RULES}` }]);
  }
  const defaultEndpoint = compileDefaultEndpoint(spec.defaultEndpoint, spec.failMode);
  if (endpoints.some((e) => e.name === defaultEndpoint.name)) {
    issues.push({ path: "spec.defaultEndpoint.name", message: `"${defaultEndpoint.name}" is also the name of a declared endpoint` });
  }
  const endpointNames = new Set([...endpoints.map((e) => e.name), defaultEndpoint.name]);
  const rules: CompiledRule[] = spec.rules.flatMap((rule, index) => {
    const path = `spec.rules[${index}]`;
    for (const name of rule.endpoints ?? []) {
      if (!endpointNames.has(name)) issues.push({ path: `${path}.endpoints`, message: `no endpoint named "${name}"` });
    }
    try {
      const { evaluate, cost } = planned.get(rule.when) ?? compileCondition(rule.when);
      return [
        {
          id: rule.id,
          endpoints: rule.endpoints ? new Set(rule.endpoints) : undefined,
          condition: evaluate,
          cost,
          action: rule.action,
          scope: rule.scope,
          shadow: rule.shadow,
          retryAfterMs: rule.retryAfter ? durationMs(rule.retryAfter) : undefined,
          limit: rule.limit && compileLimit(rule.limit),
        } satisfies CompiledRule,
      ];
    } catch (error) {
      const message = error instanceof ConditionCostError ? `too expensive: ${error.message}` : `invalid CEL: ${(error as Error).message}`;
      issues.push({ path: `${path}.when`, message });
      return [];
    }
  });
  const ruleCost = rules.reduce((total, rule) => total + rule.cost, 0);
  if (ruleCost > POLICY_COST_BUDGET) {
    issues.push({ path: "spec.rules", message: `too expensive: estimated cost ${ruleCost} of all rules exceeds the policy budget of ${POLICY_COST_BUDGET}` });
  }
  const lists = spec.reputation.lists.map((list, index) => {
    const path = `spec.reputation.lists[${index}]`;
    const builder = RangeSet.builder();
    const add = (text: string, where: string, quote: boolean) => {
      // A list file's line is never quoted: whatever file it is, its content stays out of errors.
      if (!builder.addText(text)) issues.push({ path: where, message: quote ? `not an IP address or CIDR range: ${quoted(text)}` : "not an IP address or CIDR range" });
    };
    list.cidrs.forEach((text, i) => add(text.trim(), `${path}.cidrs[${i}]`, true));
    list.files.forEach((file, i) => forEachFileEntry(file, listFiles, `${path}.files[${i}]`, issues, (text, where) => add(text, where, false)));
    const feeds = compileFeeds(list.feeds, path, issues);
    return { name: list.name, effect: list.effect, weight: list.weight, set: builder.build(), entries: builder.count, feeds } satisfies CidrList;
  });
  checkUniqueNames(spec.reputation.lists.map((l) => l.name), "spec.reputation.lists", "list name", issues);
  const travel = spec.signals.geo?.impossibleTravel;
  if (travel && travel.action !== "none") rules.push(impossibleTravelRule(travel.action));
  const probing = compileProbing(spec.signals.probing, listFiles, issues);
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
    defaultEndpoint,
    defaultWrites: compileWrites(spec.defaultEndpoint.writes),
    signals: compileSignals(spec.signals, probing),
    lists,
    bots: { allowed: bots, impersonationWeight: spec.bots.impersonationWeight },
    rules,
    ruleCost,
    response: compileResponse(spec.response),
    warnings: unmarkedRegistrations(spec.endpoints),
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
    registration: spec.registration,
    failMode: spec.failMode ?? defaultFailMode,
    username: spec.identity.username,
    password: spec.identity.password,
    session: spec.identity.session,
    outcome: spec.authentication || spec.registration ? (spec.outcome ?? defaultOutcome()) : undefined,
    pageView: spec.pageView,
    resourceSegment: resourceSegmentOf(spec),
    velocity,
    matches: (method, path) => (!methods || methods.has(method)) && pathMatches(path),
  };
}

/**
 * A registration endpoint without `outcome.createdHeader` loads but teaches nothing: many sites
 * answer a sign-up for an address that has an account as they answer a new one, so a success
 * status cannot tell who created the account. A warning rather than an error: a policy written
 * before the marker existed keeps loading (and its endpoint its velocity limits) on upgrade.
 */
function unmarkedRegistrations(endpoints: readonly EndpointSpec[]): PolicyIssue[] {
  return endpoints.flatMap((endpoint, index) =>
    endpoint.registration && !endpoint.outcome?.createdHeader
      ? [{ path: `spec.endpoints[${index}].outcome.createdHeader`, message: "absent: this registration endpoint teaches no account history (give the response header the application sets only when it created the account)" }]
      : [],
  );
}

/** Matches nothing by itself: the pipeline hands it every request no declared endpoint matched. */
function compileDefaultEndpoint(spec: PolicyDocument["spec"]["defaultEndpoint"], defaultFailMode: FailMode): CompiledEndpoint {
  return compileEndpoint(
    { name: spec.name, match: { pathPrefix: "/" }, sensitivity: spec.sensitivity, authentication: false, registration: false, failMode: spec.failMode, identity: {}, pageView: false, velocity: spec.velocity },
    defaultFailMode,
  );
}

export interface CompiledWrites {
  burst?: VelocityLimit;
  hourly?: VelocityLimit;
  address?: VelocityLimit;
}

function compileWrites(spec: PolicyDocument["spec"]["defaultEndpoint"]["writes"]): CompiledWrites | undefined {
  if (!spec || (!spec.burst && !spec.hourly && !spec.address)) return undefined;
  const limit = (given: typeof spec.burst): VelocityLimit | undefined => given && { windowMs: durationMs(given.window), threshold: given.threshold, weight: given.weight };
  return { burst: limit(spec.burst), hourly: limit(spec.hourly), address: limit(spec.address) };
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
  return [{ name: bot.name, category: bot.category, userAgent, ranges, feeds: compileFeeds(bot.feeds, path, issues) }];
}

function compileFeeds(feeds: PolicyDocument["spec"]["reputation"]["lists"][number]["feeds"], path: string, issues: PolicyIssue[]): FeedSource[] {
  return feeds.map((feed, i) => {
    if (feed.format !== "csv" && feed.column !== undefined) issues.push({ path: `${path}.feeds[${i}].column`, message: "column applies to the csv format only" });
    return { source: feed.source, format: feed.format, column: feed.column, refreshMs: durationMs(feed.refresh) };
  });
}

/**
 * `/api/v1/products/{id}` matches exactly one non-empty segment where `{id}` stands. Every Check
 * asks each endpoint in turn: the template is read once (placeholders as null) and the path is
 * walked in place, not split into an array and each segment tested against a pattern.
 */
function templateMatcher(template: string): (path: string) => boolean {
  const segments = template.split("/").map((segment) => (/^\{[^}]*\}$/.test(segment) ? null : segment));
  const last = segments.length - 1;
  return (path) => {
    let start = 0;
    for (let i = 0; i <= last; i++) {
      const slash = path.indexOf("/", start);
      if ((slash < 0) !== (i === last)) return false; // fewer or more segments than the template
      const end = slash < 0 ? path.length : slash;
      const literal = segments[i] as string | null;
      if (literal === null ? end === start : end - start !== literal.length || !path.startsWith(literal, start)) return false;
      start = end + 1;
    }
    return true;
  };
}

function prefixMatcher(prefix: string): (path: string) => boolean {
  return (path) => path.startsWith(prefix);
}

/** Each non-blank line of a list file, comments (`#`) removed, without building an array of lines. */
function forEachFileEntry(
  file: string,
  listFiles: ReadonlyMap<string, string>,
  where: string,
  issues: PolicyIssue[],
  visit: (text: string, where: string) => void,
): void {
  const text = listFiles.get(file);
  if (text === undefined) {
    issues.push({ path: where, message: `cannot read list file "${file}"` });
    return;
  }
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    let entry = text.slice(start, end);
    start = end + 1;
    const hash = entry.indexOf("#");
    if (hash >= 0) entry = entry.slice(0, hash);
    entry = entry.trim();
    if (entry !== "") visit(entry, `${where} line ${line}`);
  }
}

/** The rule `signals.geo.impossibleTravel.action` stands for; its id cannot clash (rule ids have no colon). */
export const IMPOSSIBLE_TRAVEL_RULE = "geo:impossible-travel";

function impossibleTravelRule(action: Action): CompiledRule {
  const { evaluate, cost } = compileCondition('"account.impossible_travel" in reasons');
  return {
    id: IMPOSSIBLE_TRAVEL_RULE,
    endpoints: undefined,
    condition: evaluate,
    cost,
    action,
    scope: "username",
    shadow: false,
  };
}

/** Policy text quoted in a message, cut short: a message stays one readable line. */
function quoted(text: string): string {
  const limit = 64;
  return JSON.stringify(text.length > limit ? `${text.slice(0, limit)}…` : text);
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
