import { createPipeline } from "../src/pipeline/pipeline.js";
import { loadPolicy } from "../src/policy/loader.js";
import { HmacPseudonymiser } from "../src/privacy/pseudonymiser.js";
import { MemoryStore } from "../src/state/memory-store.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { examplePolicyPath } from "../test/support/policies.js";
import { storefrontRequest } from "./traffic.js";

/** Offline replay: events per second through the whole pipeline with the in-memory store. */
export async function measureReplaySpeed(events: number) {
  const policy = await loadPolicy(examplePolicyPath);
  const pipeline = createPipeline({
    store: new MemoryStore(),
    pseudonymiser: new HmacPseudonymiser({ current: Buffer.alloc(32, 5) }),
    policy: () => policy,
    clock: { now: () => 0 },
    eventTime: { maxSkewMs: 0, trust: true },
  });
  const start = Date.UTC(2026, 10, 23);
  // An hour of recorded traffic at the rate the events imply, replayed as fast as it goes.
  const spacingMs = 3_600_000 / events;
  const requests = Array.from({ length: events }, (_, i) => toHttpAttributes(storefrontRequest(i, start + Math.floor(i * spacingMs)) as never));
  const started = process.hrtime.bigint();
  for (const attrs of requests) await pipeline.evaluate(attrs);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { events, recordedMinutes: 60, seconds: Math.round(seconds * 100) / 100, eventsPerSecond: Math.round(events / seconds) };
}
