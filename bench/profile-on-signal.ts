/**
 * Loaded into a bench server with `--import` (bench/first-checks-cpu.ts does it with
 * BENCH_FIRST_PROFILE=1): the first SIGUSR2 starts a CPU profile of the main thread (node:inspector,
 * sampling every 100 µs), the second writes it to BENCH_PROFILE_FILE and prints `profile written`
 * on stdout. So a profile holds just the Checks sent in between, not start-up and warm-up.
 * Bench instrumentation only, not part of Palisade.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const file = process.env.BENCH_PROFILE_FILE;
if (file) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on("SIGUSR2", () => {
    if (!running) {
      running = true;
      session.post("Profiler.enable", () => session.post("Profiler.setSamplingInterval", { interval: 100 }, () => session.post("Profiler.start")));
      return;
    }
    session.post("Profiler.stop", (error, result) => {
      if (!error) writeFileSync(file, JSON.stringify(result.profile));
      process.stdout.write("profile written\n");
    });
  });
}
