import { ACTIONS, isDenial, type Action } from "../../domain/decision.js";
import { fromStruct, type CheckRequest, type CheckResponse, type HTTPAccessLogEntry, type Struct } from "../../transport/grpc/protos.js";

/** What replay needs to know about one decision, read from the CheckResponse either way. */
export interface Verdict {
  action: Action;
  denied: boolean;
  /** HTTP status the client got instead of the application's answer, when denied. */
  status?: number;
  endpoint?: string;
  /** Pseudonymous subject (username pseudonym, else IP pseudonym). */
  subject?: string;
  rule?: string;
  decisionId?: string;
  /** The decision's dynamic metadata, which Envoy copies into the request's access-log entry. */
  metadata?: Struct;
}

/** Where replayed traffic goes: the pipeline in this process, or a live server over gRPC. */
export interface ReplayTarget {
  readonly name: string;
  check(request: CheckRequest, timeMs: number): Promise<Verdict>;
  /** Hands over an access-log entry as Envoy would send it (denials already substituted). */
  log(entry: HTTPAccessLogEntry): Promise<void>;
  /**
   * Teaches the account history an earlier successful sign-in made with `request` (a lab
   * `history` line), deciding nothing. Absent where history can only be learnt from traffic (a
   * live server): replay then skips such lines and says so.
   */
  history?(request: CheckRequest, timeMs: number): Promise<void>;
  /** Finishes; returns what the operator should know (entries a server would not take…). */
  close(): Promise<string[]>;
}

/**
 * Reads a CheckResponse the way Envoy does: status OK allows, anything else denies with the
 * denied_response's HTTP status. The action comes from the dynamic metadata Palisade attaches.
 */
export function verdictOf(response: CheckResponse): Verdict {
  const metadata = fromStruct(response.dynamic_metadata);
  const denied = (response.status?.code ?? 0) !== 0;
  const action = ACTIONS.includes(metadata.action as Action) ? (metadata.action as Action) : denied ? "block" : "allow";
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  return {
    action,
    denied: denied || isDenial(action),
    status: denied ? httpStatus(response.denied_response?.status?.code) : undefined,
    endpoint: text(metadata.endpoint),
    subject: text(metadata.subject),
    rule: text(metadata.rule),
    decisionId: text(metadata.decision_id),
    metadata: response.dynamic_metadata ?? undefined,
  };
}

/** envoy.type.v3.StatusCode: a number when we built it, the enum name when decoded off the wire. */
const STATUS_NAMES: Record<string, number> = { Unauthorized: 401, Forbidden: 403, TooManyRequests: 429, ServiceUnavailable: 503 };

function httpStatus(code: number | string | undefined): number {
  if (typeof code === "number" && code > 0) return code;
  return (typeof code === "string" && (STATUS_NAMES[code] ?? Number(code))) || 403;
}
