import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { SpanKind, parentContext, tracingOff, withSpan, type TraceCarrier } from "./tracing.js";

/**
 * What transports tell telemetry about each decision: one span around the pipeline, then
 * metrics and a debug log line per decision or failure. Only pseudonyms and policy names are
 * recorded, never raw identifiers.
 */
export interface DecisionObserver {
  /**
   * Runs the pipeline inside a `palisade.check` span annotated with the decision, continuing the
   * trace found in `carriers` (Envoy's call metadata, then the checked request's headers). With
   * tracing off it runs the pipeline alone: no span, and the carriers are never built.
   */
  traceCheck<T extends { decision: Decision }>(evaluate: () => Promise<T>, carriers?: () => readonly TraceCarrier[]): Promise<T>;
  /** Counts a decision, its shadow matches and input anomalies; `startedNs` from process.hrtime.bigint(). */
  decided(decision: Decision, request: NormalisedRequest, transport: string, startedNs: bigint): void;
  /** Counts and logs a failed decision, under the status the transport answers with (e.g. UNAVAILABLE). */
  failed(error: unknown, transport: string, startedNs: bigint, status: string): void;
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
    // A keyed pseudonym (username, else address), never the identifier itself.
    "palisade.subject": decision.subject ?? "none",
  };
}

export function createDecisionObserver(deps: { metrics: Metrics; logger: Logger }): DecisionObserver {
  const { metrics, logger } = deps;
  // prom-client builds a closure for every observe() given labels; a labelled child builds it once.
  const durations = new Map<string, ReturnType<Metrics["decisionDuration"]["labels"]>>();
  const durationOf = (transport: string) => {
    let child = durations.get(transport);
    if (child === undefined) durations.set(transport, (child = metrics.decisionDuration.labels({ transport })));
    return child;
  };
  return {
    traceCheck: (evaluate, carriers) =>
      tracingOff() ? evaluate() : withSpan(
        "palisade.check",
        {},
        async (span) => {
          const evaluation = await evaluate();
          // With tracing off (or the trace not sampled) the span records nothing: build no attributes.
          if (span.isRecording()) span.setAttributes(spanAttributes(evaluation.decision));
          return evaluation;
        },
        { parent: () => parentContext(carriers?.() ?? []), kind: SpanKind.SERVER },
      ),

    decided(decision, request, transport, startedNs) {
      durationOf(transport).observe(secondsSince(startedNs));
      metrics.recordDecision({ action: decision.action, endpoint: decision.endpoint, rule: decision.rule, shadow: decision.shadowed.length > 0 });
      for (const shadowed of decision.shadowed) metrics.shadowDecisions.inc(shadowed);
      for (const code of request.anomalies) metrics.requestAnomalies.inc({ code });
      // Enforcements and shadow matches are what analysts read afterwards; plain allows are noise.
      const level = decision.action === "allow" && decision.shadowed.length === 0 ? "debug" : "info";
      // Most Checks are plain allows, logged at debug: no line object for a level that is off.
      if (!logger.isLevelEnabled(level)) return;
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

    failed(error, transport, startedNs, status) {
      metrics.grpcErrors.inc({ service: transport, code: status });
      logger.warn({ err: error, transport, ms: secondsSince(startedNs) * 1000 }, "no decision");
    },
  };
}
