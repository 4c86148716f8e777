import { isIP } from "node:net";
import { problem, type ParsedLine } from "./events.js";
import type { InputLine } from "./input.js";
import { recordedEvents } from "./recorded.js";

/**
 * Apache common and combined log format, as Apache and nginx write it:
 * `host ident user [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "referer" "agent"`.
 * Whatever stands before the client address is tolerated: a syslog header (`Sep 15 16:13:46 web
 * nginx[2869]: `), a virtual host (`www.example.com:443 `), or extra fields between the address
 * and the time (`example.com 192.0.2.1 - req-17 - [...]`): the client is the last IP address
 * before the time.
 */
const REQUEST = /\[(\d{2}\/[A-Za-z]{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "((?:[^"\\]|\\.)*)" (\d{3}|-) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?/;
const TIME = /^(\d{2})\/([A-Za-z]{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export function looksLikeApache(text: string): boolean {
  const match = REQUEST.exec(text);
  return match !== null && clientBefore(text.slice(0, match.index)) !== undefined;
}

export function parseApacheLine(input: InputLine, scenario: string): ParsedLine {
  const { number, text } = input;
  if (text.trim() === "") return undefined;
  const match = REQUEST.exec(text);
  const client = match ? clientBefore(text.slice(0, match.index)) : undefined;
  if (!match || !client) {
    return input.terminated
      ? problem(number, "unparsable", "not in common or combined log format")
      : problem(number, "truncated", "the last line is cut short: the file looks truncated");
  }
  const [, time, request, status, , referer, agent] = match;
  const timeMs = apacheTime(time!);
  if (timeMs === undefined) return problem(number, "invalid", `unreadable time [${time}]`);
  const parts = unescape(request!).split(" ");
  if (parts.length < 2 || !/^[A-Z]+$/.test(parts[0]!)) return problem(number, "invalid", "request line is not METHOD PATH [PROTOCOL]");
  const headers: Record<string, string> = {};
  if (agent && agent !== "-") headers["user-agent"] = unescape(agent);
  if (referer && referer !== "-") headers.referer = unescape(referer);
  return recordedEvents(
    {
      line: number,
      timeMs,
      method: parts[0]!,
      path: parts[1]!,
      protocol: parts[2],
      clientIp: client,
      status: status === "-" ? undefined : Number(status),
      headers,
      // The combined format has both fields even when the client sent neither; the common one has none.
      recordedHeaders: agent === undefined ? [] : ["user-agent", "referer"],
    },
    scenario,
  );
}

/** The last IP address in what precedes the time, after a syslog tag (`…]: `) if there is one. */
function clientBefore(prefix: string): string | undefined {
  const tag = prefix.lastIndexOf(": ");
  const fields = (tag >= 0 ? prefix.slice(tag + 2) : prefix).trim().split(/\s+/);
  for (let i = fields.length - 1; i >= 0; i--) {
    const field = fields[i]!.replace(/^\[(.*)\]$/, "$1");
    if (isIP(field) !== 0) return field;
  }
  return undefined;
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
