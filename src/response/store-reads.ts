import type { SignalPlan } from "../detection/signal.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import { planRelief } from "./relief.js";
import { planAdaptiveLimits } from "./throttle.js";

/** What the response engine reads in each Check's store batch: adaptive-limit counters and friction relief. */
export function planResponse(request: NormalisedRequest, endpoint: CompiledEndpoint, policy: CompiledPolicy): readonly [limits: SignalPlan, relief: SignalPlan] {
  return [planAdaptiveLimits(request, endpoint, policy), planRelief(request)];
}
