/** Where "now" comes from, ms since the epoch: the wall clock when serving, event time in replay, a fake in tests. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
