import { performance } from "node:perf_hooks";
import type { Histogram } from "prom-client";

/** How often the delay is sampled: 50 wake-ups a second, a few microseconds each. */
export const EVENT_LOOP_SAMPLE_MS = 20;

/**
 * Event-loop delay as a cumulative histogram (`palisade_event_loop_delay_seconds`): a timer due
 * every EVENT_LOOP_SAMPLE_MS observes how late it ran, which is how long a Check arriving at
 * that moment waited before the loop could start on it. prom-client's `nodejs_eventloop_lag_*`
 * gauges report only the figures since the previous scrape (its collector resets them), so a
 * stall between two scrapes of different Prometheus servers, or one lost among many, leaves no
 * trace; a histogram keeps every stall, and its buckets put them beside Envoy's 200 ms
 * ext_authz timeout. Written here because prom-client has no such collector. Returns a stop
 * function; the timer never keeps the process alive.
 */
export function watchEventLoopDelay(histogram: Pick<Histogram, "observe">, intervalMs = EVENT_LOOP_SAMPLE_MS): () => void {
  let due = performance.now() + intervalMs;
  const timer = setInterval(() => {
    const now = performance.now();
    histogram.observe(Math.max(0, now - due) / 1000);
    due = now + intervalMs;
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
