/**
 * How a failure is answered, whatever the protocol: transports map kinds to their own statuses
 * (transport/grpc/status.ts, the HTTP problem documents), so one error means the same on both.
 */
export type FailureKind = "invalid" | "not_found" | "conflict" | "unavailable" | "too_large" | "internal";

/**
 * Every stable code Palisade's errors carry, and its kind. `unavailable` is for failures a retry
 * may cure (Envoy's failure_mode_allow and retry policies then apply as the operator chose);
 * an error without a listed code is a bug, `internal`, which no retry fixes.
 */
export const ERROR_CATALOGUE = {
  "store.unavailable": "unavailable",
  "decision.unavailable": "unavailable",
  "ratelimit.invalid_request": "invalid",
  "grpc.malformed_message": "invalid",
  "http.body_too_large": "too_large",
  // The response engine's refusals (response/errors.ts); nothing was changed.
  not_found: "not_found",
  invalid: "invalid",
  conflict: "conflict",
  unavailable: "unavailable",
} as const satisfies Record<string, FailureKind>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The kind of failure `error` is, by its `code`. */
export function failureKindOf(error: unknown): FailureKind {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && Object.hasOwn(ERROR_CATALOGUE, code) ? ERROR_CATALOGUE[code as ErrorCode] : "internal";
}
