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
 *   (histograms), from its /metrics;
 * - from bench/loop-probe.ts inside both servers: the window's event-loop stalls over 10 ms, by
 *   kind (the server's own work or GC, or waiting for a CPU), the longest own one, and its GC
 *   pauses over 2 ms. BENCH_TAIL_PROFILE=1 adds a CPU profile of each server (`--cpu-prof`,
 *   bench/results/profiles/) and names the functions that ran in each own stall over 20 ms.
 *
 * BENCH_WARMUP_REQUESTS (default 8,000) and BENCH_TAIL_SECONDS (default 8) size it.
 * BENCH_TAIL_NODE_ARGS adds Palisade started with those node flags (e.g.
 * `--max-semi-space-size=32`), measured after the plain one; `;` separates several variants.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { closedLoop } from "./load.js";
import { upstreamAuthzClient } from "./noop.js";
import { indexProfile, profileFunctions, readProbe, stallKind, type CpuProfile, type Gc, type Stall } from "./probe-records.js";
import { startNoopProcess, startPalisadeProcess, startPinnedRedis, type ServerProcess } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

const WARMUP_REQUESTS = Number(process.env.BENCH_WARMUP_REQUESTS ?? 8_000);
const SECONDS = Number(process.env.BENCH_TAIL_SECONDS ?? 8);
const PROFILE = process.env.BENCH_TAIL_PROFILE === "1";
/** Own stalls at least this long are listed one by one. */
const LISTED_STALL_MS = 20;
const VARIANT_NODE_ARGS = (process.env.BENCH_TAIL_NODE_ARGS ?? "")
  .split(";")
  .map((variant) => variant.split(" ").filter(Boolean))
  .filter((args) => args.length > 0);

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

/** The probe's stalls and GC pauses that began in [from, to), counted by kind. */
function probeSummary(file: string, from: number, to: number): { line: string; own: Stall[] } {
  const stalls = readProbe<Stall>(file, "stall").filter((s) => s.at >= from && s.at < to);
  const gcs = readProbe<Gc>(file, "gc").filter((g) => g.at >= from && g.at < to);
  const own = stalls.filter((s) => stallKind(s) === "own").sort((a, b) => b.ms - a.ms);
  const descheduled = stalls.filter((s) => stallKind(s) === "descheduled").length;
  const longest = (list: { ms: number }[]) => Math.max(0, ...list.map((x) => x.ms));
  return {
    line:
      `event-loop stalls over 10 ms: ${stalls.length} (own ${own.length}, waiting for a CPU ${descheduled}), longest ${longest(stalls)} ms, ` +
      `longest own ${own[0] ? `${own[0].ms} ms (${own[0].cpuMs} on a CPU)` : "none"}; GC pauses over 2 ms: ${gcs.length}, longest ${longest(gcs)} ms ` +
      `(${gcs.filter((g) => g.kind === "major").length} major)`,
    own,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), "palisade-tail-"));
  const redis = await startPinnedRedis();
  try {
    const servers = [
      ["no-op grpc-js", (probe: { env: Record<string, string>; preload: string[] }) => startNoopProcess(probe)],
      ["Palisade", (probe: { env: Record<string, string>; preload: string[] }) => startPalisadeProcess(redis.url, { ...probe, nodeArgs: profileArgs(dir, "palisade") })],
      ...VARIANT_NODE_ARGS.map(
        (nodeArgs) => [`Palisade ${nodeArgs.join(" ")}`, (probe: { env: Record<string, string>; preload: string[] }) => startPalisadeProcess(redis.url, { ...probe, nodeArgs })] as const,
      ),
    ] as const;
    for (const [name, start] of servers) {
      const probeFile = join(dir, `${name.replace(/\W+/g, "-")}.jsonl`);
      const server = await start({ env: { BENCH_LOOP_PROBE_FILE: probeFile }, preload: ["./bench/loop-probe.ts"] });
      const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
      let sent = 0;
      const call = (i: number) => client.check(storefrontRequest(sent + i, Date.now()));
      const warmStart = Date.now();
      while (sent < WARMUP_REQUESTS && Date.now() - warmStart < 90_000) sent += (await closedLoop(call, { concurrency: 32, seconds: 2, warmupSeconds: 0 })).requests;
      await tailMetrics(server);
      const ownStalls: Stall[] = [];
      for (const concurrency of [32, 1]) {
        const before = schedstat(server.pid);
        const pressureBefore = cpuPressure();
        const from = Date.now();
        const r = await closedLoop(call, { concurrency, seconds: SECONDS, warmupSeconds: 0 });
        const to = Date.now();
        sent += r.requests;
        const [onCpu, waiting, slices] = schedstat(server.pid).map((v, i) => v - before[i]!) as [number, number, number];
        process.stdout.write(
          `${name}, ${concurrency} in flight (load average ${os.loadavg()[0]!.toFixed(1)}): ${r.perSecond} requests/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ` +
            `p99.9 ${r.p999} ms, max ${r.max} ms; main thread per request ${Math.round(onCpu / 1e3 / r.requests)} µs on a CPU, ` +
            `${Math.round(waiting / 1e3 / r.requests)} µs waiting for one (${Math.round((waiting / 1e9 / r.seconds) * 100)}% of the window), ` +
            `${(slices / r.requests).toFixed(2)} time slices; CPU pressure before: ${pressureBefore}, after: ${cpuPressure()}\n`,
        );
        await new Promise((resolve) => setTimeout(resolve, 1_200)); // the probe writes once a second
        const probe = probeSummary(probeFile, from, to);
        ownStalls.push(...probe.own);
        process.stdout.write(`  ${probe.line}\n`);
        const metrics = await tailMetrics(server);
        if (metrics) process.stdout.write(`${metrics}\n`);
      }
      client.close();
      await server.stop();
      if (PROFILE && name === "Palisade") nameOwnStalls(join(dir, "palisade"), ownStalls);
    }
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function profileArgs(dir: string, name: string): string[] {
  return PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${join(dir, name)}`, "--cpu-prof-interval=1000"] : [];
}

/** Prints, for each own stall of at least LISTED_STALL_MS, the functions with most self time in it. */
function nameOwnStalls(profileDir: string, stalls: Stall[]): void {
  const file = readdirSync(profileDir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) return;
  const profile = indexProfile(JSON.parse(readFileSync(join(profileDir, file), "utf8")) as CpuProfile);
  for (const stall of stalls.filter((s) => s.ms >= LISTED_STALL_MS)) {
    const top = profileFunctions(profile, stall.mono, stall.mono + stall.ms * 1000).slice(0, 6);
    process.stdout.write(`  own stall ${stall.ms} ms (${stall.cpuMs} on a CPU): ${top.map((f) => `${f.name} ${f.ms} ms`).join("; ")}\n`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`tail bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
