import { describe, expect, it } from "vitest";
import { createMetrics } from "./metrics.js";
import { watchEventLoopDelay } from "./event-loop-delay.js";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bucket counts of palisade_event_loop_delay_seconds by upper bound. */
async function buckets(metrics: ReturnType<typeof createMetrics>): Promise<Map<string, number>> {
  const text = await metrics.metricsText();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^palisade_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)) counts.set(match[1]!, Number(match[2]));
  return counts;
}

describe("watchEventLoopDelay", () => {
  it("keeps a stall of the loop in the histogram across scrapes", async () => {
    const metrics = createMetrics();
    const stop = watchEventLoopDelay(metrics.eventLoopDelay, 5);
    try {
      await tick(30);
      const blockedUntil = Date.now() + 80;
      while (Date.now() < blockedUntil); // the loop held for 80 ms: the timer runs at least ~75 ms late
      await tick(30);
      const first = await buckets(metrics);
      // The stall sits above 0.05 s; a second scrape still shows it (the lag gauges would have reset).
      expect(first.get("+Inf")! - first.get("0.05")!).toBeGreaterThanOrEqual(1);
      const second = await buckets(metrics);
      expect(second.get("+Inf")! - second.get("0.05")!).toBeGreaterThanOrEqual(1);
    } finally {
      stop();
    }
  });

  it("stops sampling when told", async () => {
    const metrics = createMetrics();
    const stop = watchEventLoopDelay(metrics.eventLoopDelay, 5);
    await tick(20);
    stop();
    const count = (await buckets(metrics)).get("+Inf");
    await tick(30);
    expect((await buckets(metrics)).get("+Inf")).toBe(count);
  });
});
