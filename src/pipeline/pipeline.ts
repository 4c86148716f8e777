import { randomUUID } from "node:crypto";
import { listsContaining } from "../detection/reputation.js";
import type { Signal, SignalPlan } from "../detection/signal.js";
import { planVelocity } from "../detection/velocity.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import type { Pseudonymiser } from "../privacy/pseudonymiser.js";
import { applyWithStatus } from "../state/resilient-store.js";
import type { EntityOp, Store } from "../state/store.js";
import { decide, type Verdict } from "./decide.js";
import type { Decision } from "./decision.js";
import { normalise, type EventTimeSettings } from "./normalise.js";
import type { HttpAttributes, NormalisedRequest } from "./request.js";

export interface Clock {
  now(): number;
}

export interface PipelineDependencies {
  store: Store;
  pseudonymiser: Pseudonymiser;
  /** The policy in force; read once per request so a reload never splits one decision. */
  policy: () => CompiledPolicy;
  clock: Clock;
  eventTime: EventTimeSettings;
  /** Told about rule conditions that failed to evaluate, so they can be counted. */
  onRuleError?: (ruleId: string) => void;
}

/** Thrown when the endpoint's fail mode is `error`: the transport answers a gRPC error instead. */
export class DecisionUnavailableError extends Error {
  override readonly name = "DecisionUnavailableError";
  readonly code = "decision.unavailable";
}

export interface Evaluation {
  decision: Decision;
  request: NormalisedRequest;
}

export interface Pipeline {
  evaluate(attrs: HttpAttributes): Promise<Evaluation>;
}

/** normalise → signals (one concurrent batch of store work) → score → decide. */
export function createPipeline(deps: PipelineDependencies): Pipeline {
  return {
    async evaluate(attrs) {
      const policy = deps.policy();
      const { request, endpoint, address } = normalise(attrs, {
        policy,
        pseudonymiser: deps.pseudonymiser,
        eventTime: deps.eventTime,
        nowMs: deps.clock.now(),
      });
      const memberships = listsContaining(policy.lists, address);
      const listed = memberships.find((m) => m.effect === "block") ?? memberships.find((m) => m.effect === "allow");
      // Listed clients are decided without touching the store: a deny-listed flood costs no round trip.
      const measured = listed ? { signals: [], degraded: false } : await measure(request, endpoint, deps.store);
      const signals: Signal[] = [
        ...memberships.map((m): Signal => ({
          code: m.effect === "block" ? "ip.denylisted" : m.effect === "allow" ? "ip.allowlisted" : `ip.list.${m.name}`,
          value: 1,
          weight: m.effect === "block" ? 100 : m.weight,
          fired: true,
          detail: m.name,
        })),
        ...anomalySignals(request),
        ...measured.signals,
      ];
      const verdict: Verdict = decide({
        policy,
        request,
        endpoint,
        signals,
        listed,
        degraded: measured.degraded,
        onRuleError: deps.onRuleError,
      });
      if (verdict.unavailable) throw new DecisionUnavailableError("state store unavailable and the endpoint fails with an error");
      const decision: Decision = {
        ...verdict.decision,
        decisionId: randomUUID(),
        policyVersion: policy.version,
        endpoint: request.endpoint,
        subject: request.usernameId ?? request.ipId,
        eventTimeMs: request.timeMs,
      };
      return { decision, request };
    },
  };
}

/** Bad input is not an error: it is a weightless signal that rules may act on. */
function anomalySignals(request: NormalisedRequest): Signal[] {
  return request.anomalies.map((code) => ({ code: `input.${code}`, value: 1, weight: 0, fired: true }));
}

async function measure(
  request: NormalisedRequest,
  endpoint: CompiledEndpoint | undefined,
  store: Store,
): Promise<{ signals: Signal[]; degraded: boolean }> {
  const plans: SignalPlan[] = endpoint ? [planVelocity(request, endpoint)] : [];
  const results = await runPlans(plans, store, request.timeMs);
  return { signals: plans.flatMap((plan, i) => plan.evaluate(results.perPlan[i]!)), degraded: results.degraded };
}

/**
 * Issues every plan's operations grouped by entity — one script call per entity, all entities
 * concurrently — and hands each plan its results back in its own order. A store that throws is
 * treated like one that answered from empty local state: the decision is marked degraded.
 */
async function runPlans(plans: SignalPlan[], store: Store, nowMs: number) {
  const byEntity = new Map<string, { ops: EntityOp[]; slots: [plan: number, op: number][] }>();
  plans.forEach((plan, planIndex) =>
    plan.ops.forEach(({ entity, op }, opIndex) => {
      const group = byEntity.get(entity) ?? { ops: [], slots: [] };
      group.ops.push(op);
      group.slots.push([planIndex, opIndex]);
      byEntity.set(entity, group);
    }),
  );
  const perPlan = plans.map((plan) => new Array<number>(plan.ops.length).fill(0));
  let degraded = false;
  await Promise.all(
    [...byEntity].map(async ([entity, group]) => {
      try {
        const outcome = await applyWithStatus(store, entity, group.ops, nowMs);
        degraded ||= outcome.degraded;
        group.slots.forEach(([plan, op], i) => (perPlan[plan]![op] = outcome.results[i] ?? 0));
      } catch {
        degraded = true;
      }
    }),
  );
  return { perPlan, degraded };
}
