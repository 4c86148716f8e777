import { expect } from "vitest";

/** Times a write from now: the returned function is how many ms its time to live may have lost since. */
export function sinceWrite(): () => number {
  const started = performance.now();
  return () => performance.now() - started;
}

/**
 * A time to live set (or renewed) to `ttlMs` by a write `elapsedMs` ago: at most that, and short
 * of it by no more than the time since the write (plus whole-ms rounding on both clocks), however
 * slow the machine. (This was "less than a second gone", a wall-clock bound.)
 */
export function expectFreshTtl(ttl: number | undefined, ttlMs: number, elapsedMs: number): void {
  expect(ttl).toBeGreaterThanOrEqual(ttlMs - Math.ceil(elapsedMs) - 2);
  expect(ttl).toBeLessThanOrEqual(ttlMs);
}
