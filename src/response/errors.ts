/**
 * Why a response-engine operation was refused, with a stable code. Nothing was changed. The
 * codes are in the error catalogue (src/domain/errors.ts), which each transport maps to its statuses.
 */
export type ResponseErrorCode = "not_found" | "invalid" | "conflict" | "unavailable";

export class ResponseError extends Error {
  override readonly name = "ResponseError";
  constructor(
    readonly code: ResponseErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (message: string) => new ResponseError("not_found", message);
export const invalid = (message: string) => new ResponseError("invalid", message);
