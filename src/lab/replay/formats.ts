import { problem, type Problem, type ReplayEvent } from "./events.js";
import { parseApacheLine } from "./import-apache.js";
import { unwrapContainerLine } from "./container.js";
import { parseEnvoyLine } from "./import-envoy.js";
import type { Input, InputLine } from "./input.js";
import { parseLabLine } from "./parse-lab.js";

export const FORMATS = ["auto", "lab", "envoy", "apache"] as const;
export type Format = (typeof FORMATS)[number];

/**
 * Events and problems from an input, in input order. Unless the format is given, a file whose
 * first line is a lab event is a lab file; in any other, each line is read by what it is,
 * after any container-runtime wrapping is taken off (logs collected from several programs mix
 * formats, and error-log lines sit among access-log lines): a JSON object is an Envoy log line,
 * anything else Apache's format. `scenario` names imported (unlabelled) traffic.
 */
export async function* readEvents(input: Input, format: Format, scenario: string): AsyncGenerator<ReplayEvent | Problem> {
  let parse: ((line: InputLine) => ReturnType<typeof parseLabLine>) | undefined;
  for await (const line of input.lines) {
    if (!parse) {
      if (line.text.trim() === "") continue;
      // A lab file is all lab events: its bad lines are reported as such.
      parse = format === "lab" || (format === "auto" && isLabEvent(line.text)) ? parseLabLine : recordedParser(format, scenario);
    }
    const parsed = parse(line);
    if (parsed === undefined) continue;
    if (Array.isArray(parsed)) yield* parsed;
    else yield parsed;
  }
  const error = input.error();
  if (error) yield problem(0, "input_error", error);
}

function isLabEvent(text: string): boolean {
  try {
    const json: unknown = JSON.parse(text);
    return typeof json === "object" && json !== null && "type" in json;
  } catch {
    return false;
  }
}

function recordedParser(format: Exclude<Format, "lab">, scenario: string) {
  return (line: InputLine) => {
    const text = unwrapContainerLine(line.text);
    const unwrapped = text === line.text ? line : { ...line, text };
    const envoy = format === "envoy" || (format === "auto" && text.trimStart().startsWith("{"));
    return envoy ? parseEnvoyLine(unwrapped, scenario) : parseApacheLine(unwrapped, scenario);
  };
}
