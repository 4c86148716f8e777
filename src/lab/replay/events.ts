import type { CheckRequest, HTTPAccessLogEntry } from "../../transport/grpc/protos.js";

/** What replay feeds through Palisade: Envoy's two messages, with the lab's labels. */
export type ReplayEvent = CheckEvent | AccessLogEvent | HistoryEvent;

interface EventBase {
  /** Input line it came from, for every message about it. */
  line: number;
  timeMs: number;
  scenario: string;
  /** `legit`, `attack:<kind>`, or `unlabelled` for recorded traffic. */
  label: string;
  causedBy?: string;
}

export interface CheckEvent extends EventBase {
  kind: "check";
  /** In the shape the gRPC layer uses (snake_case, numbers, Buffers). */
  request: CheckRequest;
}

export interface AccessLogEvent extends EventBase {
  kind: "access_log";
  entry: HTTPAccessLogEntry;
}

/** An earlier sign-in of a returning account (a lab `history` line): taught, not decided. */
export interface HistoryEvent extends EventBase {
  kind: "history";
  request: CheckRequest;
}

export const UNLABELLED = "unlabelled";

export type ProblemKind = "not_json" | "unknown_type" | "invalid" | "truncated" | "unparsable" | "out_of_order" | "unmatched" | "input_error";

/** Something wrong with the input, where it is, and whether replay left the event out. */
export interface Problem {
  line: number;
  kind: ProblemKind;
  message: string;
  skipped: boolean;
}

export type ParsedLine = ReplayEvent | ReplayEvent[] | Problem | undefined;

export function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "skipped" in value && "kind" in value && "message" in value;
}

export function problem(line: number, kind: ProblemKind, message: string, skipped = true): Problem {
  return { line, kind, message, skipped };
}

/** Timestamp message from ms since the epoch. */
export function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1e6 };
}
