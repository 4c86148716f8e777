import type { Decision } from "../domain/decision.js";

/** A decision worth an analyst's look: anything but a plain allow. Pseudonyms only. */
export type FlaggedDecision = Omit<Decision, "eventTimeMs"> & { time: string };

/** True for what the ring keeps: enforcements, step-ups, shadow "would haves", waived friction. */
export function isFlagged(decision: Decision): boolean {
  return decision.action !== "allow" || decision.shadowed.length > 0 || decision.reasons.some((r) => r.code === "friction.waived");
}

/**
 * The most recent flagged decisions of this replica, newest first when read. Fixed size: a
 * flood overwrites the oldest rather than growing memory. Each replica keeps its own; the
 * audit trail is the shared, durable record of enforcements.
 */
export class FlaggedDecisions {
  readonly #ring: (FlaggedDecision | undefined)[];
  #next = 0;

  constructor(readonly capacity = 1000) {
    this.#ring = new Array(capacity);
  }

  add(decision: Decision): void {
    if (!isFlagged(decision)) return;
    const { eventTimeMs, ...rest } = decision;
    this.#ring[this.#next] = { ...rest, time: new Date(eventTimeMs).toISOString() };
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** Newest first. */
  list(): FlaggedDecision[] {
    const ordered = [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)].reverse();
    return ordered.filter((d): d is FlaggedDecision => d !== undefined);
  }
}
