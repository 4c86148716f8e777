const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "500ms", "30s", "5m", "1h", "7d" (or a sum such as "1h30m") to milliseconds. */
export function parseDuration(text: string): number | undefined {
  const parts = text.trim().match(/^(\d+(?:ms|s|m|h|d))+$/);
  if (!parts) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.trim().matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    total += Number(amount) * (UNIT_MS[unit!] ?? 0);
  }
  return total > 0 ? total : undefined;
}

/**
 * Each text's milliseconds, parsed once: the texts are the policy's (a handful), and detectors
 * read some on every login Check (two regular expressions and an iterator each time). Bounded
 * all the same.
 */
const PARSED = new Map<string, number>();
const MAX_PARSED = 1_000;

/** Like parseDuration, for values the schema already validated. */
export function durationMs(text: string): number {
  const known = PARSED.get(text);
  if (known !== undefined) return known;
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`not a duration: ${text}`);
  if (PARSED.size >= MAX_PARSED) PARSED.clear();
  PARSED.set(text, ms);
  return ms;
}
