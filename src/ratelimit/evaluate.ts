import type { Plan, PlannedWindow } from "./descriptor-plan.js";
import type { CurrentLimit, DescriptorStatus } from "./request.js";

export type LimitedPlan = Extract<Plan, { kind: "limited" }>;

/** One evaluated descriptor: its status, and what statistics need to know about it. */
export interface DescriptorResult {
  status: DescriptorStatus;
  /** The limit was exceeded (whether or not shadow mode let the request pass). */
  overLimit: boolean;
  /** Hits that took a counter past NEAR_LIMIT_RATIO of its limit without exceeding it. */
  nearLimitHits: number;
  /** Decided by the local over-limit cache, without the store. */
  fromCache?: boolean;
}

/** envoyproxy/ratelimit's default NEAR_LIMIT_RATIO. */
export const NEAR_LIMIT_RATIO = 0.8;

/**
 * Whether `hits` more would exceed `limit` at `count`. A check without hits (Envoy sends a cost
 * of 0 to look before it counts) exceeds when not even one more request fits.
 */
export function exceeds(count: number, hits: number, limit: number): boolean {
  return hits > 0 ? count + hits > limit : count >= limit;
}

/**
 * A descriptor's status from the counts before this request (`befores`, one per window) and
 * whether the request was counted. The window that binds is the one with the fewest requests
 * remaining, and of those the one that resets last: that is when the client may retry.
 */
export function evaluate(plan: LimitedPlan, befores: readonly number[], counted: boolean, nowMs: number): DescriptorResult {
  // One pass over the windows (usually one): this runs for every limited descriptor of every call.
  let overLimit = false;
  let binding: WindowState | undefined;
  let nearLimitHits = 0;
  for (let i = 0; i < plan.windows.length; i++) {
    const window = windowState(plan.windows[i]!, befores[i]!, plan.hits, counted, nowMs);
    if (window.exceeded) overLimit = true;
    if (binding === undefined || window.remaining < binding.remaining || (window.remaining === binding.remaining && window.resetMs > binding.resetMs)) binding = window;
    if (window.nearLimitHits > nearLimitHits) nearLimitHits = window.nearLimitHits;
  }
  return { status: status(plan, binding!, overLimit), overLimit, nearLimitHits: overLimit ? 0 : nearLimitHits };
}

/** The status of a descriptor the store could not count and the domain fails closed for. */
export function failedClosed(plan: LimitedPlan, nowMs: number): DescriptorResult {
  const binding = { ...windowState(plan.windows[0]!, 0, plan.hits, false, nowMs), remaining: 0 };
  return { status: status(plan, binding, true), overLimit: true, nearLimitHits: 0 };
}

interface WindowState {
  planned: PlannedWindow;
  exceeded: boolean;
  remaining: number;
  resetMs: number;
  nearLimitHits: number;
}

function windowState(planned: PlannedWindow, before: number, hits: number, counted: boolean, nowMs: number): WindowState {
  const { limit, window } = planned;
  const after = counted ? before + hits : before;
  const nearThreshold = Math.floor(limit * NEAR_LIMIT_RATIO);
  return {
    planned,
    exceeded: exceeds(before, hits, limit),
    remaining: Math.max(0, Math.floor(limit - after)),
    resetMs: window.windowMs - (nowMs % window.windowMs),
    nearLimitHits: counted && after > nearThreshold ? Math.min(hits, Math.ceil(after - nearThreshold)) : 0,
  };
}

function status(plan: LimitedPlan, binding: WindowState, overLimit: boolean): DescriptorStatus {
  const { window, limit } = binding.planned;
  const currentLimit: CurrentLimit =
    plan.ruleName === undefined
      ? { requestsPerUnit: limit, unit: window.unit, windowMs: window.windowMs }
      : { name: plan.ruleName, requestsPerUnit: limit, unit: window.unit, windowMs: window.windowMs };
  return {
    code: overLimit && !plan.shadowMode ? "OVER_LIMIT" : "OK",
    currentLimit,
    limitRemaining: binding.remaining,
    durationUntilResetMs: binding.resetMs,
  };
}
