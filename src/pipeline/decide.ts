import type { Standing } from "../detection/standing.js";
import type { Signal } from "../detection/signal.js";
import { SharedActivation, type RuleActivation } from "../policy/cel.js";
import type { CompiledEndpoint, CompiledPolicy, CompiledRule } from "../policy/compile.js";
import { judgeLimit, type LimitVerdict } from "../response/throttle.js";
import { narrowedScope } from "./narrow-scope.js";
import { actionWeight, type Decision, type Reason } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";

export interface DecideInput {
  policy: CompiledPolicy;
  request: NormalisedRequest;
  endpoint: CompiledEndpoint | undefined;
  signals: Signal[];
  /** A deny-list, allow-list or allowed bot: it decides before any rule. */
  standing: Standing | undefined;
  /** Some state came from local fallback (or none could be read). */
  degraded: boolean;
  onRuleError?: (ruleId: string) => void;
  /**
   * Wall-clock budget of rule evaluation for this Check. Past it the remaining rules are not
   * evaluated (they count as not matching), the decision carries `policy.evaluation_budget`
   * and `onBudgetExceeded` is told. Costs are bounded at load; this catches what the estimate
   * missed, and keeps a Check inside Envoy's timeout either way.
   */
  ruleBudget?: { now: () => number; ms: number; onBudgetExceeded?: () => void };
}

type DecisionDraft = Omit<Decision, "decisionId" | "policyVersion" | "endpoint" | "subject" | "eventTimeMs">;

export interface DecideResult {
  decision: DecisionDraft;
  /** The endpoint fails with an error when state is unavailable: no decision may be given. */
  unavailable: boolean;
}

/** How long a fail-closed client is asked to wait: the store is usually back within seconds. */
const FAIL_CLOSED_RETRY_SECONDS = 1;

/** Scores the signals and lets the rules choose an action. Pure: same input, same result. */
export function decide(input: DecideInput): DecideResult {
  const { policy, signals, standing, degraded } = input;
  // One pass, summed in the same order as before (a fold from 0 over the fired signals).
  const reasons: Reason[] = [];
  let weights = 0;
  for (let i = 0; i < signals.length; i++) {
    const signal = signals[i]!;
    if (!signal.fired) continue;
    reasons.push(toReason(signal));
    weights += signal.weight;
  }
  const risk = Math.min(100, weights);
  if (standing) return { decision: draft(risk, reasons, degraded, [], standing.effect, standing.rule, "ip"), unavailable: false };
  const failMode = input.endpoint?.failMode ?? policy.failMode;
  if (degraded && failMode === "error") return { decision: draft(risk, reasons, degraded, [], "allow"), unavailable: true };
  if (degraded && failMode === "closed") {
    const failed = [...reasons, { code: "store.unavailable", value: 1, weight: 0 }];
    return { decision: draft(risk, failed, degraded, [], "throttle", "fail-closed", undefined, FAIL_CLOSED_RETRY_SECONDS), unavailable: false };
  }
  const { chosen, sessionQuarantine, shadowed, adaptive, skipped } = applyRules(input, reasons, risk);
  const evaluated = skipped > 0 ? [...reasons, { code: "policy.evaluation_budget", value: skipped, weight: 0 }] : reasons;
  if (!chosen) return { decision: draft(risk, evaluated, degraded, shadowed, "allow"), unavailable: false };
  if (adaptive) {
    const limited = [...evaluated, adaptive.reason];
    const rateLimit = chosen.action === "throttle" ? adaptive.rateLimit : undefined;
    return { decision: draft(risk, limited, degraded, shadowed, chosen.action, chosen.id, chosen.scope, adaptive.rateLimit.resetSeconds, rateLimit), unavailable: false };
  }
  const narrowed = narrowedScope(chosen, evaluated, input.request.sessionId !== undefined);
  // A matching rule that already quarantines the session answers with its own duration.
  const acting = (narrowed && sessionQuarantine) || chosen;
  const limit = acting.action === "throttle" ? tightestLimit(signals) : undefined;
  const retryAfterSeconds = retryAfter(acting, limit);
  const rateLimit = limit && {
    limit: limit.threshold ?? 0,
    remaining: 0,
    resetSeconds: retryAfterSeconds ?? 0,
    windowSeconds: Math.ceil((limit.windowMs ?? 0) / 1000),
  };
  const given = narrowed ? [...evaluated, narrowed.reason] : evaluated;
  return { decision: draft(risk, given, degraded, shadowed, acting.action, acting.id, narrowed?.scope ?? acting.scope, retryAfterSeconds, rateLimit), unavailable: false };
}

/**
 * Every draft in one object shape, its keys in the order the decision's JSON has always had
 * (absent ones undefined, which JSON leaves out). The literals that spread a shared `base` and
 * then set the path's own keys gave every path a shape of its own, and on Node 20 each key set
 * after a spread costs about a microsecond (bench/spread-cost.ts; pipeline.ts copies the draft
 * into the decision in this order too).
 */
function draft(
  risk: number,
  reasons: Reason[],
  degraded: boolean,
  shadowed: DecisionDraft["shadowed"],
  action: DecisionDraft["action"],
  rule?: string,
  scope?: DecisionDraft["scope"],
  retryAfterSeconds?: number,
  rateLimit?: DecisionDraft["rateLimit"],
): DecisionDraft {
  return { risk, reasons, degraded, shadowed, action, rule, scope, retryAfterSeconds, rateLimit };
}

function toReason(signal: Signal): Reason {
  return {
    code: signal.code,
    value: signal.value,
    threshold: signal.threshold,
    weight: signal.weight,
    detail: signal.detail,
  };
}

/**
 * Every rule for this endpoint is evaluated (rules of other endpoints never are); among those that match and enforce, the heaviest
 * action wins (the first declared on a tie), so the order of rules never weakens a response.
 * Shadow rules (or a policy in shadow mode) are recorded as "would have" and do not act.
 * A rule with an adaptive limit matches only beyond the limit for this risk (response/throttle.ts).
 */
function applyRules(input: DecideInput, reasons: Reason[], risk: number) {
  // Built on the first rule that applies to this endpoint: a request no rule concerns (often
  // half of all traffic, static assets) pays nothing for it.
  let activation: SharedActivation | undefined;
  let chosen: CompiledRule | undefined;
  // The first enforced rule that quarantines the session: a narrowed address quarantine takes its duration.
  let sessionQuarantine: CompiledRule | undefined;
  let adaptive: LimitVerdict | undefined;
  const shadowed: Decision["shadowed"] = [];
  const budget = input.ruleBudget;
  const deadline = budget ? budget.now() + budget.ms : Infinity;
  const rules = input.policy.rules;
  const applicable = applicableRules(input.policy, input.endpoint);
  for (let at = 0; at < applicable.length; at++) {
    const index = applicable[at]!;
    const rule = rules[index]!;
    if (budget && budget.now() > deadline) {
      budget.onBudgetExceeded?.();
      return { chosen, sessionQuarantine, shadowed, adaptive, skipped: rules.length - index };
    }
    const outcome = rule.condition((activation ??= activationFor(input, reasons, risk)));
    if (outcome === "error") input.onRuleError?.(rule.id);
    if (outcome !== "match") continue;
    const limit = rule.limit ? judgeLimit(rule, input.signals, risk) : undefined;
    if (rule.limit && !limit?.over) continue;
    if (rule.shadow || input.policy.mode === "shadow") shadowed.push({ rule: rule.id, action: rule.action });
    else {
      if (rule.action === "quarantine" && rule.scope === "session") sessionQuarantine ??= rule;
      if (!chosen || actionWeight(rule.action) > actionWeight(chosen.action)) [chosen, adaptive] = [rule, limit];
    }
  }
  return { chosen, sessionQuarantine, shadowed, adaptive, skipped: 0 };
}

/**
 * The indices of the rules that apply on each endpoint, in policy order, found once per compiled
 * policy and endpoint: a Check visits only those, never the other endpoints' rules. Indices, not
 * rules, so a Check out of budget still counts every rule after it as skipped, as before.
 */
const APPLICABLE = new WeakMap<CompiledPolicy, Map<string | undefined, readonly number[]>>();

function applicableRules(policy: CompiledPolicy, endpoint: CompiledEndpoint | undefined): readonly number[] {
  let byEndpoint = APPLICABLE.get(policy);
  if (byEndpoint === undefined) APPLICABLE.set(policy, (byEndpoint = new Map()));
  const name = endpoint?.name;
  let indices = byEndpoint.get(name);
  if (indices === undefined) {
    indices = policy.rules.flatMap((rule, index) => (!rule.endpoints || (name !== undefined && rule.endpoints.has(name)) ? [index] : []));
    byEndpoint.set(name, indices);
  }
  return indices;
}

/** What the rules read, each part built on its first read (policy/cel.ts). */
function activationFor(input: DecideInput, reasons: Reason[], risk: number): SharedActivation {
  return new DecideActivation(input, reasons, risk);
}

class DecideActivation extends SharedActivation {
  constructor(
    private readonly input: DecideInput,
    private readonly fired: Reason[],
    risk: number,
  ) {
    super(risk);
  }

  protected requestRecord(): RuleActivation["request"] {
    const { request, endpoint } = this.input;
    return {
      method: request.method,
      path: request.path,
      query: request.query,
      host: request.host,
      endpoint: endpoint?.name ?? "",
      sensitivity: endpoint?.sensitivity ?? "",
      authentication: endpoint?.authentication ?? false,
      subnet: request.subnet ?? "",
      country: request.country ?? "",
      asn: request.asn ?? 0,
      hosting: request.hosting ?? false,
      has_username: request.usernameId !== undefined,
      has_session: request.sessionId !== undefined,
      user_agent: request.headers.get("user-agent") ?? "",
      headers: request.headers,
    };
  }

  protected signalValues(): ReadonlyMap<string, number> {
    const values = new Map<string, number>();
    const signals = this.input.signals;
    for (let i = 0; i < signals.length; i++) values.set(signals[i]!.code, signals[i]!.value);
    return values;
  }

  protected reasonCodes(): string[] {
    return this.fired.map((r) => r.code);
  }
}

/** The fired counter whose window is longest decides when a throttled client may retry. */
function tightestLimit(signals: Signal[]): Signal | undefined {
  return signals
    .filter((s) => s.fired && s.windowMs !== undefined)
    .sort((a, b) => (b.windowMs ?? 0) - (a.windowMs ?? 0))[0];
}

function retryAfter(rule: CompiledRule, limit: Signal | undefined): number | undefined {
  const ms = rule.retryAfterMs ?? limit?.windowMs;
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}
