import { problem, type ParsedLine } from "./events.js";
import type { InputLine } from "./input.js";
import { recordedEvents } from "./recorded.js";

/**
 * Apache common and combined log format:
 * `host ident user [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "referer" "agent"`.
 */
const LINE = /^(\S+) \S+ \S+ \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}|-) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?/;
const TIME = /^(\d{2})\/([A-Za-z]{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export function looksLikeApache(text: string): boolean {
  return LINE.test(text);
}

export function parseApacheLine(input: InputLine, scenario: string): ParsedLine {
  const { number, text } = input;
  if (text.trim() === "") return undefined;
  const match = LINE.exec(text);
  if (!match) {
    return input.terminated
      ? problem(number, "unparsable", "not in common or combined log format")
      : problem(number, "truncated", "the last line is cut short: the file looks truncated");
  }
  const [, host, time, request, status, , referer, agent] = match;
  const timeMs = apacheTime(time!);
  if (timeMs === undefined) return problem(number, "invalid", `unreadable time [${time}]`);
  const parts = unescape(request!).split(" ");
  if (parts.length < 2 || !/^[A-Z]+$/.test(parts[0]!)) return problem(number, "invalid", "request line is not METHOD PATH [PROTOCOL]");
  const headers: Record<string, string> = {};
  if (agent && agent !== "-") headers["user-agent"] = unescape(agent);
  if (referer && referer !== "-") headers.referer = unescape(referer);
  return recordedEvents(
    { line: number, timeMs, method: parts[0]!, path: parts[1]!, protocol: parts[2], clientIp: host, status: status === "-" ? undefined : Number(status), headers },
    scenario,
  );
}

function apacheTime(text: string): number | undefined {
  const m = TIME.exec(text);
  const month = m ? MONTHS.indexOf(m[2]!) : -1;
  if (!m || month < 0) return undefined;
  const utc = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const offsetMs = (Number(m[8]) * 60 + Number(m[9])) * 60_000 * (m[7] === "-" ? -1 : 1);
  return utc - offsetMs;
}

/** Apache escapes quotes and backslashes inside quoted fields. */
function unescape(text: string): string {
  return text.replace(/\\(.)/g, "$1");
}
