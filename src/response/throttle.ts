import { named } from "../detection/entities.js";
import { NO_PLAN, type Signal, type SignalPlan } from "../detection/signal.js";
import type { Decision, Reason } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint, CompiledPolicy, CompiledRule } from "../policy/compile.js";
import type { CompiledLimit } from "../policy/response-schema.js";
import { entityOf, subjectOf } from "./quarantine-record.js";

/**
 * Adaptive limits: a rule with `limit` acts only on requests beyond a limit that shrinks as the
 * client's risk grows — `requests` per window at risk 0, linearly down to `floor` at risk 100 —
 * so a well-behaved client keeps its full allowance and a suspicious one gets a trickle.
 * Every request to the rule's endpoints counts, throttled or not, per value of the rule's scope.
 */
export function effectiveLimit(limit: CompiledLimit, risk: number): number {
  const share = (100 - Math.min(100, Math.max(0, risk))) / 100;
  return Math.max(limit.floor, Math.floor(limit.floor + (limit.requests - limit.floor) * share));
}

const signalCode = (rule: CompiledRule) => named("limit.", rule.id);

/** One counter per limited rule that applies here, on the entity of the rule's scope. */
export function planAdaptiveLimits(request: NormalisedRequest, endpoint: CompiledEndpoint, policy: CompiledPolicy): SignalPlan {
  const rules = limitedRulesOf(policy, endpoint.name);
  if (rules.length === 0) return NO_PLAN; // no limited rule applies on this endpoint
  const counted = rules.flatMap((rule) => {
    const subject = subjectOf(request, rule.scope);
    return subject !== undefined ? [{ rule, limit: rule.limit!, entity: entityOf(rule.scope, subject) }] : [];
  });
  return {
    ops: counted.map(({ rule, limit, entity }) => ({ entity, op: { op: "window.add", name: named("lim:", rule.id), windowMs: limit.windowMs, amount: 1 } })),
    evaluate(results) {
      return counted.map(({ rule, limit }, i): Signal => ({
        // Not a finding by itself (weight 0, not fired): decide() reads it for the rule.
        code: signalCode(rule),
        value: Math.round((results[i] ?? 0) * 100) / 100,
        weight: 0,
        fired: false,
        windowMs: limit.windowMs,
      }));
    },
  };
}

/**
 * The limited rules that apply on each endpoint, in policy order, found once per compiled policy
 * and endpoint name: every Check asked every rule of the policy (most have no limit; the example
 * policy's 20 have none), which cost about 2% of replay's CPU for a plan with no ops.
 */
const LIMITED_RULES = new WeakMap<CompiledPolicy, Map<string, CompiledRule[]>>();

function limitedRulesOf(policy: CompiledPolicy, endpoint: string): readonly CompiledRule[] {
  let byEndpoint = LIMITED_RULES.get(policy);
  if (byEndpoint === undefined) LIMITED_RULES.set(policy, (byEndpoint = new Map()));
  let rules = byEndpoint.get(endpoint);
  if (rules === undefined) byEndpoint.set(endpoint, (rules = policy.rules.filter((rule) => rule.limit && (!rule.endpoints || rule.endpoints.has(endpoint)))));
  return rules;
}

/** Whether a limited rule may act: its count is over the limit for this risk. */
export interface LimitVerdict {
  over: boolean;
  reason: Reason;
  rateLimit: NonNullable<Decision["rateLimit"]>;
}

/** Undefined when the request was not counted for the rule (no value for its scope). */
export function judgeLimit(rule: CompiledRule, signals: readonly Signal[], risk: number): LimitVerdict | undefined {
  const limit = rule.limit;
  const count = limit && signals.find((s) => s.code === signalCode(rule));
  if (!limit || !count) return undefined;
  const allowed = effectiveLimit(limit, risk);
  const windowSeconds = Math.ceil(limit.windowMs / 1000);
  return {
    over: count.value > allowed,
    reason: { code: signalCode(rule), value: count.value, threshold: allowed, weight: 0, detail: `${rule.scope} per ${windowSeconds}s at risk ${risk}` },
    rateLimit: {
      limit: allowed,
      remaining: Math.max(0, Math.floor(allowed - count.value)),
      // A sliding window frees capacity gradually; the whole window is the honest upper bound.
      resetSeconds: Math.ceil((rule.retryAfterMs ?? limit.windowMs) / 1000),
      windowSeconds,
    },
  };
}
