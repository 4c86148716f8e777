import { automationSignals } from "../detection/automation.js";
import { breachedPasswordSignals, type BreachedPasswordList } from "../detection/breached-passwords.js";
import { planLogin } from "../detection/login.js";
import type { RecentAttempts } from "../detection/login-outcomes.js";
import { planSession } from "../detection/session.js";
import { planSessionAccounts } from "../detection/session-accounts.js";
import { NO_PLAN, type Signal, type SignalPlan } from "../detection/signal.js";
import type { SiteActivity } from "../detection/site-activity.js";
import type { SiteEnumeration } from "../detection/site-enumeration.js";
import type { SprayingDetector } from "../detection/spraying.js";
import type { TokenBindings } from "../detection/token-binding.js";
import { clientClass, type BehaviourBaselines } from "../detection/behaviour.js";
import type { RhythmDetector } from "../detection/rhythm.js";
import type { RecentCounts } from "../detection/recent-counts.js";
import { planScraping, resourceIdOf } from "../detection/scraping.js";
import { planProbing } from "../detection/probes.js";
import { noSessionSignal, type CohortTracker } from "../detection/cohorts.js";
import type { CatalogueSpread } from "../detection/catalogue-spread.js";
import { perClient, planSharedAddress } from "../detection/shared-address.js";
import type { SessionReads } from "../detection/session-reads.js";
import { planVelocity } from "../detection/velocity.js";
import { planWrites } from "../detection/writes.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import { planResponse } from "../response/store-reads.js";
import { applyBatchWithStatus, type BatchOutcome } from "../state/resilient-store.js";
import type { EntityBatch, EntityOp, Store } from "../state/store.js";
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
  /** Misses per path shape and sign-up endpoint, site-wide (enumeration through many addresses). */
  enumeration: SiteEnumeration;
  cohorts: CohortTracker;
  /** How widely browser sessions read the catalogue; absent, its signals are off. */
  catalogueSpread?: CatalogueSpread;
  /** Browser sessions reading the catalogue without assets; absent, the signal is off. */
  sessionReads?: SessionReads;
  recent: RecentAttempts;
  /** Recent copies of the distinct counts a whole campaign shares (the usernames behind a fingerprint). */
  recentCounts?: RecentCounts;
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
 * per entity), the breached-password look-up and a session token's binding (one script call of
 * its own) alongside, then the replica-local ones.
 */
export async function collectSignals(
  request: NormalisedRequest,
  endpoint: CompiledEndpoint | undefined,
  policy: CompiledPolicy,
  store: Store,
  detection: DetectionState,
): Promise<Measured> {
  if (!endpoint) return { signals: [], degraded: false };
  if (endpoint === policy.defaultEndpoint) return defaultEndpointSignals(request, endpoint, policy, store, detection.enumeration);
  const signals = policy.signals;
  // Planned in this order (some detectors keep state), then one slot each, NO_PLAN where a
  // detector has nothing to do: a single array at its final length.
  const velocityPlan = planVelocity(request, endpoint);
  const sessionPlan = planSession(request, endpoint, signals);
  const scrapingPlan = planScraping(request, endpoint, signals, detection.recentCounts);
  const probingPlan = planProbing(request, signals.probing);
  const sharedPlan = planSharedAddress(request, endpoint, signals);
  const reads = detection.sessionReads?.plan(request, endpoint, signals);
  const loginPlan = endpoint.authentication ? planLogin(request, endpoint, signals, detection.recentCounts) : NO_PLAN;
  const [limits, relief] = planResponse(request, endpoint, policy);
  const accountsPlan = endpoint.authentication ? planSessionAccounts(request, signals) : NO_PLAN;
  // The session's accounts last: stored in the batch, said beside the cohorts' signals below.
  const plans = [velocityPlan, sessionPlan, scrapingPlan, probingPlan, sharedPlan, reads ? reads.plan : NO_PLAN, loginPlan, limits, relief, accountsPlan];
  const accountsAt = plans.length - 1;
  // The token's binding is a script call of its own, issued alongside the batch (not after it).
  const storing = runPlans(plans, store, request.timeMs);
  const checking = endpoint.authentication ? breachedPasswordSignals(request, signals, detection.breached) : NO_SIGNALS;
  const flushing = detection.site.maybeFlush(policy, request.timeMs);
  const enumerating = endpoint.registration ? detection.enumeration.maybeFlush(policy, request.timeMs) : undefined;
  const sharing = detection.cohorts.maybeExchange(signals.cohorts, request.timeMs);
  const sharingRhythm = detection.rhythm.maybeExchange(signals.scraping, request.timeMs);
  const binding = detection.bindings.observe(request, signals.tokenBinding);
  // Most Checks wait for the batch alone: the others answered at once, and no Promise.all is built.
  const waits = checking instanceof Promise || flushing !== undefined || enumerating !== undefined || sharing !== undefined || sharingRhythm !== undefined || binding instanceof Promise;
  const [stored, breached, , , , , bound] = waits
    ? await Promise.all([storing, checking, flushing, enumerating, sharing, sharingRhythm, binding])
    : [await storing, checking, undefined, undefined, undefined, undefined, binding];
  // One array filled in place, in the order the spreads of every part gave (fewer copies per Check).
  const found: Signal[] = [];
  for (let i = 0; i < accountsAt; i++) pushAll(found, plans[i]!.evaluate(stored.perPlan[i]!));
  pushAll(found, breached);
  pushAll(found, automationSignals(request, signals));
  if (endpoint.authentication) pushAll(found, detection.spraying.observe(request, signals));
  pushAll(found, bound.signals);
  const measured = perClient(found, endpoint, signals.sharedAddress);
  const resource = resourceIdOf(request, endpoint);
  // Rhythm only on catalogue and search: a browser loading a page's assets is fast by design.
  if (resource !== undefined || request.query !== "") pushAll(measured, detection.rhythm.observe(request, resource, signals.scraping));
  const velocity = valueOf(measured, "velocity.ip");
  const observing = detection.behaviour.observe(request, policy, velocity, clientClass(request, measured));
  const behaviour = observing instanceof Promise ? await observing : observing;
  const site = detection.site.signalsFor(request, endpoint, signals, measured);
  const cohorts = detection.cohorts.observe(request, endpoint, signals, measured);
  const spread = detection.catalogueSpread ? detection.catalogueSpread.observe(request, endpoint, signals.cohorts) : NO_SIGNALS;
  const accounts = accountsPlan.evaluate(stored.perPlan[accountsAt]!);
  const session = endpoint.authentication ? noSessionSignal(request, signals, measured) : [];
  const reading = reads ? reads.finish() : NO_SIGNALS;
  const enumeration = endpoint.registration ? detection.enumeration.signalsFor(request, endpoint, policy) : NO_SIGNALS;
  const firstLogin = endpoint.authentication ? (detection.sessionReads?.firstLogin(request, measured, signals) ?? []) : [];
  pushAll(measured, behaviour);
  pushAll(measured, site);
  pushAll(measured, cohorts);
  pushAll(measured, spread);
  pushAll(measured, accounts);
  pushAll(measured, session);
  pushAll(measured, reading);
  pushAll(measured, firstLogin);
  pushAll(measured, enumeration);
  return { signals: measured, degraded: stored.degraded || bound.degraded };
}

const NO_SIGNALS: readonly Signal[] = [];

/**
 * Off the Check path, while no Check asks for them: the site-wide merges (activity, enumeration) and the exchange turns
 * a Check would otherwise find due, a little ahead of time (detection/cadence.ts), so that the
 * next Check (a new replica's first above all) waits for none of them. The service calls this
 * every KEEP_UP_EVERY_MS; while Checks come, it does nothing.
 */
export function keepUp(detection: DetectionState, policy: CompiledPolicy, nowMs: number): Promise<unknown> {
  return Promise.all([
    detection.site.maybeFlush(policy, nowMs, true),
    detection.enumeration.maybeFlush(policy, nowMs, true),
    detection.cohorts.maybeExchange(policy.signals.cohorts, nowMs, true),
    detection.rhythm.maybeExchange(policy.signals.scraping, nowMs, true),
  ]);
}

function pushAll(into: Signal[], more: readonly Signal[]): void {
  for (let i = 0; i < more.length; i++) into.push(more[i]!);
}

/** The value of the signal `code`, as `find` would give it, without a closure per Check. */
function valueOf(signals: readonly Signal[], code: string): number | undefined {
  for (let i = 0; i < signals.length; i++) if (signals[i]!.code === code) return signals[i]!.value;
  return undefined;
}

/**
 * A request no declared endpoint matches: its velocity, its client's writes to its path shape,
 * the probing evidence about its client, what its user agent says, and whether its path's shape
 * is being enumerated site-wide. No login, catalogue or baseline work: nothing declared it one.
 */
async function defaultEndpointSignals(request: NormalisedRequest, endpoint: CompiledEndpoint, policy: CompiledPolicy, store: Store, enumeration: SiteEnumeration): Promise<Measured> {
  const plans = [planVelocity(request, endpoint), planProbing(request, policy.signals.probing), planWrites(request, policy.defaultWrites, policy.signals)];
  const flushing = enumeration.maybeFlush(policy, request.timeMs);
  // Most Checks have no merge due: no Promise.all built for them.
  const [stored] = flushing ? await Promise.all([runPlans(plans, store, request.timeMs), flushing]) : [await runPlans(plans, store, request.timeMs)];
  const measured = plans.flatMap((plan, i) => plan.evaluate(stored.perPlan[i]!));
  return { signals: [...measured, ...automationSignals(request, policy.signals), ...enumeration.signalsFor(request, endpoint, policy)], degraded: stored.degraded };
}

/** What a plan without ops is handed: nothing reads from it. */
const NO_RESULTS: number[] = [];
const NO_OPS: readonly EntityOp[] = [];
const NO_GROUP: EntityBatch = { entity: "", ops: NO_OPS };

/**
 * A Check's entities in order of first appearance, and per entity how many ops it has (then
 * how many were placed or read back): scratch that `runPlans` fills and reads synchronously,
 * before it awaits the store and after, reused by every Check.
 */
const scratchGroups: EntityBatch[] = [];
const scratchCounts: number[] = [];

/**
 * Issues every plan's operations grouped by entity — each entity's ops atomically, all entities
 * in one store call where the store allows (one script on a single Redis) — and hands each plan
 * its results back in its own order. A store that throws is treated like one that answered from
 * empty local state: the decision is marked degraded. A Check touches a handful of entities, so
 * they are found by a linear search rather than a Map. Each plan's result array holds its ops'
 * entity indices until the store answers (no slot list per op kept across the await), so every
 * array is made at its final length.
 */
async function runPlans(plans: readonly SignalPlan[], store: Store, nowMs: number) {
  let count = 0;
  const perPlan: number[][] = new Array<number[]>(plans.length);
  for (let planIndex = 0; planIndex < plans.length; planIndex++) {
    const ops = plans[planIndex]!.ops;
    if (ops.length === 0) {
      perPlan[planIndex] = NO_RESULTS;
      continue;
    }
    const entityIndices = (perPlan[planIndex] = new Array<number>(ops.length));
    for (let opIndex = 0; opIndex < ops.length; opIndex++) {
      const entity = ops[opIndex]!.entity;
      let g = 0;
      while (g < count && scratchGroups[g]!.entity !== entity) g++;
      if (g < count) scratchCounts[g]!++;
      else {
        scratchGroups[count] = { entity, ops: NO_OPS };
        scratchCounts[count++] = 1;
      }
      entityIndices[opIndex] = g;
    }
  }
  if (count === 0) return { perPlan, degraded: false };
  const groups = scratchGroups.slice(0, count);
  scratchGroups.fill(NO_GROUP, 0, count); // the scratch keeps nothing of this Check alive
  for (let g = 0; g < count; g++) {
    groups[g]!.ops = new Array<EntityOp>(scratchCounts[g]!);
    scratchCounts[g] = 0;
  }
  for (let planIndex = 0; planIndex < plans.length; planIndex++) {
    const ops = plans[planIndex]!.ops;
    for (let opIndex = 0; opIndex < ops.length; opIndex++) {
      const g = perPlan[planIndex]![opIndex]!;
      (groups[g]!.ops as EntityOp[])[scratchCounts[g]!++] = ops[opIndex]!.op;
    }
  }
  let outcome: BatchOutcome | undefined;
  try {
    outcome = await applyBatchWithStatus(store, groups, nowMs);
  } catch {
    // Read as if from empty state, below.
  }
  // Other Checks ran meanwhile: the counts are this Check's again from here to the return.
  scratchCounts.fill(0, 0, count);
  for (let planIndex = 0; planIndex < plans.length; planIndex++) {
    const results = perPlan[planIndex]!;
    for (let opIndex = 0; opIndex < results.length; opIndex++) {
      const g = results[opIndex]!;
      const at = scratchCounts[g]!++;
      results[opIndex] = outcome?.results[g]?.[at] ?? 0;
    }
  }
  return { perPlan, degraded: outcome === undefined || outcome.degraded };
}
