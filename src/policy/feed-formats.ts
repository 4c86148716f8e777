import { RangeSet } from "./range-set.js";

/**
 * The text formats reputation feeds come in:
 * - `plain`: one address or CIDR per line; `#` starts a comment, blank lines are skipped
 *   (CrowdSec blocklist exports, most vendors' lists);
 * - `netset`: FireHOL's .netset/.ipset files, the same with their `#` header block;
 * - `spamhaus`: Spamhaus DROP/EDROP, `1.10.16.0/20 ; SBL256894` with `;` comments, or the
 *   JSON-lines form (`{"cidr": "…", "sblid": "…"}`) whose metadata line has no `cidr`;
 * - `csv`: comma-separated with the address in `column` (a header name, or a 1-based number);
 *   a first line that is not an address is taken as the header;
 * - `json`: one JSON document, as crawler and cloud operators publish their ranges: every string
 *   under a key named like a prefix (`ipv4Prefix`, `ipv6Prefix`, `ip_prefix`, `ipv6_prefix`,
 *   `cidr`, `prefix`), or a plain array of strings.
 */
export type FeedFormat = "plain" | "netset" | "spamhaus" | "csv" | "json";

export interface FeedParseOptions {
  format: FeedFormat;
  /** csv only: header name or 1-based column number. */
  column?: string | number;
}

export interface ParsedFeed {
  set: RangeSet;
  /** Ranges read (before merging). */
  entries: number;
  /** Lines that held something that is not an address or CIDR. */
  invalid: number;
  /** Where the first few invalid lines are (line numbers only: a feed's contents are not repeated). */
  invalidLines: number[];
}

export class FeedFormatError extends Error {
  override readonly name = "FeedFormatError";
}

/** Share of invalid lines beyond which the file is not the format it claims (an HTML error page, a wrong column). */
const MAX_INVALID_SHARE = 0.1;
const INVALID_LINES_KEPT = 5;

/** Parses a feed; throws FeedFormatError when it does not look like the format at all. */
export function parseFeed(text: string, options: FeedParseOptions): ParsedFeed {
  if (options.format === "json") return parseJsonFeed(text);
  const builder = RangeSet.builder();
  const invalidLines: number[] = [];
  let invalid = 0;
  const bad = (line: number) => {
    invalid++;
    if (invalidLines.length < INVALID_LINES_KEPT) invalidLines.push(line);
  };
  const csv = options.format === "csv" ? csvColumn(options.column) : undefined;
  let lineNumber = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    lineNumber++;
    const line = text.slice(start, end);
    start = end + 1;
    const value = csv ? csv.value(line) : entryOf(line, options.format);
    if (value === undefined || value === "") continue;
    if (!builder.addText(value)) {
      if (csv && csv.maybeHeader()) continue;
      bad(lineNumber);
    }
  }
  const entries = builder.count;
  if (entries === 0 && invalid > 0) throw new FeedFormatError(`no address or CIDR on any line (first bad lines: ${invalidLines.join(", ")})`);
  if (invalid > (entries + invalid) * MAX_INVALID_SHARE) {
    throw new FeedFormatError(`${invalid} of ${entries + invalid} lines are not addresses or CIDRs (first: ${invalidLines.join(", ")}); is the format right?`);
  }
  return { set: builder.build(), entries, invalid, invalidLines };
}

const PREFIX_KEYS = /^(ipv4_?prefix|ipv6_?prefix|ip_?prefix|cidr|prefix)$/i;

function parseJsonFeed(text: string): ParsedFeed {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new FeedFormatError("not a JSON document");
  }
  const builder = RangeSet.builder();
  let invalid = 0;
  const add = (value: unknown) => {
    if (typeof value === "string" && !builder.addText(value.trim())) invalid++;
  };
  const visit = (node: unknown, depth: number): void => {
    if (depth > 16 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const item of node) {
        if (typeof item === "string") add(item);
        else visit(item, depth + 1);
      }
      return;
    }
    for (const [key, value] of Object.entries(node)) {
      if (PREFIX_KEYS.test(key)) add(value);
      else visit(value, depth + 1);
    }
  };
  visit(document, 0);
  const entries = builder.count;
  if (invalid > (entries + invalid) * MAX_INVALID_SHARE) throw new FeedFormatError(`${invalid} of ${entries + invalid} prefixes are not addresses or CIDRs`);
  return { set: builder.build(), entries, invalid, invalidLines: [] };
}

/** The address part of a line of a line-oriented format, "" for a comment or blank line. */
function entryOf(line: string, format: FeedFormat): string | undefined {
  let text = line;
  if (format === "spamhaus" && text.trimStart().startsWith("{")) return spamhausJson(text);
  const hash = text.indexOf("#");
  if (hash >= 0) text = text.slice(0, hash);
  if (format === "spamhaus") {
    const semicolon = text.indexOf(";");
    if (semicolon >= 0) text = text.slice(0, semicolon);
  }
  text = text.trim();
  // Some lists carry a second column (a count, a date) after whitespace.
  const space = text.search(/\s/);
  return space >= 0 ? text.slice(0, space) : text;
}

function spamhausJson(line: string): string {
  try {
    const record = JSON.parse(line) as { cidr?: unknown };
    // The last line is metadata ({"type": "metadata", …}) and names no range.
    return typeof record.cidr === "string" ? record.cidr : "";
  } catch {
    return line.trim();
  }
}

function csvColumn(column: string | number | undefined) {
  let index = typeof column === "number" ? column - 1 : /^\d+$/.test(String(column ?? "1")) ? Number(column ?? 1) - 1 : -1;
  const name = index < 0 ? String(column).trim().toLowerCase() : undefined;
  let dataLines = 0;
  return {
    value(line: string): string | undefined {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#")) return "";
      dataLines++;
      const cells = splitCsv(trimmed);
      if (index < 0) {
        // The first line that is not a comment is the header that names the column.
        index = cells.findIndex((cell) => cell.trim().toLowerCase() === name);
        if (index < 0) throw new FeedFormatError(`the header has no column "${name}"`);
        return "";
      }
      return cells[index]?.trim() ?? "";
    },
    /** The first line that is not an address is a header when nothing came before it. */
    maybeHeader(): boolean {
      return dataLines === 1;
    },
  };
}

/** One CSV line, with double-quoted cells (RFC 4180, no embedded line breaks). */
function splitCsv(line: string): string[] {
  if (!line.includes('"')) return line.split(",");
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") {
      cells.push(cell);
      cell = "";
    } else cell += char;
  }
  cells.push(cell);
  return cells;
}
