import { UNIT_MS, type DomainConfig, type QuotaWindow, type Rule } from "./config.js";
import { entriesStatsKey, matchDescriptor, type WildcardOrder } from "./match.js";
import { MAX_HITS, type DescriptorEntry, type LimitOverride, type RateLimitDescriptor } from "./request.js";
import { parseRisk, RISK_ENTRY_KEY, riskScaledLimit } from "./risk.js";

/** How statistics name a descriptor (see Match). */
export interface StatsKeys {
  statsKey: string;
  rollupStatsKey: string;
}

/** A window with the limit that applies to this request (after risk scaling). */
export interface PlannedWindow {
  window: QuotaWindow;
  limit: number;
  /** With the plan's entity, identifies the counter in the local over-limit cache. */
  counterSuffix: string;
}

/** What one request descriptor will be checked against, before anything is counted. */
export type Plan =
  | { kind: "none" }
  | ({ kind: "unlimited"; hits: number; ruleName?: string; replaces: readonly string[] } & StatsKeys)
  | ({
      kind: "limited";
      hits: number;
      ruleName?: string;
      replaces: readonly string[];
      shadowMode: boolean;
      /** envoyproxy's quota_mode: over it, the request is denied only when all its quota descriptors are over. */
      quotaMode: boolean;
      /** Returned to Envoy when the descriptor passes. */
      metadata?: Readonly<Record<string, unknown>>;
      /** The store entity of the descriptor's counters: a hash, so any value gives a bounded key. */
      entity: string;
      windows: PlannedWindow[];
      risk?: number;
    } & StatsKeys);

/**
 * Turns what identifies a counter (domain and entries, which may hold IPs, user names, API keys)
 * into its store entity: a keyed pseudonym, so raw identifiers never reach the store and any
 * value, however long, gives a bounded key.
 */
export type CounterPseudonymiser = (identity: string) => string;

/** Resolves one request descriptor against its domain: match, cost, risk, counters. */
export function planDescriptor(
  domain: DomainConfig,
  descriptor: RateLimitDescriptor,
  requestHits: number,
  pseudonymise: CounterPseudonymiser,
  order: WildcardOrder = "specific",
): Plan {
  // Without a risk entry (the usual case) the request's entries as they are, and no object around them.
  let entries = descriptor.entries;
  let risk: number | undefined;
  if (hasRisk(entries)) ({ entries, risk } = splitRisk(entries));
  const match = matchDescriptor(domain.root, entries, order);
  const rule = descriptor.limit ? overrideRule(descriptor.limit) : match?.node.rule;
  if (!rule) return { kind: "none" };
  const statsKey = match ? match.statsKey : entriesStatsKey(entries);
  const rollupStatsKey = match ? match.rollupStatsKey : statsKey;
  const hits = hitsOf(descriptor, requestHits);
  if (rule.kind === "unlimited") {
    return rule.name === undefined
      ? { kind: "unlimited", hits, replaces: rule.replaces, statsKey, rollupStatsKey }
      : { kind: "unlimited", hits, ruleName: rule.name, replaces: rule.replaces, statsKey, rollupStatsKey };
  }
  // share_threshold: every value a shared wildcard matches counts as the pattern itself.
  const counted = match?.sharedPatterns ? entries.map((entry, i) => ({ key: entry.key, value: match.sharedPatterns![i] ?? entry.value })) : entries;
  const entity = counterEntity(domain.domain, counted, pseudonymise);
  const windows: PlannedWindow[] = [];
  for (const window of rule.windows) {
    const limit = rule.riskFloor === undefined || risk === undefined ? window.requestsPerUnit : riskScaledLimit(window.requestsPerUnit, rule.riskFloor, risk);
    // An override's window is made for this request: nothing to remember it by.
    windows.push({ window, limit, counterSuffix: descriptor.limit ? suffixOf(window) : counterSuffix(window) });
  }
  // Envoy's own limits never run in shadow or quota mode, as in envoyproxy/ratelimit.
  const node = descriptor.limit ? undefined : match?.node;
  const plan: Plan = {
    kind: "limited",
    hits,
    replaces: rule.replaces,
    shadowMode: node?.shadowMode ?? false,
    quotaMode: node?.quotaMode ?? false,
    entity,
    windows,
    statsKey,
    rollupStatsKey,
  };
  if (rule.name !== undefined) plan.ruleName = rule.name;
  if (node?.metadata) plan.metadata = node.metadata;
  if (risk !== undefined) plan.risk = risk;
  return plan;
}

/**
 * What names a window's counter beside the entity in the over-limit cache: the same for every
 * request a configured window applies to, so built once per window of a loaded configuration.
 */
const COUNTER_SUFFIXES = new WeakMap<QuotaWindow, string>();

function counterSuffix(window: QuotaWindow): string {
  let suffix = COUNTER_SUFFIXES.get(window);
  if (suffix === undefined) {
    suffix = suffixOf(window);
    COUNTER_SUFFIXES.set(window, suffix);
  }
  return suffix;
}

function suffixOf(window: QuotaWindow): string {
  return `/${window.role}/${window.windowMs}/${window.algorithm}`;
}

/**
 * envoyproxy/ratelimit's `replaces`: a limit named in the `replaces` of another limit that
 * applies to the same request does not apply (and counts nothing).
 */
export function applyReplaces(plans: Plan[]): Plan[] {
  if (!anyReplaces(plans)) return plans; // the usual case: nothing to build
  const replaced = new Set(plans.flatMap((plan) => (plan.kind === "none" ? [] : plan.replaces)));
  return plans.map((plan) => (plan.kind !== "none" && plan.ruleName !== undefined && replaced.has(plan.ruleName) ? { kind: "none" } : plan));
}

function anyReplaces(plans: readonly Plan[]): boolean {
  for (const plan of plans) if (plan.kind !== "none" && plan.replaces.length > 0) return true;
  return false;
}

function splitRisk(all: DescriptorEntry[]): { entries: DescriptorEntry[]; risk?: number } {
  const entries = all.filter((entry) => entry.key !== RISK_ENTRY_KEY);
  const risks = all.filter((entry) => entry.key === RISK_ENTRY_KEY).map((entry) => parseRisk(entry.value));
  const known = risks.filter((risk): risk is number => risk !== undefined);
  return known.length === 0 ? { entries } : { entries, risk: Math.max(...known) };
}

function hasRisk(entries: readonly DescriptorEntry[]): boolean {
  for (const entry of entries) if (entry.key === RISK_ENTRY_KEY) return true;
  return false;
}

function overrideRule(limit: LimitOverride): Rule {
  const window: QuotaWindow = {
    role: "limit",
    requestsPerUnit: limit.requestsPerUnit,
    unit: limit.unit,
    unitMultiplier: 1,
    windowMs: UNIT_MS[limit.unit],
    algorithm: "fixed",
  };
  return { kind: "limited", replaces: [], windows: [window] };
}

/**
 * The descriptor's own cost when Envoy set one (0: check without counting), else the request's
 * (0 means 1). Anything that is not a whole number of hits counts as 1; more than MAX_HITS as
 * MAX_HITS, which exceeds every limit.
 */
function hitsOf(descriptor: RateLimitDescriptor, requestHits: number): number {
  const raw = descriptor.hits ?? (requestHits === 0 ? 1 : requestHits);
  if (!Number.isFinite(raw) || raw < 0) return 1;
  return Math.min(Math.floor(raw), MAX_HITS);
}

/**
 * Counters are identified by the domain and every entry the request sent (values included even
 * where the configuration matched by key alone: each value has its own counter).
 */
function identityOf(domain: string, entries: readonly DescriptorEntry[]): string {
  const parts = [domain];
  for (const entry of entries) parts.push(entry.key, entry.value);
  return JSON.stringify(parts);
}

/**
 * A descriptor tuple's counter names, remembered per pseudonymiser: its identity string (the
 * same object each time, so the pseudonymiser's cache finds it by a hash V8 keeps) and the entity
 * of the pseudonym last given for it, rebuilt only when the pseudonym changes (a key rotation).
 * Found through nested Maps (domain, then each entry's key and value), so a request joins and
 * copies no string to name its counters.
 */
interface CounterNames {
  identity: string;
  pseudonym: string;
  entity: string;
}
interface TupleNode {
  names?: CounterNames;
  next?: Map<string, Map<string, TupleNode>>;
}
interface TupleMemo {
  domains: Map<string, TupleNode>;
  nodes: number;
}

/** Nodes one pseudonymiser's memo holds before it starts afresh: some 10 MB of tuples. */
export const MAX_TUPLE_NODES = 50_000;
/** Longer values (clients choose them) are named afresh each time and never remembered. */
export const MAX_REMEMBERED_VALUE = 256;

const TUPLE_MEMOS = new WeakMap<CounterPseudonymiser, TupleMemo>();

function counterEntity(domain: string, entries: readonly DescriptorEntry[], pseudonymise: CounterPseudonymiser): string {
  const names = rememberedNames(domain, entries, pseudonymise);
  if (names === undefined) return `rl.${pseudonymise(identityOf(domain, entries))}`;
  const pseudonym = pseudonymise(names.identity);
  if (pseudonym !== names.pseudonym) {
    names.pseudonym = pseudonym;
    names.entity = `rl.${pseudonym}`;
  }
  return names.entity;
}

/** The tuple's remembered names, made on its first request; undefined for a value too long to keep. */
function rememberedNames(domain: string, entries: readonly DescriptorEntry[], pseudonymise: CounterPseudonymiser): CounterNames | undefined {
  for (const entry of entries) if (entry.value.length > MAX_REMEMBERED_VALUE || entry.key.length > MAX_REMEMBERED_VALUE) return undefined;
  let memo = TUPLE_MEMOS.get(pseudonymise);
  if (memo === undefined || memo.nodes + entries.length + 1 > MAX_TUPLE_NODES) TUPLE_MEMOS.set(pseudonymise, (memo = { domains: new Map(), nodes: 0 }));
  let node = memo.domains.get(domain);
  if (node === undefined) {
    memo.domains.set(domain, (node = {}));
    memo.nodes++;
  }
  for (const { key, value } of entries) {
    const next: Map<string, Map<string, TupleNode>> = (node.next ??= new Map());
    let byValue = next.get(key);
    if (byValue === undefined) next.set(key, (byValue = new Map()));
    let child: TupleNode | undefined = byValue.get(value);
    if (child === undefined) {
      byValue.set(value, (child = {}));
      memo.nodes++;
    }
    node = child;
  }
  return (node.names ??= { identity: identityOf(domain, entries), pseudonym: "", entity: "" });
}
