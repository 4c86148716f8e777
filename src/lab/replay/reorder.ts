import { MinHeap } from "../heap.js";
import { problem, type Problem, type ReplayEvent } from "./events.js";

/** Line numbers quoted in the summary of reordered events. */
const LINES_QUOTED = 5;

/**
 * Puts events back in event-time order, holding each until nothing older than `toleranceMs`
 * can still arrive (a watermark, as stream processors do). Real logs need it: a web server
 * writes a line when the response ends but stamps it with the request's start, so a slow
 * download lands after quicker requests that began later. An event older than the watermark
 * has missed its windows: it is skipped and reported with its line number. Reordered events
 * are summed up in one problem rather than one line each.
 */
type Held = { event: ReplayEvent; seq: number };
const earlier = (a: Held, b: Held) => a.event.timeMs - b.event.timeMs || a.seq - b.seq;

export class TimeOrder {
  /**
   * Events that came in order wait in a queue (already sorted: no heap work for them, and in a
   * log they are nearly all); only those that came early of an event before them go to the
   * heap. The next event out is the earlier of the two heads, so the order is the heap's alone.
   */
  readonly #inOrder: Held[] = [];
  #head = 0;
  readonly #held = new MinHeap<Held>(earlier);
  readonly #reordered = { count: 0, maxMs: 0, lines: [] as number[] };
  #seq = 0;
  #newestMs = -Infinity;

  constructor(private readonly toleranceMs: number) {}

  /** Takes an event; returns those now safe to replay, or the problem of one that came too late. */
  push(event: ReplayEvent): ReplayEvent[] | Problem {
    const behindMs = this.#newestMs - event.timeMs;
    if (behindMs > this.toleranceMs) {
      return problem(event.line, "out_of_order", `${seconds(behindMs)} earlier than an event before it: skipped (more than ${seconds(this.toleranceMs)} out of order)`);
    }
    if (behindMs > 0) noteReordered(this.#reordered, event.line, behindMs);
    this.#newestMs = Math.max(this.#newestMs, event.timeMs);
    const item = { event, seq: this.#seq++ };
    const last = this.#inOrder.length > this.#head ? this.#inOrder[this.#inOrder.length - 1]! : undefined;
    if (last === undefined || last.event.timeMs <= event.timeMs) this.#inOrder.push(item);
    else this.#held.push(item);
    const ready: ReplayEvent[] = [];
    for (let next = this.#next(); next && next.event.timeMs <= this.#newestMs - this.toleranceMs; next = this.#next()) ready.push(this.#take(next).event);
    return ready;
  }

  /** At the end of the input: everything still held, in order. */
  drain(): ReplayEvent[] {
    const rest: ReplayEvent[] = [];
    for (let next = this.#next(); next; next = this.#next()) rest.push(this.#take(next).event);
    return rest;
  }

  /** The earliest event held, from whichever of the queue and the heap has it. */
  #next(): Held | undefined {
    const queued = this.#head < this.#inOrder.length ? this.#inOrder[this.#head] : undefined;
    const heaped = this.#held.size > 0 ? this.#held.peek() : undefined;
    if (!queued) return heaped;
    return heaped && earlier(heaped, queued) < 0 ? heaped : queued;
  }

  #take(next: Held): Held {
    if (next !== this.#inOrder[this.#head]) return this.#held.pop()!;
    this.#head++;
    // Drop the queue's released front now and then, not on every event.
    if (this.#head > 4096 && this.#head * 2 > this.#inOrder.length) {
      this.#inOrder.splice(0, this.#head);
      this.#head = 0;
    }
    return next;
  }

  /** One problem summing up the events that had to be put back in order, if any. */
  summary(): Problem | undefined {
    return this.#reordered.count > 0 ? reorderedSummary(this.#reordered) : undefined;
  }
}

function noteReordered(reordered: { count: number; maxMs: number; lines: number[] }, line: number, behindMs: number): void {
  reordered.count++;
  reordered.maxMs = Math.max(reordered.maxMs, behindMs);
  if (reordered.lines.length < LINES_QUOTED && !reordered.lines.includes(line)) reordered.lines.push(line);
}

function reorderedSummary(reordered: { count: number; maxMs: number; lines: number[] }): Problem {
  const more = reordered.count > reordered.lines.length ? ", …" : "";
  return problem(
    reordered.lines[0]!,
    "out_of_order",
    `${reordered.count} out-of-order events, up to ${seconds(reordered.maxMs)} late (lines ${reordered.lines.join(", ")}${more}): replayed in time order`,
    false,
  );
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3).replace(/\.?0+$/, "")} s`;
}
