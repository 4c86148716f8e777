/**
 * Where a slow Check's time goes: `npx tsx bench/tail.ts`. Warms a no-op grpc-js server and
 * Palisade (Redis on, example policy, storefront mix) by answers, then loads each for a window at
 * 32 in flight and one at 1 in flight, and prints beside the latency tail what the kernel and
 * the server say about it:
 *
 * - the server main thread's time on a CPU and time runnable but waiting for one, per request
 *   (/proc/<pid>/schedstat: a server that waits for the CPU most of the time is on a busy machine);
 * - the machine's CPU pressure (/proc/pressure/cpu: share of time some task waited for a CPU);
 * - Palisade's event-loop delay over the window, and its GC pauses and decision times since start
 *   (histograms), from its /metrics.
 *
 * BENCH_WARMUP_REQUESTS (default 8,000) and BENCH_TAIL_SECONDS (default 8) size it.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import { closedLoop } from "./load.js";
import { upstreamAuthzClient } from "./noop.js";
import { startNoopProcess, startPalisadeProcess, startPinnedRedis, type ServerProcess } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

const WARMUP_REQUESTS = Number(process.env.BENCH_WARMUP_REQUESTS ?? 8_000);
const SECONDS = Number(process.env.BENCH_TAIL_SECONDS ?? 8);

/** [ns on a CPU, ns runnable but waiting, time slices] of a process's main thread. */
function schedstat(pid: number): number[] {
  return readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(" ").map(Number);
}

function cpuPressure(): string {
  try {
    return readFileSync("/proc/pressure/cpu", "utf8").split("\n")[0]!;
  } catch {
    return "unavailable";
  }
}

/** The non-zero tail-related series of a scrape; a scrape also resets the event-loop delay histogram. */
async function tailMetrics(server: ServerProcess): Promise<string> {
  if (server.adminPort === undefined) return "";
  const text = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
  const wanted = /^(nodejs_eventloop_lag_(max|p99|p50)_seconds|nodejs_gc_duration_seconds_(bucket|count)|palisade_decision_duration_seconds_bucket)/;
  return text
    .split("\n")
    .filter((line) => wanted.test(line) && !line.endsWith(" 0"))
    .join("\n");
}

async function main(): Promise<void> {
  const redis = await startPinnedRedis();
  try {
    for (const [name, start] of [["no-op grpc-js", () => startNoopProcess()], ["Palisade", () => startPalisadeProcess(redis.url)]] as const) {
      const server = await start();
      const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
      let sent = 0;
      const call = (i: number) => client.check(storefrontRequest(sent + i, Date.now()));
      const warmStart = Date.now();
      while (sent < WARMUP_REQUESTS && Date.now() - warmStart < 90_000) sent += (await closedLoop(call, { concurrency: 32, seconds: 2, warmupSeconds: 0 })).requests;
      await tailMetrics(server);
      for (const concurrency of [32, 1]) {
        const before = schedstat(server.pid);
        const pressureBefore = cpuPressure();
        const r = await closedLoop(call, { concurrency, seconds: SECONDS, warmupSeconds: 0 });
        sent += r.requests;
        const [onCpu, waiting, slices] = schedstat(server.pid).map((v, i) => v - before[i]!) as [number, number, number];
        process.stdout.write(
          `${name}, ${concurrency} in flight (load average ${os.loadavg()[0]!.toFixed(1)}): ${r.perSecond} requests/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ` +
            `p99.9 ${r.p999} ms, max ${r.max} ms; main thread per request ${Math.round(onCpu / 1e3 / r.requests)} µs on a CPU, ` +
            `${Math.round(waiting / 1e3 / r.requests)} µs waiting for one (${Math.round((waiting / 1e9 / r.seconds) * 100)}% of the window), ` +
            `${(slices / r.requests).toFixed(2)} time slices; CPU pressure before: ${pressureBefore}, after: ${cpuPressure()}\n`,
        );
        const metrics = await tailMetrics(server);
        if (metrics) process.stdout.write(`${metrics}\n`);
      }
      client.close();
      await server.stop();
    }
  } finally {
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`tail bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
