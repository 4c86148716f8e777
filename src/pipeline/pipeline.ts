import { randomUUID } from "node:crypto";
import type { Clock } from "../domain/clock.js";
import type { PassChecker } from "../challenge/passes.js";
import { BehaviourBaselines } from "../detection/behaviour.js";
import { CohortTracker } from "../detection/cohorts.js";
import { RecentAttempts, type AttemptContext } from "../detection/login-outcomes.js";
import { RecentCounts } from "../detection/recent-counts.js";
import { RhythmDetector } from "../detection/rhythm.js";
import { CatalogueSpread } from "../detection/catalogue-spread.js";
import { SessionReads } from "../detection/session-reads.js";
import type { Signal } from "../detection/signal.js";
import { SiteActivity } from "../detection/site-activity.js";
import { SiteEnumeration } from "../detection/site-enumeration.js";
import { SprayingDetector } from "../detection/spraying.js";
import { standingOf } from "../detection/standing.js";
import { networkSignals } from "../detection/geo.js";
import { TokenBindings } from "../detection/token-binding.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import type { Pseudonymiser } from "../privacy/pseudonymiser.js";
import type { HeldDecision, PipelineResponder } from "../response/responder.js";
import type { MemoryStore } from "../state/memory-store.js";
import type { Store } from "../state/store.js";
import { decide, type DecideResult } from "./decide.js";
import { isDenial, type Decision } from "../domain/decision.js";
import type { EveryKey } from "../domain/every-key.js";
import { normalise, type EventTimeSettings } from "./normalise.js";
import type { HttpAttributes, NormalisedRequest } from "../domain/request.js";
import { collectSignals, type DetectionState } from "./signals.js";

export type { DetectionState } from "./signals.js";

/**
 * Rule evaluation a served Check may spend, a tenth of Envoy's usual 200 ms ext_authz timeout.
 * Policies within their cost budget take well under a millisecond.
 */
export const RULE_EVALUATION_BUDGET_MS = 20;

export interface PipelineDependencies {
  store: Store;
  pseudonymiser: Pseudonymiser;
  /** The policy in force; read once per request so a reload never splits one decision. */
  policy: () => CompiledPolicy;
  clock: Clock;
  eventTime: EventTimeSettings;
  /** Replica-local detection state, shared with the outcome path (src/app/decision-core.ts builds both). */
  detection: DetectionState;
  /** Told about rule conditions that failed to evaluate, so they can be counted. */
  onRuleError?: (ruleId: string) => void;
  /**
   * Wall-clock budget of rule evaluation per Check (see decide.ts); none when absent. The server
   * sets RULE_EVALUATION_BUDGET_MS; offline replay sets none, so its results never depend on
   * how busy the machine was.
   */
  ruleBudgetMs?: number;
  /** Told when a Check ran out of its rule-evaluation budget. */
  onRuleBudgetExceeded?: () => void;
  /** Quarantines, friction relief and records around each decision (src/response). */
  responder?: PipelineResponder;
  /** Checks pass tokens of the built-in challenge; without it tokens are ignored. */
  passes?: PassChecker;
}

/**
 * Fresh replica-local detection state over `store`. `bindingMemory`: where token bindings live
 * when `store` is the memory store, for replicas in one process that share it (TokenBindings).
 */
export function createDetectionState(store: Store, breached?: DetectionState["breached"], pseudonymiser?: Pseudonymiser, bindingMemory?: MemoryStore): DetectionState {
  return {
    spraying: new SprayingDetector(),
    // Bindings are shared through the store; their companion-cookie hashes must then agree across replicas.
    bindings: new TokenBindings(store, pseudonymiser && ((value) => pseudonymiser.pseudonymise("companion", value)), bindingMemory),
    site: new SiteActivity(store),
    enumeration: new SiteEnumeration(store),
    cohorts: new CohortTracker(store),
    sessionReads: new SessionReads(),
    catalogueSpread: new CatalogueSpread(),
    recent: new RecentAttempts(),
    recentCounts: new RecentCounts(),
    rhythm: new RhythmDetector(store),
    behaviour: new BehaviourBaselines(store),
    breached,
  };
}
/** Thrown when the endpoint's fail mode is `error`: the transport answers a gRPC error instead. */
export class DecisionUnavailableError extends Error {
  override readonly name = "DecisionUnavailableError";
  readonly code = "decision.unavailable";
}

export interface PipelineResult {
  decision: Decision;
  request: NormalisedRequest;
}

export interface Pipeline {
  evaluate(attrs: HttpAttributes): Promise<PipelineResult>;
}

/** normalise → signals (one concurrent batch of store work) → score → decide. */
export function createPipeline(deps: PipelineDependencies): Pipeline {
  const detection = deps.detection;
  // The same for every Check: built once, not per request.
  const ruleBudget = deps.ruleBudgetMs === undefined ? undefined : { now: () => performance.now(), ms: deps.ruleBudgetMs, onBudgetExceeded: deps.onRuleBudgetExceeded };
  return {
    async evaluate(attrs) {
      const policy = deps.policy();
      const { request, endpoint: declared, address } = normalise(attrs, {
        policy,
        pseudonymiser: deps.pseudonymiser,
        eventTime: deps.eventTime,
        nowMs: deps.clock.now(),
        geo: detection.geo,
      });
      // Every request is seen: what no declared endpoint matches goes through the default class.
      const endpoint = declared ?? policy.defaultEndpoint;
      const { standing, signals: standingSignals } = standingOf(request, address, policy, detection.feeds);
      // A quarantine wins over an allow list or an allowed bot (it is an explicit act), not over a standing block.
      const holding = standing?.effect === "block" ? undefined : deps.responder?.held(request);
      // A promise only when the replica's copy of quarantines is over its bound (Quarantines.find).
      const held = holding instanceof Promise ? await holding : holding;
      // Clients with a standing verdict or a quarantine are decided without touching the store: a flood costs no round trip.
      const measured = standing || held
        ? { signals: [], degraded: false }
        : await collectSignals(request, endpoint, policy, deps.store, detection);
      const signals = joinSignals(standingSignals, anomalySignals(request), networkSignals(request, policy.signals), passSignals(deps.passes, request, endpoint, policy), measured.signals);
      // Outcomes come back through the access log and need attributing: logins, catalogue
      // responses, and the errors the probing signals count on any path.
      const attribution = awaitsOutcome(endpoint) || policy.signals.probing?.missingPaths ? attributionOf(request) : undefined;
      const stamp: EveryKey<Stamp> = { decisionId: randomUUID(), policyVersion: policy.version, endpoint: request.endpoint, subject: request.usernameId ?? request.ipId, eventTimeMs: request.timeMs, attribution };
      let decision: Decision;
      if (held) decision = stampedHold(held, stamp);
      else {
        const decided = decide({ policy, request, endpoint, signals, standing, degraded: measured.degraded, onRuleError: deps.onRuleError, ruleBudget });
        if (decided.unavailable) throw new DecisionUnavailableError("state store unavailable and the endpoint fails with an error");
        decision = stamped(decided.decision, stamp);
      }
      if (deps.responder) decision = await deps.responder.settle(decision, request, policy);
      if (awaitsOutcome(endpoint) && decision.attribution) awaitOutcome(detection, endpoint, request, decision.attribution, decision);
      if (isDenial(decision.action) && decision.reasons.some((r) => r.code === "site.enumeration")) detection.enumeration.recordDenied(request, endpoint, policy);
      return { decision, request };
    },
  };
}

type Stamp = Pick<Decision, "decisionId" | "policyVersion" | "endpoint" | "subject" | "eventTimeMs" | "attribution">;

/**
 * decide()'s draft with what the pipeline adds, in one literal in the draft's key order (see
 * decide.ts's `draft`): every decided Check's answer has the same object shape, and no property
 * is set after a spread (see `stampedHold`). Every key named, so a new one cannot be left out.
 */
function stamped(draft: DecideResult["decision"], stamp: Stamp): EveryKey<Decision> {
  return {
    risk: draft.risk,
    reasons: draft.reasons,
    degraded: draft.degraded,
    shadowed: draft.shadowed,
    action: draft.action,
    rule: draft.rule,
    scope: draft.scope,
    retryAfterSeconds: draft.retryAfterSeconds,
    rateLimit: draft.rateLimit,
    decisionId: stamp.decisionId,
    policyVersion: stamp.policyVersion,
    endpoint: stamp.endpoint,
    subject: stamp.subject,
    eventTimeMs: stamp.eventTimeMs,
    attribution: stamp.attribution,
  };
}

/**
 * A held client's answer, keys in the order the held decision has always had (responder.ts),
 * then the stamp's: a literal and Object.assign, not a spread, since on Node 20 each key a
 * literal sets after a spread costs most of a microsecond (bench/spread-cost.ts: a spread and
 * the six stamped keys 5.4–5.9 µs, this form 78–88 ns).
 */
function stampedHold(held: HeldDecision, stamp: EveryKey<Stamp>): Decision {
  const decision: EveryKey<Omit<Decision, keyof Stamp>> = {
    action: held.action,
    risk: held.risk,
    reasons: held.reasons,
    rule: held.rule,
    scope: held.scope,
    retryAfterSeconds: held.retryAfterSeconds,
    degraded: held.degraded,
    shadowed: held.shadowed,
    rateLimit: held.rateLimit,
  };
  return Object.assign(decision, stamp);
}

/**
 * The parts one after the other; the one part that is not empty as it is (most Checks have
 * measured signals only), no copy. Nothing changes the parts afterwards.
 */
function joinSignals(...parts: readonly Signal[][]): Signal[] {
  let only: Signal[] | undefined;
  let nonEmpty = 0;
  for (const part of parts) {
    if (part.length === 0) continue;
    only = part;
    nonEmpty++;
  }
  if (nonEmpty <= 1) return only ?? [];
  const joined: Signal[] = [];
  for (const part of parts) for (const signal of part) joined.push(signal);
  return joined;
}

function awaitsOutcome(endpoint: CompiledEndpoint): boolean {
  return endpoint.authentication || endpoint.registration || endpoint.resourceSegment !== undefined;
}

/** A pass token is checked in memory (two HMACs): it never costs a store round trip. */
function passSignals(passes: PassChecker | undefined, request: NormalisedRequest, endpoint: CompiledEndpoint | undefined, policy: CompiledPolicy): Signal[] {
  const pow = policy.challenge.proofOfWork;
  if (!passes || !pow || request.passToken === undefined) return [];
  const context = { headers: request.headers, network: request.subnet, endpointClass: endpoint?.sensitivity ?? "none", nowMs: request.timeMs } as const;
  return passes.signals(request.passToken, context, pow);
}

const NO_SIGNALS: Signal[] = [];

/** Bad input is not an error: it is a weightless signal that rules may act on. */
function anomalySignals(request: NormalisedRequest): Signal[] {
  if (request.anomalies.length === 0) return NO_SIGNALS;
  return request.anomalies.map((code) => ({ code: `input.${code}`, value: 1, weight: 0, fired: true }));
}

/**
 * Login, registration and catalogue requests get their outcome from the access log. Allowed
 * logins and catalogue reads count towards the site-wide baseline; logins and registrations are
 * also kept until their outcome arrives (a registration's teaches only the account's history).
 */
function awaitOutcome(
  detection: DetectionState,
  endpoint: CompiledEndpoint,
  request: NormalisedRequest,
  attribution: NonNullable<Decision["attribution"]>,
  decision: Decision,
): void {
  const allowed = !isDenial(decision.action);
  if (allowed && !endpoint.registration) detection.site.recordAttempt(endpoint.name, request.headerShape, request.timeMs);
  const sessionless = decision.reasons.some((r) => r.code === "client.no_session");
  const bareSession = decision.reasons.some((r) => r.code === "session.bare_login");
  // Denied during a campaign: what keeps the campaign in force while its logins are denied. A
  // login denied on other evidence (an address held for its own failures) does not hold it.
  if (!allowed && endpoint.authentication) {
    if (decision.reasons.some((r) => r.code === "site.campaign")) detection.site.recordDenied(endpoint.name, attribution.usernameId, bareSession ? "bare" : undefined);
    else if (attribution.usernameId && decision.reasons.some((r) => r.code === "site.campaign_early")) {
      detection.site.recordDeniedEarly(endpoint.name, attribution.usernameId, request.timeMs, sessionless);
    }
  }
  if (endpoint.authentication && decision.action === "step_up" && !sessionless && request.usernameId) {
    detection.site.recordSteppedUp(endpoint.name, request.usernameId, request.timeMs);
  }
  if (endpoint.authentication || endpoint.registration) {
    // One literal, no spread of the attribution: each key set after a spread costs about a microsecond (bench/spread-cost.ts).
    const context: EveryKey<AttemptContext> = {
      endpoint: endpoint.name,
      ipId: attribution.ipId,
      subnet: attribution.subnet,
      usernameId: attribution.usernameId,
      fingerprintId: attribution.fingerprintId,
      deviceId: attribution.deviceId,
      headerShape: attribution.headerShape,
      country: attribution.country,
      location: request.location,
      timeMs: request.timeMs,
      allowed,
      steppedUp: decision.action === "step_up",
      sessionless,
      bareSession,
      challenged: decision.action === "challenge",
    };
    detection.recent.remember(request.requestId, context);
  }
}

function attributionOf(request: NormalisedRequest): EveryKey<NonNullable<Decision["attribution"]>> {
  return {
    ipId: request.ipId,
    subnet: request.subnet,
    usernameId: request.usernameId,
    fingerprintId: request.fingerprintId,
    deviceId: request.deviceId,
    headerShape: request.headerShape,
    country: request.country,
    place: request.location && `${request.location.latitude.toFixed(1)},${request.location.longitude.toFixed(1)}`,
  };
}
