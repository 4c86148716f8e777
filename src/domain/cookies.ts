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
    // The first equals sign of this pair, not at its start (a pair "=x" names nothing).
    if (at > start && at < end && header.slice(start, at).trim() === name) return header.slice(at + 1, end).trim() || undefined;
    start = end + 1;
  }
  return undefined;
}

/**
 * The values of the named cookies, in the order named ("" for one absent), or undefined when
 * none is present: what identifies a client by its session cookies, before it is digested.
 */
export function namedCookieValues(header: string | undefined, names: readonly string[]): string[] | undefined {
  const values = names.map((name) => cookieValue(header, name) ?? "");
  return values.some((value) => value !== "") ? values : undefined;
}
