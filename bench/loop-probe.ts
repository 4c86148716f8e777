/**
 * Loaded into a bench server with `--import` (bench/live-tail.ts does it): records, with
 * timestamps, every stall of the server's event loop and every GC pause, and for each stall how
 * much of it the main thread spent on a CPU and how much runnable but waiting for one
 * (/proc/self/task/<pid>/schedstat). That separates our own stalls (the thread was running:
 * our code or GC) from the scheduler's (the thread was ready but another process had the CPU),
 * which on a shared machine are most of them. Writes JSON lines to BENCH_LOOP_PROBE_FILE:
 *
 * - `{"stall": …}`: a 2 ms timer late by more than STALL_MS; `at` is the wall time the loop was
 *   last seen free (ms since the epoch), `ms` how long until it ran again, `cpuMs` and `waitMs`
 *   the main thread's time on a CPU and waiting for one in between, `mono` the same start on the
 *   monotonic clock in µs (what `--cpu-prof` profiles use), for looking up what ran;
 * - `{"gc": …}`: a collection of at least GC_MS, its kind, start and duration;
 * - `{"second": …}`: once a second, the process's CPU time (all threads), the main thread's time
 *   on a CPU and waiting, GC time, event-loop utilisation, heap in use and resident memory.
 *
 * Bench instrumentation only: not part of Palisade, which exports event-loop delay and GC as
 * metrics (src/telemetry/metrics.ts). Costs one small /proc read every 2 ms.
 */
import { openSync, readFileSync, writeSync } from "node:fs";
import { PerformanceObserver, constants, performance } from "node:perf_hooks";

const TICK_MS = 2;
const STALL_MS = 10;
const GC_MS = 2;
const file = process.env.BENCH_LOOP_PROBE_FILE;

if (file) start(file);

function start(path: string): void {
  const fd = openSync(path, "a");
  const lines: string[] = [];
  const flush = () => {
    if (lines.length > 0) writeSync(fd, `${lines.splice(0).join("\n")}\n`);
  };
  const schedstatPath = `/proc/self/task/${process.pid}/schedstat`;
  const sched = (): [number, number] => {
    try {
      const [onCpu, waiting] = readFileSync(schedstatPath, "utf8").split(" ");
      return [Number(onCpu), Number(waiting)];
    } catch {
      return [0, 0];
    }
  };
  const wall = (monotonicMs: number) => performance.timeOrigin + monotonicMs;

  let gcMs = 0;
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
  };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration;
      if (entry.duration < GC_MS) continue;
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1;
      lines.push(JSON.stringify({ gc: { at: Math.round(wall(entry.startTime)), ms: round(entry.duration), kind: kinds[kind] ?? String(kind) } }));
    }
  }).observe({ entryTypes: ["gc"] });

  let last = performance.now();
  let [lastCpu, lastWait] = sched();
  const tick = setInterval(() => {
    const now = performance.now();
    const [onCpu, waiting] = sched();
    const gap = now - last;
    if (gap - TICK_MS > STALL_MS) {
      lines.push(
        JSON.stringify({
          stall: {
            at: Math.round(wall(last)),
            mono: Math.round(last * 1000 + monotonicOffsetUs),
            ms: round(gap),
            cpuMs: round((onCpu - lastCpu) / 1e6),
            waitMs: round((waiting - lastWait) / 1e6),
          },
        }),
      );
    }
    last = now;
    lastCpu = onCpu;
    lastWait = waiting;
  }, TICK_MS);
  tick.unref();

  let cpu = process.cpuUsage();
  let [secondCpu, secondWait] = sched();
  let elu = performance.eventLoopUtilization();
  const second = setInterval(() => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const [onCpu, waiting] = sched();
    const utilisation = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    lines.push(
      JSON.stringify({
        second: {
          at: Date.now(),
          cpuMs: round((used.user + used.system) / 1e3),
          mainCpuMs: round((onCpu - secondCpu) / 1e6),
          mainWaitMs: round((waiting - secondWait) / 1e6),
          gcMs: round(gcMs),
          elu: round(utilisation.utilization),
          heapMiB: round(process.memoryUsage().heapUsed / 2 ** 20),
          rssMiB: round(process.memoryUsage.rss() / 2 ** 20),
        },
      }),
    );
    secondCpu = onCpu;
    secondWait = waiting;
    gcMs = 0;
    flush();
  }, 1000);
  second.unref();
  process.on("exit", flush);
}

/**
 * performance.now() counts from the process's time origin; V8's profiler stamps samples on the
 * monotonic clock (process.hrtime). The difference, in µs, maps one onto the other.
 */
const monotonicOffsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
