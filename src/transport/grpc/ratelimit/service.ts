import { status, type sendUnaryData } from "@grpc/grpc-js";
import type { RateLimiter } from "../../../ratelimit/limiter.js";
import type { RateLimitDecision, RateLimitRequest } from "../../../ratelimit/request.js";
import type { RateLimitTelemetry } from "../../../telemetry/ratelimit-telemetry.js";
import type { RateLimitImplementation, RateLimitResponse } from "../protos.js";
import { SpanKind, parentContext, tracingOff, withSpan } from "../../../telemetry/tracing.js";
import { malformation } from "../protobuf-reader.js";
import { grpcStatusFor, grpcStatusName } from "../status.js";
import { metadataCarrier } from "../trace-carriers.js";
import { toRateLimitRequest, toRateLimitResponse } from "./converter.js";

export interface RateLimitServiceDependencies {
  limiter: Pick<RateLimiter, "shouldRateLimit">;
  telemetry: RateLimitTelemetry;
}

/**
 * envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit: protobuf in, limiter, protobuf out.
 *
 * When no answer can be given the reply is a gRPC error, never an overall_code of UNKNOWN (which
 * Envoy reads as OK): UNAVAILABLE when the store cannot count and the domain's failure_mode is
 * `error`, so Envoy's failure_mode_deny decides; INVALID_ARGUMENT for a request without a domain
 * or descriptors, or for bytes that are no RateLimitRequest; INTERNAL for a bug.
 */
export function createRateLimitService(deps: RateLimitServiceDependencies): RateLimitImplementation {
  const { limiter, telemetry } = deps;
  /** The answer for a decision, or the gRPC error for a failure; `started` from process.hrtime.bigint(). */
  const answer = (decision: RateLimitDecision, started: bigint, callback: sendUnaryData<RateLimitResponse>): void => {
    telemetry.answered(decision, started);
    callback(null, toRateLimitResponse(decision));
  };
  const fail = (error: unknown, started: bigint, callback: sendUnaryData<RateLimitResponse>, context = ""): void => {
    const code = grpcStatusFor(error);
    telemetry.failed(error, started, grpcStatusName(code));
    // Envoy logs the details; a bug's own message stays in Palisade's log.
    const details = code !== status.INTERNAL && error instanceof Error ? context + error.message : "palisade could not answer";
    callback({ code, details });
  };
  /** The limiter's answer or failure sent back: the call's one promise is this function's own. */
  const decideAndAnswer = async (request: RateLimitRequest, started: bigint, callback: sendUnaryData<RateLimitResponse>): Promise<void> => {
    let decision: RateLimitDecision;
    try {
      decision = await limiter.shouldRateLimit(request);
    } catch (error) {
      fail(error, started, callback);
      return;
    }
    answer(decision, started, callback);
  };
  return {
    ShouldRateLimit(call, callback) {
      const started = process.hrtime.bigint();
      const malformed = malformation(call.request);
      if (malformed) return fail(malformed, started, callback, "malformed RateLimitRequest: ");
      // The converter never throws; the limiter may reject, and an error there is answered below.
      const request = toRateLimitRequest(call.request);
      if (tracingOff()) {
        // The usual case: no span, so no attributes, parent look-up or closures per call.
        void decideAndAnswer(request, started, callback);
        return;
      }
      // The span names the domain and counts only: descriptor values are raw addresses and users.
      withSpan(
        "palisade.ratelimit",
        { "palisade.ratelimit.domain": request.domain, "palisade.ratelimit.descriptors": request.descriptors.length },
        async (span) => {
          const decision = await limiter.shouldRateLimit(request);
          span.setAttribute("palisade.ratelimit.overall_code", decision.overallCode);
          return decision;
        },
        { parent: () => parentContext([metadataCarrier(call.metadata)]), kind: SpanKind.SERVER },
      ).then(
        (decision) => answer(decision, started, callback),
        (error: unknown) => fail(error, started, callback),
      );
    },
  };
}
