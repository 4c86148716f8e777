import { STATUS_CODES } from "node:http";

/** What an admin route answers: a status, headers, and a body sent as JSON unless a string or Buffer. */
export interface AdminResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/**
 * An RFC 9457 problem document. The type is `about:blank`, so the title is the HTTP status
 * phrase; `detail` explains this occurrence and must never carry detection details or raw
 * identifiers. `extensions` adds members such as `decision_id`.
 */
export function problem(status: number, detail: string, extensions: Record<string, unknown> = {}): AdminResponse {
  return {
    status,
    headers: { "content-type": PROBLEM_CONTENT_TYPE },
    body: { type: "about:blank", title: STATUS_CODES[status] ?? "Error", status, detail, ...extensions },
  };
}
