/**
 * How often the service's keeper (src/app/start.ts) looks at the periodic store work of a replica
 * (the site-wide merge, the exchange turns) while no Check asks for it.
 */
export const KEEP_UP_EVERY_MS = 50;
/**
 * How far ahead of its time the keeper does that work: two of its looks, so that a look that
 * comes a little late (a busy loop) still finds the work done before a Check would find it due.
 */
const KEEP_UP_AHEAD_MS = 2 * KEEP_UP_EVERY_MS;

/**
 * When a replica's periodic store work is due. A Check that finds it due does it and waits for
 * it, so that its decision has the latest; while Checks ask at least once a period, they alone
 * do it, as before. While none asks (a new replica before its first Check, a quiet spell), the
 * keeper does it a little ahead of time, so that the next Check finds it done and waits for no
 * store call of it (a new replica's first Check took its exchange turns and the site-wide merge:
 * 3 to 5 script calls against 1; BENCHMARKS.md, branch `tail`).
 */
export class Cadence {
  #lastMs = 0;
  /** The last Check's time: none yet, the replica is idle. */
  #askedMs = -Infinity;

  /**
   * For a Check at `nowMs`: whether the work, done every `everyMs`, is due; if so it counts as
   * done now. Never while the last is `busy` (still under way).
   */
  due(nowMs: number, everyMs: number, busy = false): boolean {
    this.#askedMs = nowMs;
    return !busy && this.#take(nowMs, everyMs);
  }

  /**
   * For the keeper: whether no Check asked within `everyMs` and the work is due within
   * KEEP_UP_AHEAD_MS; if so it counts as done now. Never while the last is `busy`.
   */
  dueAhead(nowMs: number, everyMs: number, busy = false): boolean {
    return !busy && nowMs - this.#askedMs >= everyMs && this.#take(nowMs, everyMs - KEEP_UP_AHEAD_MS);
  }

  #take(nowMs: number, afterMs: number): boolean {
    if (nowMs - this.#lastMs < afterMs) return false;
    this.#lastMs = nowMs;
    return true;
  }
}
