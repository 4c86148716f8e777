import { systemClock, type Clock } from "../domain/clock.js";
import type { Store } from "../state/store.js";
import type { DomainConfig, RateLimitConfig } from "./config.js";
import { countPlans, type Counted } from "./count.js";
import { answerAsEnvoyproxy, overallCodeOf, passedMetadata } from "./envoyproxy.js";
import { rateLimitHeaders } from "./headers.js";
import { OverLimitCache } from "./over-limit-cache.js";
import { evaluate, exceeds, failedClosed, type DescriptorResult, type LimitedPlan } from "./evaluate.js";
import { applyReplaces, planDescriptor, type CounterPseudonymiser, type Plan, type StatsKeys } from "./descriptor-plan.js";
import {
  RateLimitRequestError,
  RateLimitUnavailableError,
  UNLIMITED_REMAINING,
  type DecisionMetadata,
  type DescriptorStatus,
  type RateLimitDecision,
  type RateLimitRequest,
} from "./request.js";

/** What statistics see of one descriptor that a limit applied to (envoyproxy/ratelimit's stats). */
export interface DescriptorEvent extends StatsKeys {
  domain: string;
  hits: number;
  overLimit: boolean;
  nearLimitHits: number;
  shadowMode: boolean;
  /** Answered from the local over-limit cache, without the store. */
  fromCache: boolean;
}

/** The hooks metrics and logs attach to; the core knows no metrics library. */
export interface RateLimitObserver {
  descriptor(event: DescriptorEvent): void;
  unknownDomain(domain: string): void;
  /** The store could not answer for `domain`, and its failure_mode decided. */
  storeUnavailable(domain: string, failureMode: DomainConfig["failureMode"]): void;
}

export interface RateLimiterOptions {
  /** The configuration in force, read once per request (hot reload swaps it). */
  config: () => RateLimitConfig;
  store: Store;
  /** Keyed pseudonyms for counter identities (Palisade's HMAC pseudonymiser in the service). */
  pseudonymise: CounterPseudonymiser;
  /** RateLimitRequests carry no time, so windows run on the local clock. */
  clock?: Clock;
  cache?: OverLimitCache;
  observer?: RateLimitObserver;
  /** Answer exactly as envoyproxy/ratelimit does (see envoyproxy.ts) instead of with Palisade's semantics. */
  compat?: "none" | "envoyproxy";
  /** With compat envoyproxy: its STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT. */
  stopIncrementWhenOverLimit?: boolean;
}

/** Envoy sends one descriptor per matching route rate limit: a handful. More is a misconfiguration. */
export const MAX_DESCRIPTORS = 64;

/** No limit applied to this descriptor: no rule, replaced, or not evaluated. */
const NO_LIMIT: DescriptorStatus = { code: "OK", limitRemaining: 0 };

/** Unlimited descriptors answer OK with the most remaining a uint32 can say, as envoyproxy/ratelimit does. */
const UNLIMITED: DescriptorStatus = { code: "OK", limitRemaining: UNLIMITED_REMAINING };

/**
 * ShouldRateLimit, without protobuf: match each descriptor, answer from the local over-limit
 * cache when that already decides, else count every limited descriptor in the store at once
 * (denied requests count nothing), and build Envoy's answer.
 */
export class RateLimiter {
  readonly #options: RateLimiterOptions;
  readonly #clock: Clock;
  readonly #cache: OverLimitCache;

  constructor(options: RateLimiterOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#cache = options.cache ?? new OverLimitCache();
  }

  async shouldRateLimit(request: RateLimitRequest): Promise<RateLimitDecision> {
    assertValidRequest(request);
    const nowMs = this.#clock.now();
    const domain = this.#options.config().domains.get(request.domain);
    if (this.#options.compat === "envoyproxy") return this.#answerAsEnvoyproxy(domain, request, nowMs);
    if (!domain) {
      // envoyproxy/ratelimit's answer too: a domain nobody configured limits nothing.
      this.#options.observer?.unknownDomain(request.domain);
      return decide(request.domain, [], request.descriptors.map(() => NO_LIMIT), {});
    }
    const planned: Plan[] = [];
    for (const descriptor of request.descriptors) planned.push(planDescriptor(domain, descriptor, request.hits, this.#options.pseudonymise));
    const plans = applyReplaces(planned);
    // The cache's answers, then the store's for the rest: one await between them, no promise of their own.
    const pending = this.#beforeCounting(plans, nowMs);
    const counts = await countPlans(this.#options.store, pending.asked, nowMs);
    const evaluations = this.#evaluate(domain, plans, pending, counts, nowMs);
    return decide(domain.domain, plans, evaluations.statuses, metadataOf(plans, evaluations));
  }

  async #answerAsEnvoyproxy(domain: DomainConfig | undefined, request: RateLimitRequest, nowMs: number): Promise<RateLimitDecision> {
    if (!domain) this.#options.observer?.unknownDomain(request.domain);
    const plans = domain
      ? applyReplaces(request.descriptors.map((descriptor) => planDescriptor(domain, descriptor, request.hits, this.#options.pseudonymise, "file")))
      : request.descriptors.map((): Plan => ({ kind: "none" }));
    const options = { stopIncrementWhenOverLimit: this.#options.stopIncrementWhenOverLimit ?? false };
    const { decision, counted } = await answerAsEnvoyproxy(this.#options.store, domain, request, plans, nowMs, options);
    for (const { plan, overLimit, nearLimitHits } of counted) this.#observe(domain!, plan, { status: NO_LIMIT, overLimit, nearLimitHits });
    for (const plan of plans) if (plan.kind === "unlimited") this.#observe(domain!, plan, undefined);
    return decision;
  }

  /** The limited plans the cache answers, and what the store is asked for the others. */
  #beforeCounting(plans: Plan[], nowMs: number): Pending {
    // One result per plan, by index: undefined where no limit was evaluated.
    const results = new Array<DescriptorResult | undefined>(plans.length);
    const pending: LimitedPlan[] = [];
    const pendingAt: number[] = [];
    // A request the cache already denies counts nowhere else either; the other descriptors' counts
    // are only read, so that each still reports its own limit and what remains of it.
    let deniedLocally = false;
    for (let i = 0; i < plans.length; i++) {
      const plan = plans[i]!;
      if (plan.kind !== "limited") continue;
      const cached = this.#fromCache(plan, nowMs);
      if (cached === undefined) {
        pending.push(plan);
        pendingAt.push(i);
      } else {
        results[i] = cached;
        if (cached.status.code === "OVER_LIMIT") deniedLocally = true;
      }
    }
    const asked = deniedLocally ? pending.map((plan) => ({ ...plan, hits: 0 })) : pending;
    return { results, pending, pendingAt, deniedLocally, asked };
  }

  /** Every plan's evaluation once the store has counted the pending ones (`counts`, as asked). */
  #evaluate(domain: DomainConfig, plans: Plan[], { results, pending, pendingAt, deniedLocally }: Pending, counts: Counted[], nowMs: number): Evaluations {
    let degraded = false;
    for (const counted of counts) if (!counted.ok || counted.degraded) degraded = true;
    if (degraded) this.#options.observer?.storeUnavailable(domain.domain, domain.failureMode);
    for (let p = 0; p < pending.length; p++) {
      const counted = counts[p]!;
      results[pendingAt[p]!] = this.#fromStore(domain, pending[p]!, counted.ok && deniedLocally ? { ...counted, counted: false } : counted, nowMs);
    }
    const statuses: DescriptorStatus[] = [];
    for (let i = 0; i < plans.length; i++) {
      this.#observe(domain, plans[i]!, results[i]);
      statuses.push(statusOf(plans[i]!, results[i]));
    }
    return { statuses, results, degraded };
  }

  /** The plan's evaluation when the cache alone shows it over its limit, else undefined. */
  #fromCache(plan: LimitedPlan, nowMs: number): DescriptorResult | undefined {
    if (this.#cache.knowsNothingAt(nowMs)) return undefined; // nothing over its limit anywhere: no look-ups
    const bounds = plan.windows.map((planned) => this.#cache.lowerBound(plan.entity, planned.counterSuffix, nowMs));
    const knownOver = plan.windows.some((planned, i) => bounds[i] !== undefined && exceeds(bounds[i]!, plan.hits, planned.limit));
    return knownOver ? { ...evaluate(plan, bounds.map((bound) => bound ?? 0), false, nowMs), fromCache: true } : undefined;
  }

  /** The plan's evaluation from the store's answer; undefined when it goes unevaluated (fail open). */
  #fromStore(domain: DomainConfig, plan: LimitedPlan, counted: Counted, nowMs: number): DescriptorResult | undefined {
    const trusted = counted.ok && (!counted.degraded || domain.failureMode === "local");
    if (counted.ok && trusted) {
      const evaluation = evaluate(plan, counted.befores, counted.counted, nowMs);
      if (!counted.degraded) this.#rememberOver(plan, counted.befores, nowMs);
      return evaluation;
    }
    switch (domain.failureMode) {
      case "open":
        return undefined;
      case "closed":
        return failedClosed(plan, nowMs);
      case "error":
      case "local": {
        const cause = counted.ok ? undefined : counted.error;
        throw new RateLimitUnavailableError(`the store cannot count for domain "${domain.domain}"`, { cause });
      }
      default: {
        const unknown: never = domain.failureMode;
        throw new Error(`unknown failure mode ${String(unknown)}`);
      }
    }
  }

  #rememberOver(plan: LimitedPlan, befores: readonly number[], nowMs: number): void {
    plan.windows.forEach((planned, i) => {
      if (exceeds(befores[i]!, plan.hits, planned.limit)) this.#cache.remember(plan.entity, planned.counterSuffix, planned.window, befores[i]!, nowMs);
    });
  }

  #observe(domain: DomainConfig, plan: Plan, evaluation: DescriptorResult | undefined): void {
    const observer = this.#options.observer;
    if (!observer || plan.kind === "none") return;
    if (plan.kind === "limited" && !evaluation) return; // not evaluated: nothing happened to it
    const { statsKey, rollupStatsKey, hits } = plan;
    observer.descriptor({
      domain: domain.domain,
      statsKey,
      rollupStatsKey,
      hits,
      overLimit: evaluation?.overLimit ?? false,
      nearLimitHits: evaluation?.nearLimitHits ?? 0,
      shadowMode: plan.kind === "limited" && plan.shadowMode,
      fromCache: evaluation?.fromCache ?? false,
    });
  }
}

interface Pending {
  /** By plan index, the cache's answers so far. */
  results: (DescriptorResult | undefined)[];
  /** The limited plans the cache did not answer, and their indexes among all plans. */
  pending: LimitedPlan[];
  pendingAt: number[];
  deniedLocally: boolean;
  /** What the store is asked: the pending plans, without hits when the cache denied the request. */
  asked: LimitedPlan[];
}

interface Evaluations {
  statuses: DescriptorStatus[];
  /** By plan index; undefined where no limit was evaluated. */
  results: (DescriptorResult | undefined)[];
  degraded: boolean;
}

function statusOf(plan: Plan, evaluation: DescriptorResult | undefined): DescriptorStatus {
  if (plan.kind === "unlimited") return UNLIMITED;
  return evaluation?.status ?? NO_LIMIT;
}

function metadataOf(plans: readonly Plan[], evaluations: Evaluations): Omit<DecisionMetadata, "domain"> {
  // One pass, and nothing built when no plan has a risk, metadata or shadow mode (the usual case).
  let risk: number | undefined;
  let shadowOver = false;
  let withMetadata = false;
  for (let i = 0; i < plans.length; i++) {
    const plan = plans[i]!;
    if (plan.kind !== "limited") continue;
    if (plan.risk !== undefined && (risk === undefined || plan.risk > risk)) risk = plan.risk;
    if (plan.shadowMode && evaluations.results[i]?.overLimit) shadowOver = true;
    if (plan.metadata) withMetadata = true;
  }
  const metadata: Omit<DecisionMetadata, "domain"> = {};
  if (withMetadata) {
    const configured = passedMetadata(plans, evaluations.statuses);
    if (Object.keys(configured).length > 0) metadata.metadata = configured;
  }
  if (risk !== undefined) metadata.risk = risk;
  if (evaluations.degraded) metadata.degraded = true;
  if (shadowOver) metadata.shadow_over_limit = true;
  return metadata;
}

function decide(domain: string, plans: readonly Plan[], statuses: DescriptorStatus[], metadata: Omit<DecisionMetadata, "domain">): RateLimitDecision {
  return {
    overallCode: plans.length === 0 ? "OK" : overallCodeOf(plans, statuses),
    statuses,
    responseHeaders: rateLimitHeaders(statuses),
    metadata: { domain, ...metadata },
  };
}

/** envoyproxy/ratelimit refuses these too; Envoy itself never sends them. */
function assertValidRequest(request: RateLimitRequest): void {
  if (request.domain === "") throw new RateLimitRequestError("rate limit domain must not be empty");
  if (request.descriptors.length === 0) throw new RateLimitRequestError("rate limit descriptor list must not be empty");
  if (request.descriptors.length > MAX_DESCRIPTORS) {
    throw new RateLimitRequestError(`at most ${MAX_DESCRIPTORS} descriptors per request, got ${request.descriptors.length}`);
  }
}
