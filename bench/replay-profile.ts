/**
 * A CPU profile of the replay loop of bench/replay-speed.ts alone (no module loading, policy
 * compilation or request building), for `node --cpu-prof` without the start-up in it:
 *
 *   node --import tsx bench/replay-profile.ts [events] [out.cpuprofile]
 *
 * Open the file in Chrome DevTools (Performance) or any .cpuprofile viewer. Sampling at 200 µs.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { measureReplaySpeed } from "./replay-speed.js";

const events = Number(process.argv[2] ?? 30_000);
const out = process.argv[3] ?? "replay-loop.cpuprofile";
const session = new Session();
session.connect();
let profile: unknown;
const result = await measureReplaySpeed(events, {
  async beforeLoop() {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
  },
  async afterLoop() {
    profile = (await session.post("Profiler.stop")).profile;
  },
});
session.disconnect();
writeFileSync(out, JSON.stringify(profile));
console.log(JSON.stringify({ ...result, profile: out }));
