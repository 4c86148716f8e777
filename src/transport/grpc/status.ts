import { status } from "@grpc/grpc-js";
import { failureKindOf, type FailureKind } from "../../domain/errors.js";

/** The gRPC status for each kind of failure in the error catalogue (src/domain/errors.ts). */
const GRPC_STATUS: Record<FailureKind, status> = {
  invalid: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  conflict: status.ABORTED,
  unavailable: status.UNAVAILABLE,
  too_large: status.RESOURCE_EXHAUSTED,
  internal: status.INTERNAL,
};

/** The status to answer a failed call with; INTERNAL for bugs. */
export function grpcStatusFor(error: unknown): status {
  return GRPC_STATUS[failureKindOf(error)];
}

/** The status's name (UNAVAILABLE…), as metrics label it. */
export function grpcStatusName(code: status): string {
  return status[code];
}
