import type { RateLimitDecision } from "../ratelimit/request.js";
import type { DecisionObserver } from "./decision-observer.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";

/** What the ShouldRateLimit transport reports per call. */
export interface RateLimitTelemetry {
  answered(decision: RateLimitDecision, startedNs: bigint): void;
  /** Counts and logs a failed call, under the status the transport answers with. */
  failed(error: unknown, startedNs: bigint, status: string): void;
}

export function createRateLimitTelemetry(deps: { metrics: Metrics; logger: Logger; decisions: DecisionObserver }): RateLimitTelemetry {
  const { metrics, logger, decisions } = deps;
  const duration = metrics.decisionDuration.labels({ transport: "ratelimit" }); // built once, not per call
  return {
    answered(decision, startedNs) {
      duration.observe(Number(process.hrtime.bigint() - startedNs) / 1e9);
      if (decision.overallCode === "OVER_LIMIT" || decision.metadata.shadow_over_limit) {
        logger.debug({ domain: decision.metadata.domain, overallCode: decision.overallCode, risk: decision.metadata.risk }, "rate limited");
      }
    },
    failed: (error, startedNs, status) => decisions.failed(error, "ratelimit", startedNs, status),
  };
}
