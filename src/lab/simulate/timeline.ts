import { MinHeap } from "../heap.js";
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
