import { applyBatchWithStatus } from "../state/resilient-store.js";
import { assertValidApply, StoreUnavailableError, type Store, type WindowTake } from "../state/store.js";
import type { DomainConfig } from "./config.js";
import { groupByEntity } from "./count.js";
import type { LimitedPlan } from "./evaluate.js";
import { NEAR_LIMIT_RATIO } from "./evaluate.js";
import type { Plan, PlannedWindow } from "./descriptor-plan.js";
import {
  RateLimitUnavailableError,
  UNLIMITED_REMAINING,
  type DescriptorStatus,
  type RateLimitDecision,
  type RateLimitRequest,
} from "./request.js";

/**
 * `ratelimitCompat: envoyproxy`: ShouldRateLimit answered as envoyproxy/ratelimit answers it with
 * its Redis cache (no local cache), field for field, so a deployment can swap it for Palisade
 * without a single answer changing. Written from that project's documented behaviour and
 * source; what it does differently from Palisade's own semantics is listed in docs/ratelimit.md.
 *
 * - Fixed windows aligned to the Unix epoch in whole seconds; `duration_until_reset` is the
 *   whole seconds to the window's end.
 * - Every hit is counted, allowed or not (Redis INCRBY), except with stopIncrementWhenOverLimit:
 *   then, when any descriptor would go over, only the ones going over are counted.
 * - A descriptor is over when its count after the hits exceeds the limit (a check with 0 hits
 *   is over only beyond the limit); over, it reports 0 remaining; shadow mode answers OK.
 * - quota_mode descriptors deny the request only when all of them are over.
 * - `x-ratelimit-*` headers as envoyproxy/ratelimit sends them with LIMIT_RESPONSE_HEADERS_ENABLED
 *   (and these header names): from the last descriptor over its limit, else the first with the
 *   fewest remaining; the limit header is the bare number.
 * - Dynamic metadata as with RESPONSE_DYNAMIC_METADATA: domain, descriptors, hitsAddend and the
 *   `metadata` of every descriptor that passed.
 */
export interface EnvoyproxyOptions {
  /** envoyproxy's STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT. */
  stopIncrementWhenOverLimit: boolean;
}

/** What statistics see of one counted descriptor. */
export interface EnvoyproxyCounted {
  plan: LimitedPlan;
  overLimit: boolean;
  nearLimitHits: number;
}

/** One fixed-window counter of one descriptor. */
interface Counter {
  plan: LimitedPlan;
  planned: PlannedWindow;
  /** The count after this request's increment (or without it, when it was not counted). */
  after: number;
}

/** Takes never refuse here: envoyproxy/ratelimit counts every hit. */
const NEVER_FULL = Number.MAX_SAFE_INTEGER;

export async function answerAsEnvoyproxy(
  store: Store,
  domain: DomainConfig | undefined,
  request: RateLimitRequest,
  plans: readonly Plan[],
  nowMs: number,
  options: EnvoyproxyOptions,
): Promise<{ decision: RateLimitDecision; counted: EnvoyproxyCounted[] }> {
  const limited = plans.filter((plan): plan is LimitedPlan => plan.kind === "limited");
  const counters = domain ? await countAll(store, domain, limited, nowMs, options) : [];
  const nowS = Math.floor(nowMs / 1000);
  const statuses: DescriptorStatus[] = [];
  const counted: EnvoyproxyCounted[] = [];
  for (const plan of plans) {
    if (plan.kind === "none") statuses.push({ code: "OK", limitRemaining: 0 });
    else if (plan.kind === "unlimited") statuses.push({ code: "OK", limitRemaining: UNLIMITED_REMAINING });
    else {
      const mine = counters.filter((counter) => counter.plan === plan);
      const { status, overLimit, nearLimitHits } = statusOf(plan, mine, nowS);
      statuses.push(status);
      counted.push({ plan, overLimit, nearLimitHits });
    }
  }
  const overallCode = overallCodeOf(plans, statuses);
  const shadowOver = counted.some(({ plan, overLimit }) => overLimit && plan.shadowMode);
  const decision: RateLimitDecision = {
    overallCode,
    statuses,
    responseHeaders: headers(plans, statuses),
    metadata: { domain: request.domain, ...(shadowOver ? { shadow_over_limit: true } : {}) },
    envoyMetadata: dynamicMetadata(request, plans, statuses),
  };
  return { decision, counted };
}

/**
 * Counts every window of every limited descriptor, one apply() per counter entity, in parallel:
 * envoyproxy/ratelimit's one pipeline. With stopIncrementWhenOverLimit it reads first, as that
 * project does (a GET pipeline, then INCRBY only where it decides to count).
 */
async function countAll(store: Store, domain: DomainConfig, plans: readonly LimitedPlan[], nowMs: number, options: EnvoyproxyOptions): Promise<Counter[]> {
  const windows = plans.flatMap((plan) => plan.windows.map((planned) => ({ plan, planned })));
  let amounts = windows.map(({ plan }) => plan.hits);
  if (options.stopIncrementWhenOverLimit) {
    const current = await takeAll(store, domain, windows, windows.map(() => 0), nowMs);
    const goingOver = windows.map(({ plan, planned }, i) => current[i]! + plan.hits > planned.limit);
    // Once one counter would go over, only the counters going over are counted.
    if (goingOver.some(Boolean)) amounts = amounts.map((hits, i) => (goingOver[i] ? hits : 0));
  }
  const befores = await takeAll(store, domain, windows, amounts, nowMs);
  return windows.map(({ plan, planned }, i) => ({ plan, planned, after: befores[i]! + amounts[i]! }));
}

/** The count before each take; a store that cannot answer decides as the domain's failure_mode says. */
async function takeAll(
  store: Store,
  domain: DomainConfig,
  windows: readonly { plan: LimitedPlan; planned: PlannedWindow }[],
  amounts: readonly number[],
  nowMs: number,
): Promise<number[]> {
  const byEntity = groupByEntity(windows.map((_, i) => i), (i) => windows[i]!.plan.entity);
  const batches = [...byEntity].map(([entity, indexes]) => ({
    entity,
    indexes,
    ops: indexes.map((i): WindowTake => {
      const { window } = windows[i]!.planned;
      return { op: "window.take", name: window.role, windowMs: window.windowMs, algorithm: "fixed", limit: NEVER_FULL, amount: amounts[i]! };
    }),
  }));
  const results = await applyOrFail(store, domain, batches, nowMs);
  const befores = windows.map(() => 0);
  batches.forEach(({ indexes }, b) => indexes.forEach((index, j) => (befores[index] = results[b]![j]!)));
  return befores;
}

/** All entities' takes in one store call where the store allows. */
async function applyOrFail(store: Store, domain: DomainConfig, batches: readonly { entity: string; ops: WindowTake[] }[], nowMs: number): Promise<number[][]> {
  for (const batch of batches) assertValidApply(batch.entity, batch.ops, nowMs); // a bug rejects, as before
  try {
    const { results, degraded } = await applyBatchWithStatus(store, batches, nowMs);
    if (!degraded || domain.failureMode === "local") return results as number[][];
    throw new StoreUnavailableError("the store answered from a fallback");
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    // envoyproxy/ratelimit answers a Redis failure with an error; so does the default failure_mode.
    if (domain.failureMode === "open") return batches.map(({ ops }) => ops.map(() => 0));
    if (domain.failureMode === "closed") return batches.map(({ ops }) => ops.map(() => NEVER_FULL));
    throw new RateLimitUnavailableError(`the store cannot count for domain "${domain.domain}"`, { cause: error });
  }
}

function statusOf(plan: LimitedPlan, counters: readonly Counter[], nowS: number): { status: DescriptorStatus; overLimit: boolean; nearLimitHits: number } {
  const states = counters.map(({ planned, after }) => {
    const seconds = planned.window.windowMs / 1000;
    return { planned, after, over: after > planned.limit, remaining: Math.max(0, planned.limit - after), resetS: seconds - (nowS % seconds) };
  });
  const overLimit = states.some((state) => state.over);
  const binding =
    states.find((state) => state.over) ??
    states.reduce((best, state) => (state.remaining < best.remaining || (state.remaining === best.remaining && state.resetS > best.resetS) ? state : best));
  const { planned } = binding;
  const status: DescriptorStatus = {
    code: overLimit && !plan.shadowMode ? "OVER_LIMIT" : "OK",
    currentLimit: {
      ...(plan.ruleName === undefined ? {} : { name: plan.ruleName }),
      requestsPerUnit: planned.limit,
      unit: planned.window.unit,
      windowMs: planned.window.windowMs,
    },
    limitRemaining: overLimit ? 0 : binding.remaining,
    durationUntilResetMs: binding.resetS * 1000,
  };
  const nearThreshold = Math.floor(planned.limit * NEAR_LIMIT_RATIO);
  const nearLimitHits = overLimit || binding.after <= nearThreshold ? 0 : Math.min(plan.hits, binding.after - nearThreshold);
  return { status, overLimit, nearLimitHits };
}

/** OVER_LIMIT when a plain limit is over, or when every quota_mode limit of the request is (both modes). */
export function overallCodeOf(plans: readonly Plan[], statuses: readonly DescriptorStatus[]): RateLimitDecision["overallCode"] {
  // One pass, nothing built: this runs for every ShouldRateLimit.
  let plainOver = false;
  let quotas = 0;
  let quotasOver = 0;
  plans.forEach((plan, i) => {
    if (plan.kind !== "limited") return;
    const over = statuses[i]!.code === "OVER_LIMIT";
    if (!plan.quotaMode) plainOver ||= over;
    else {
      quotas++;
      if (over) quotasOver++;
    }
  });
  return plainOver || (quotas > 0 && quotasOver === quotas) ? "OVER_LIMIT" : "OK";
}

/** From the last plain descriptor over its limit, else from the first with the fewest remaining. */
function headers(plans: readonly Plan[], statuses: readonly DescriptorStatus[]): [string, string][] {
  let chosen: DescriptorStatus | undefined;
  let fewest = UNLIMITED_REMAINING;
  statuses.forEach((status, i) => {
    const plan = plans[i]!;
    if (status.currentLimit && status.limitRemaining < fewest) {
      chosen = status;
      fewest = status.limitRemaining;
    }
    if (plan.kind === "limited" && !plan.quotaMode && status.code === "OVER_LIMIT") {
      chosen = status;
      fewest = 0;
    }
  });
  if (!chosen?.currentLimit) return [];
  return [
    ["x-ratelimit-limit", String(chosen.currentLimit.requestsPerUnit)],
    ["x-ratelimit-remaining", String(chosen.limitRemaining)],
    ["x-ratelimit-reset", String(Math.round((chosen.durationUntilResetMs ?? 0) / 1000))],
  ];
}

/** envoyproxy/ratelimit's RESPONSE_DYNAMIC_METADATA, but for a request's limit override (whose text form that project does not fix). */
function dynamicMetadata(request: RateLimitRequest, plans: readonly Plan[], statuses: readonly DescriptorStatus[]): Record<string, unknown> {
  const descriptors = request.descriptors.map((descriptor) => ({
    entries: descriptor.entries.map((entry) => `${entry.key}=${entry.value}`),
    ...(descriptor.hits === undefined ? {} : { hitsAddend: descriptor.hits }),
  }));
  const passed = passedMetadata(plans, statuses);
  return {
    domain: request.domain,
    descriptors,
    ...(request.hits === 0 ? {} : { hitsAddend: request.hits }),
    ...(Object.keys(passed).length > 0 ? { metadata: passed } : {}),
  };
}

/** The configured `metadata` of every limited descriptor that passed, merged in request order (both modes). */
export function passedMetadata(plans: readonly Plan[], statuses: readonly DescriptorStatus[]): Record<string, unknown> {
  const passed: Record<string, unknown> = {};
  plans.forEach((plan, i) => {
    if (plan.kind === "limited" && plan.metadata && statuses[i]!.code !== "OVER_LIMIT") mergeMetadata(passed, plan.metadata);
  });
  return passed;
}

/** Adds `source` to `into`: keys already there stay, except that two mappings merge. */
function mergeMetadata(into: Record<string, unknown>, source: Readonly<Record<string, unknown>>): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = into[key];
    if (existing === undefined) into[key] = isMapping(value) ? structuredClone(value) : value;
    else if (isMapping(existing) && isMapping(value)) mergeMetadata(existing, value);
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
