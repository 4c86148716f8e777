import { status as GrpcStatus } from "@grpc/grpc-js";
import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { withSpan } from "./tracing.js";

/**
 * What transports tell telemetry about each decision: one span around the pipeline, then
 * metrics and a debug log line per decision or failure. Only pseudonyms and policy names are
 * recorded, never raw identifiers.
 */
export interface DecisionObserver {
  /** Runs the pipeline inside a `palisade.check` span annotated with the decision. */
  traceCheck<T extends { decision: Decision }>(evaluate: () => Promise<T>): Promise<T>;
  /** Counts a decision, its shadow matches and input anomalies; `startedNs` from process.hrtime.bigint(). */
  decided(decision: Decision, request: NormalisedRequest, transport: string, startedNs: bigint): void;
  /** Counts and logs a failed decision; returns the gRPC status to answer with. */
  failed(error: unknown, transport: string, startedNs: bigint): GrpcStatus;
}

/**
 * The one table from error codes to gRPC statuses. UNAVAILABLE for failures a retry may cure
 * (StoreUnavailableError, DecisionUnavailableError, RateLimitUnavailableError), so Envoy's
 * failure_mode_allow / failure_mode_deny and retry policies apply as the operator chose;
 * INVALID_ARGUMENT for requests no service could answer (RateLimitRequestError).
 */
const GRPC_STATUS_BY_CODE: ReadonlyMap<string, GrpcStatus> = new Map([
  ["store.unavailable", GrpcStatus.UNAVAILABLE],
  ["decision.unavailable", GrpcStatus.UNAVAILABLE],
  ["ratelimit.invalid_request", GrpcStatus.INVALID_ARGUMENT],
]);

/** The status for an error by its code; INTERNAL for bugs, which no retry fixes. */
export function grpcStatusFor(error: unknown): GrpcStatus {
  const code = (error as { code?: unknown } | null)?.code;
  return (typeof code === "string" && GRPC_STATUS_BY_CODE.get(code)) || GrpcStatus.INTERNAL;
}

function secondsSince(startedNs: bigint): number {
  return Number(process.hrtime.bigint() - startedNs) / 1e9;
}

function spanAttributes(decision: Decision): Record<string, string | number | boolean> {
  return {
    "palisade.decision_id": decision.decisionId,
    "palisade.action": decision.action,
    "palisade.risk": decision.risk,
    "palisade.rule": decision.rule ?? "none",
    "palisade.endpoint": decision.endpoint ?? "none",
    "palisade.policy_version": decision.policyVersion,
    "palisade.degraded": decision.degraded,
  };
}

export function createDecisionObserver(deps: { metrics: Metrics; logger: Logger }): DecisionObserver {
  const { metrics, logger } = deps;
  return {
    traceCheck: (evaluate) =>
      withSpan("palisade.check", {}, async (span) => {
        const evaluation = await evaluate();
        span.setAttributes(spanAttributes(evaluation.decision));
        return evaluation;
      }),

    decided(decision, request, transport, startedNs) {
      metrics.decisionDuration.observe({ transport }, secondsSince(startedNs));
      metrics.recordDecision({ ...decision, shadow: decision.shadowed.length > 0 });
      for (const shadowed of decision.shadowed) metrics.shadowDecisions.inc(shadowed);
      for (const code of request.anomalies) metrics.requestAnomalies.inc({ code });
      // Enforcements and shadow matches are what analysts read afterwards; plain allows are noise.
      const level = decision.action === "allow" && decision.shadowed.length === 0 ? "debug" : "info";
      logger[level](
        {
          decisionId: decision.decisionId,
          action: decision.action,
          risk: decision.risk,
          rule: decision.rule,
          endpoint: decision.endpoint,
          subject: decision.subject,
          reasons: decision.reasons.map((reason) => reason.code),
          degraded: decision.degraded,
        },
        "decided",
      );
    },

    failed(error, transport, startedNs) {
      const status = grpcStatusFor(error);
      metrics.grpcErrors.inc({ service: transport, code: GrpcStatus[status] });
      logger.warn({ err: error, transport, ms: secondsSince(startedNs) * 1000 }, "no decision");
      return status;
    },
  };
}
