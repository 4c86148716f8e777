/** The value of one cookie in a Cookie header (RFC 6265 pairs), or undefined when absent or empty. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? "").split(";")) {
    const at = pair.indexOf("=");
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim() || undefined;
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
