/**
 * Resolves after the event loop has turned once (I/O and timers due included): long work awaits
 * it between slices, so Checks that arrived meanwhile are served in between.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
