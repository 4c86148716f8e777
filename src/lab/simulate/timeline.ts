import type { SimRequest } from "./wire.js";

/** What an actor does next: send a request, or start another actor (a follow-up session). */
export type Emission = { request: SimRequest } | { spawn: Actor; atMs: number };

/** A user, a bot or an arrival process: yields its emissions in time order. */
export type Actor = Generator<Emission, void, undefined>;

/** A request leaving the client (its Check) or its access-log entry once answered. */
export type TimelineEvent = { kind: "check" | "access_log"; request: SimRequest };

interface Entry {
  timeMs: number;
  /** Insertion order: equal times come out in the order they were scheduled, so output is stable. */
  seq: number;
  actor: Actor;
  /** The actor's next request; absent for an actor that is due to start. */
  request?: SimRequest;
  /** The access-log entry of a request that was answered. */
  log?: SimRequest;
}

/**
 * Merges any number of actors into one stream in event-time order, lazily: only each actor's
 * next request is held, so an hour of traffic is generated in constant memory. A spawned actor
 * waits in the queue until its start time while its parent carries on.
 */
export function* timeline(roots: Actor[]): Generator<TimelineEvent> {
  const heap = new MinHeap<Entry>((a, b) => a.timeMs - b.timeMs || a.seq - b.seq);
  let seq = 0;
  const advance = (actor: Actor) => {
    for (let next = actor.next(); !next.done; next = actor.next()) {
      const emission = next.value;
      if ("spawn" in emission) {
        heap.push({ timeMs: emission.atMs, seq: seq++, actor: emission.spawn });
        continue;
      }
      heap.push({ timeMs: emission.request.timeMs, seq: seq++, actor, request: emission.request });
      return;
    }
  };
  roots.forEach(advance);
  for (let entry = heap.pop(); entry; entry = heap.pop()) {
    if (entry.log) {
      yield { kind: "access_log", request: entry.log };
    } else if (entry.request) {
      const { request } = entry;
      yield { kind: "check", request };
      heap.push({ timeMs: request.timeMs + request.durationMs, seq: seq++, actor: entry.actor, log: request });
      advance(entry.actor);
    } else {
      advance(entry.actor);
    }
  }
}

/** A binary heap; small enough that a dependency would cost more than it saves. */
export class MinHeap<T> {
  readonly #items: T[] = [];
  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i]!, items[parent]!) >= 0) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && this.compare(items[left]!, items[smallest]!) < 0) smallest = left;
      if (right < items.length && this.compare(items[right]!, items[smallest]!) < 0) smallest = right;
      if (smallest === i) return top;
      [items[i], items[smallest]] = [items[smallest]!, items[i]!];
      i = smallest;
    }
  }
}
