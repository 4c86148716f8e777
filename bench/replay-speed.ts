import { createDecisionCore } from "../src/app/decision-core.js";
import { settingsSchema } from "../src/settings/settings.js";
import { createLogger } from "../src/telemetry/logger.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { examplePolicyPath } from "../test/support/policies.js";
import { storefrontRequest } from "./traffic.js";

/** Called just before and just after the replay loop (bench/replay-profile.ts profiles only the loop). */
export interface LoopHooks {
  beforeLoop(): Promise<void>;
  afterLoop(): Promise<void>;
}

/** Offline replay: events per second through the whole decision core with in-memory stores. */
export async function measureReplaySpeed(events: number, hooks?: LoopHooks) {
  let now = 0;
  const settings = settingsSchema.parse({ policy: examplePolicyPath, trustEventTime: true, logLevel: "silent" });
  const core = await createDecisionCore(settings, { logger: createLogger({ level: "silent" }), clock: { now: () => now }, watchPolicy: false, bookkeeping: false });
  const pipeline = core.pipeline;
  const start = Date.UTC(2026, 10, 23);
  // An hour of recorded traffic at the rate the events imply, replayed as fast as it goes.
  const spacingMs = 3_600_000 / events;
  const requests = Array.from({ length: events }, (_, i) => toHttpAttributes(storefrontRequest(i, start + Math.floor(i * spacingMs)) as never));
  await hooks?.beforeLoop();
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  for (const attrs of requests) {
    now = attrs.timeMs ?? now;
    await pipeline.evaluate(attrs);
  }
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await hooks?.afterLoop();
  await core.stop();
  // CPU time per event survives a shared machine; events/s is what one free core would give.
  const cpuMicrosPerEvent = (cpu.user + cpu.system) / events;
  return {
    events,
    recordedMinutes: 60,
    seconds: Math.round(seconds * 100) / 100,
    eventsPerSecond: Math.round(events / seconds),
    cpuMicrosPerEvent: Math.round(cpuMicrosPerEvent * 10) / 10,
    eventsPerCpuSecond: Math.round(1e6 / cpuMicrosPerEvent),
  };
}
