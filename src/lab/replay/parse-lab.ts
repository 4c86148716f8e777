import { LEGIT } from "../lines.js";
import { fromProtoJson, ProtoJsonError } from "../proto-json.js";
import type { CheckRequest, HTTPAccessLogEntry } from "../../transport/grpc/protos.js";
import { problem, type ParsedLine } from "./events.js";
import type { InputLine } from "./input.js";

const TYPES = {
  check: { field: "checkRequest", message: "envoy.service.auth.v3.CheckRequest" },
  access_log: { field: "httpAccessLogEntry", message: "envoy.data.accesslog.v3.HTTPAccessLogEntry" },
  history: { field: "checkRequest", message: "envoy.service.auth.v3.CheckRequest" },
} as const;

/** Reads one line of a lab traffic file (see lines.ts). */
export function parseLabLine(input: InputLine): ParsedLine {
  const { number, text } = input;
  if (text.trim() === "") return undefined;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return input.terminated
      ? problem(number, "not_json", "not JSON")
      : problem(number, "truncated", "the last line is cut short (no newline, not valid JSON): the file looks truncated");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return problem(number, "invalid", "not a JSON object");
  const type = TYPES[json.type as keyof typeof TYPES];
  if (typeof json.type !== "string" || !Object.hasOwn(TYPES, json.type) || !type) {
    return problem(number, "unknown_type", `unknown event type ${JSON.stringify(json.type ?? null)} (expected check, access_log or history)`);
  }
  const timeMs = typeof json.time === "string" ? Date.parse(json.time) : NaN;
  if (!Number.isFinite(timeMs)) return problem(number, "invalid", "missing or unreadable time");
  let message: Record<string, unknown>;
  try {
    message = fromProtoJson(type.message, json[type.field]);
  } catch (error) {
    if (error instanceof ProtoJsonError) return problem(number, "invalid", `${type.field}: ${error.message}`);
    throw error;
  }
  const base = {
    line: number,
    timeMs,
    scenario: typeof json.scenario === "string" ? json.scenario : "unnamed",
    label: typeof json.label === "string" ? json.label : LEGIT,
    ...(typeof json.causedBy === "string" ? { causedBy: json.causedBy } : {}),
  };
  if (json.type === "access_log") return { ...base, kind: "access_log", entry: message as HTTPAccessLogEntry };
  return { ...base, kind: json.type === "history" ? "history" : "check", request: message as CheckRequest };
}
