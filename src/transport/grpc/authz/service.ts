import type { Challenges } from "../../../challenge/challenges.js";
import type { IssuedChallenge } from "../../../challenge/proof-of-work.js";
import type { Pipeline, PipelineResult } from "../../../pipeline/pipeline.js";
import type { CompiledPolicy } from "../../../policy/compile.js";
import type { DecisionObserver } from "../../../telemetry/decision-observer.js";
import type { sendUnaryData } from "@grpc/grpc-js";
import type { HttpAttributes } from "../../../domain/request.js";
import type { AuthorizationImplementation, CheckAnswer } from "../protos.js";
import { malformation } from "../protobuf-reader.js";
import { grpcStatusFor, grpcStatusName } from "../status.js";
import { headersCarrier, metadataCarrier } from "../trace-carriers.js";
import { encodeCheckResponse } from "./check-response-encoder.js";
import { toHttpAttributes } from "./converter.js";

export interface AuthorizationDependencies {
  pipeline: Pipeline;
  policy: () => CompiledPolicy;
  observer: DecisionObserver;
  /** The built-in challenge; without it a challenge is the bare problem document. */
  challenges?: Challenges;
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
    // No named closures per Check (`respond` and `fail` are module functions): under tsx, which
    // `npm run palisade` and the benches run on, each costs an Object.defineProperty per creation.
    Check(call, callback) {
      const started = process.hrtime.bigint();
      const malformed = malformation(call.request);
      if (malformed) return fail(deps, callback, started, malformed, `malformed CheckRequest: ${malformed.message}`);
      const attrs = toHttpAttributes(call.request);
      deps.observer
        .traceCheck(() => deps.pipeline.evaluate(attrs), () => [metadataCarrier(call.metadata), headersCarrier(attrs.headers)])
        .then(
          (evaluation) => {
            const policy = deps.policy();
            respond(deps, callback, started, attrs, evaluation, policy, deps.challenges && evaluation.decision.action === "challenge" ? challengeFor(deps.challenges, evaluation, policy) : undefined);
          },
          (error: unknown) => fail(deps, callback, started, error, "palisade could not decide"),
        );
    },
  };
}

function respond(
  deps: AuthorizationDependencies,
  callback: sendUnaryData<CheckAnswer>,
  started: bigint,
  attrs: HttpAttributes,
  { decision, request }: PipelineResult,
  policy: CompiledPolicy,
  issued?: IssuedChallenge,
): void {
  const pow = policy.challenge.proofOfWork;
  // Written as bytes straight away: no message object for grpc-js to encode (check-response-encoder.ts).
  const response = encodeCheckResponse(decision, {
    challenge: policy.challenge,
    proofOfWork: issued && pow && {
      issued,
      settings: pow,
      decisionId: decision.decisionId,
      accept: request.headers.get("accept"),
      acceptLanguage: request.headers.get("accept-language"),
    },
    incomingHeaderNames: attrs.headers.keys(),
  });
  deps.observer.decided(decision, request, "authz", started);
  callback(null, response);
}

/** A challenge that could not be made still denies: the client gets the bare problem document. */
function challengeFor(challenges: Challenges, { decision, request }: PipelineResult, policy: CompiledPolicy): IssuedChallenge | undefined {
  try {
    return challenges.issue(decision, request, policy);
  } catch {
    return undefined;
  }
}

function fail(deps: AuthorizationDependencies, callback: sendUnaryData<CheckAnswer>, started: bigint, error: unknown, details: string): void {
  const status = grpcStatusFor(error);
  deps.observer.failed(error, "authz", started, grpcStatusName(status));
  callback({ code: status, details });
}
