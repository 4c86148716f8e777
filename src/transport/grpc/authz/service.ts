import type { Pipeline } from "../../../pipeline/pipeline.js";
import type { CompiledPolicy } from "../../../policy/compile.js";
import type { DecisionObserver } from "../../../telemetry/decision-observer.js";
import type { AuthorizationImplementation } from "../protos.js";
import { grpcStatusFor, grpcStatusName } from "../status.js";
import { toCheckResponse, toHttpAttributes } from "./converter.js";

export interface AuthorizationDependencies {
  pipeline: Pipeline;
  policy: () => CompiledPolicy;
  observer: DecisionObserver;
}

/**
 * envoy.service.auth.v3.Authorization/Check: protobuf in, pipeline, protobuf out.
 *
 * When no decision can be given the answer is a gRPC error, never an accidental OK: Envoy
 * treats status code 0 in a CheckResponse as allow, and only a gRPC error (or a timeout) goes
 * through its failure_mode_allow, which is the operator's deliberate choice.
 */
export function createAuthorizationService(deps: AuthorizationDependencies): AuthorizationImplementation {
  return {
    Check(call, callback) {
      const started = process.hrtime.bigint();
      const attrs = toHttpAttributes(call.request);
      deps.observer
        .traceCheck(() => deps.pipeline.evaluate(attrs))
        .then(
          ({ decision, request }) => {
            const response = toCheckResponse(decision, {
              challenge: deps.policy().challenge,
              incomingHeaderNames: attrs.headers.keys(),
            });
            deps.observer.decided(decision, request, "authz", started);
            callback(null, response);
          },
          (error: unknown) => {
            const status = grpcStatusFor(error);
            deps.observer.failed(error, "authz", started, grpcStatusName(status));
            callback({ code: status, details: "palisade could not decide" });
          },
        );
    },
  };
}
