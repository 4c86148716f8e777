/**
 * The value of one cookie in a Cookie header (RFC 6265 pairs), or undefined when absent or empty.
 * Walks the header in place rather than splitting it: several detectors ask on every Check, and
 * the array of every pair was a measurable share of a Check's time.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const length = header.length;
  for (let start = 0; start <= length; ) {
    let end = header.indexOf(";", start);
    if (end < 0) end = length;
    const at = header.indexOf("=", start);
    // The first equals sign of this pair, not at its start (a pair "=x" names nothing); the
    // name compared where it stands, trimmed as trim() would, without a substring per pair.
    if (at > start && at < end) {
      let from = start;
      let to = at;
      while (from < to && isTrimmed(header.charCodeAt(from))) from++;
      while (to > from && isTrimmed(header.charCodeAt(to - 1))) to--;
      if (to - from === name.length && header.startsWith(name, from)) return header.slice(at + 1, end).trim() || undefined;
    }
    start = end + 1;
  }
  return undefined;
}

/** What String.prototype.trim() removes: ECMAScript's white space and line terminators. */
function isTrimmed(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff;
}

/**
 * The values of the named cookies, in the order named ("" for one absent), or undefined when
 * none is present: what identifies a client by its session cookies, before it is digested.
 */
export function namedCookieValues(header: string | undefined, names: readonly string[]): string[] | undefined {
  const values = names.map((name) => cookieValue(header, name) ?? "");
  return values.some((value) => value !== "") ? values : undefined;
}
