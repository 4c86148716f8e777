/**
 * Counts turns of the event loop (one setImmediate after another) until stopped: a test reads
 * the count inside long work to see that the loop turned between its slices, with no clock.
 */
export function countLoopTurns(): { readonly turns: number; stop(): void } {
  let turns = 0;
  let ticking = true;
  const tick = () => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get turns() {
      return turns;
    },
    stop: () => void (ticking = false),
  };
}
