import { automationSignals } from "../detection/automation.js";
import { breachedPasswordSignals, type BreachedPasswordList } from "../detection/breached-passwords.js";
import { planLogin } from "../detection/login.js";
import type { RecentAttempts } from "../detection/login-outcomes.js";
import { planSession } from "../detection/session.js";
import type { Signal, SignalPlan } from "../detection/signal.js";
import type { SiteActivity } from "../detection/site-activity.js";
import type { SprayingDetector } from "../detection/spraying.js";
import type { TokenBindings } from "../detection/token-binding.js";
import { clientClass, type BehaviourBaselines } from "../detection/behaviour.js";
import type { RhythmDetector } from "../detection/rhythm.js";
import { planScraping, resourceIdOf } from "../detection/scraping.js";
import { planProbing } from "../detection/probes.js";
import { noSessionSignal, type CohortTracker } from "../detection/cohorts.js";
import { perClient, planSharedAddress } from "../detection/shared-address.js";
import { planVelocity } from "../detection/velocity.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import { planResponse } from "../response/store-reads.js";
import { applyWithStatus } from "../state/resilient-store.js";
import type { EntityOp, Store } from "../state/store.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { FeedLookup } from "../policy/cidr-lists.js";
import type { GeoLookup } from "../domain/geo.js";

/** Detection state that lives in the replica (not in the store) between requests. */
export interface DetectionState {
  spraying: SprayingDetector;
  bindings: TokenBindings;
  rhythm: RhythmDetector;
  behaviour: BehaviourBaselines;
  site: SiteActivity;
  cohorts: CohortTracker;
  recent: RecentAttempts;
  breached?: BreachedPasswordList;
  /** Reputation feeds the service loads (last good copy of each); absent offline. */
  feeds?: FeedLookup;
  /** GeoIP and ASN databases the service opened; absent when none is configured. */
  geo?: GeoLookup;
}

export interface Measured {
  signals: Signal[];
  degraded: boolean;
}

/**
 * Every signal for one request: the store-backed ones in one concurrent batch (one script call
 * per entity), the breached-password look-up alongside, then the replica-local ones.
 */
export async function collectSignals(
  request: NormalisedRequest,
  endpoint: CompiledEndpoint | undefined,
  policy: CompiledPolicy,
  store: Store,
  detection: DetectionState,
): Promise<Measured> {
  if (!endpoint) return { signals: [], degraded: false };
  if (endpoint === policy.defaultEndpoint) return defaultEndpointSignals(request, endpoint, policy, store);
  const signals = policy.signals;
  const plans: SignalPlan[] = [
    planVelocity(request, endpoint),
    planSession(request, endpoint, signals),
    planScraping(request, endpoint, signals),
    planProbing(request, signals.probing),
    planSharedAddress(request, endpoint, signals),
  ];
  if (endpoint.authentication) plans.push(planLogin(request, endpoint, signals));
  plans.push(...planResponse(request, endpoint, policy)); // adaptive limits, friction relief
  const [stored, breached] = await Promise.all([
    runPlans(plans, store, request.timeMs),
    endpoint.authentication ? breachedPasswordSignals(request, signals, detection.breached) : [],
    detection.site.maybeFlush(policy, request.timeMs),
  ]);
  const measured = perClient([
    ...plans.flatMap((plan, i) => plan.evaluate(stored.perPlan[i]!)),
    ...breached,
    ...automationSignals(request, signals),
    ...(endpoint.authentication ? detection.spraying.observe(request, signals) : []),
    ...detection.bindings.observe(request, signals.tokenBinding),
  ], endpoint, signals.sharedAddress);
  const resource = resourceIdOf(request, endpoint);
  // Rhythm only on catalogue and search: a browser loading a page's assets is fast by design.
  if (resource !== undefined || request.query !== "") measured.push(...detection.rhythm.observe(request, resource, signals.scraping));
  const velocity = measured.find((s) => s.code === "velocity.ip")?.value;
  const behaviour = await detection.behaviour.observe(request, policy, velocity, clientClass(request, measured));
  const site = detection.site.signalsFor(request, endpoint, signals, measured);
  const cohorts = detection.cohorts.observe(request, endpoint, signals, measured);
  const session = endpoint.authentication ? noSessionSignal(request, signals, measured) : [];
  return { signals: [...measured, ...behaviour, ...site, ...cohorts, ...session], degraded: stored.degraded };
}

/**
 * A request no declared endpoint matches: its velocity, the probing evidence about its client
 * and what its user agent says. No login, catalogue or baseline work: nothing declared it one.
 */
async function defaultEndpointSignals(request: NormalisedRequest, endpoint: CompiledEndpoint, policy: CompiledPolicy, store: Store): Promise<Measured> {
  const plans = [planVelocity(request, endpoint), planProbing(request, policy.signals.probing)];
  const stored = await runPlans(plans, store, request.timeMs);
  const measured = plans.flatMap((plan, i) => plan.evaluate(stored.perPlan[i]!));
  return { signals: [...measured, ...automationSignals(request, policy.signals)], degraded: stored.degraded };
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
