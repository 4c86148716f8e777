import { problem, type Problem, type ReplayEvent } from "./events.js";
import { looksLikeApache, parseApacheLine } from "./import-apache.js";
import { looksLikeEnvoyJson, parseEnvoyLine } from "./import-envoy.js";
import type { Input, InputLine } from "./input.js";
import { parseLabLine } from "./parse-lab.js";

export const FORMATS = ["auto", "lab", "envoy", "apache"] as const;
export type Format = (typeof FORMATS)[number];

/**
 * Events and problems from an input, in input order. The format is chosen from the first
 * non-empty line unless given: a JSON object with `type` is a lab file, other JSON an Envoy
 * log, anything else Apache's format. `scenario` names imported (unlabelled) traffic.
 */
export async function* readEvents(input: Input, format: Format, scenario: string): AsyncGenerator<ReplayEvent | Problem> {
  let parse: ((line: InputLine) => ReturnType<typeof parseLabLine>) | undefined;
  for await (const line of input.lines) {
    if (!parse) {
      if (line.text.trim() === "") continue;
      const chosen = format === "auto" ? detectFormat(line.text) : format;
      parse = chosen === "lab" ? parseLabLine : chosen === "envoy" ? (l) => parseEnvoyLine(l, scenario) : (l) => parseApacheLine(l, scenario);
    }
    const parsed = parse(line);
    if (parsed === undefined) continue;
    if (Array.isArray(parsed)) yield* parsed;
    else yield parsed;
  }
  const error = input.error();
  if (error) yield problem(0, "input_error", error);
}

function detectFormat(firstLine: string): Exclude<Format, "auto"> {
  try {
    const json: unknown = JSON.parse(firstLine);
    if (typeof json === "object" && json !== null && "type" in json) return "lab";
    if (looksLikeEnvoyJson(json)) return "envoy";
  } catch {
    // not JSON: a text log format
  }
  return looksLikeApache(firstLine) ? "apache" : "lab";
}
