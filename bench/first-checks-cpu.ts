/**
 * What a fresh server's first Checks cost in CPU, Check by Check: `npx tsx bench/first-checks-cpu.ts
 * [<other checkout> ...]` (`BENCH_ROUNDS`, default 3 cold starts per tree; `BENCH_CHECKS`, default
 * 200; `BENCH_FIRST_NO_WARM_UP=1` adds this tree with `PALISADE_WARM_UP_DECISIONS=0`).
 *
 * Wall-clock latency of a first Check says little on a shared machine (the server may simply not
 * have been given the CPU); CPU time does. Each server is started pinned like `npm run bench`,
 * its channel connected, and at once (as Envoy's would once the probe said ready) Checks of the
 * storefront mix go one at a time: before each, and again once the answer is in and the server
 * has had a moment to finish what it does after answering (SETTLE_MS), the CPU time of every
 * thread of the server is read
 * from /proc/<pid>/task/<tid>/schedstat (nanoseconds, unlike /proc/<pid>/stat's 10 ms ticks). The
 * main thread is what a Check waits for; the other threads are V8's compilers and GC helpers.
 * bench/loop-probe.ts runs inside each server and reports the GC pauses and the event-loop stalls
 * of its own (main thread on a CPU) between ready and the last Check: what a Check could have met.
 *
 * Printed per tree, medians over the cold starts: the 1st Check, the 2nd to 10th, the 11th to
 * 50th, around the 100th (91st–110th) and the last 20; the first of each request kind of the mix
 * (asset, product, search, login, refresh) against that kind's later ones; the 1st Check's
 * wall-clock latency (median and max over the starts) and each start's slowest; each start's
 * costliest Checks by index (a Check far above the rest marks a path warm-up left cold); the GC pauses and
 * own stalls after ready; the first Check on a second connection (a cost per connection, or
 * once per process?); the idle floor (measured after the Checks); and the CPU the server
 * spent from its start to ready, with the warm-up's own figure from its log.
 *
 * `BENCH_FIRST_PROFILE=<file.cpuprofile>` instead starts this tree once and writes a CPU profile of
 * its main thread over its first BENCH_PROFILE_CHECKS (default 10) Checks only
 * (bench/profile-on-signal.ts); `npx tsx bench/profile-summary.ts <file>` sums it up.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { upstreamAuthzClient } from "./noop.js";
import { threadCpuNs } from "./pin.js";
import { readProbe, stallKind, type Gc, type Stall } from "./probe-records.js";
import { startPalisadeProcess, startPinnedRedis, type ServerProcess } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHECKS = Number(process.env.BENCH_CHECKS ?? 200);
/** Long enough for the Redis writes and metrics after an answer to run, short next to a timer tick. */
const SETTLE_MS = 15;

/** The storefront mix's kinds, by index (bench/traffic.ts). */
function kindOf(index: number): string {
  const kind = index % 50;
  return kind < 25 ? "asset" : kind < 38 ? "product" : kind < 44 ? "search" : kind < 48 ? "login" : "refresh";
}

interface Run {
  main: number[];
  other: number[];
  /** Wall-clock ms of each Check, as the client saw it. */
  wallMs: number[];
  /** GC pauses of at least 2 ms from ready to the last Check (bench/loop-probe.ts). */
  gcs: Gc[];
  /** Stalls of the event loop over 10 ms in the same span with the main thread on a CPU: GC or our own code. */
  ownStalls: Stall[];
  toReadyMs: number;
  toReadyCpuMs: number;
  warmUpMs?: number;
  /** The warm-up's CPU time by its log (absent before it said). */
  warmUpCpuMs?: number;
  /** The main thread's CPU over a settle period with no Check: the floor under every figure. */
  idle: number[];
  /** Main-thread CPU µs of the first Check on a second connection, opened after the others: what a new connection costs. */
  secondConnection: number;
}

type Start = (probe: { env: Record<string, string>; preload: string[]; onLine: (line: string) => void }) => Promise<ServerProcess>;

async function once(start: Start): Promise<Run> {
  const probeDir = mkdtempSync(join(os.tmpdir(), "palisade-first-checks-"));
  const probeFile = join(probeDir, "probe.jsonl");
  let warmUpMs: number | undefined;
  let warmUpCpuMs: number | undefined;
  const startedAt = process.hrtime.bigint();
  const server = await start({
    env: { BENCH_LOOP_PROBE_FILE: probeFile },
    preload: ["./bench/loop-probe.ts"],
    onLine: (line) => {
      if (!line.includes('"palisade ready"')) return;
      const warmUp = (JSON.parse(line) as { warmUp?: { ms: number; cpuMs?: number } }).warmUp;
      warmUpMs = warmUp?.ms;
      warmUpCpuMs = warmUp?.cpuMs;
    },
  });
  const readyAtMs = Date.now();
  const ready = threadCpuNs(server.pid);
  const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
  const main: number[] = [];
  const other: number[] = [];
  const wallMs: number[] = [];
  const idle: number[] = [];
  let lastCheckAtMs = readyAtMs;
  let secondConnection = Number.NaN;
  try {
    // The first Check goes as soon as the channel is up, as Envoy's would after the probe said ready.
    await client.connect();
    for (let i = 0; i < CHECKS; i++) {
      const before = threadCpuNs(server.pid);
      const sent = process.hrtime.bigint();
      await client.check(storefrontRequest(i, Date.now())).catch(() => {});
      wallMs.push(Number(process.hrtime.bigint() - sent) / 1e6);
      await sleep(SETTLE_MS);
      const after = threadCpuNs(server.pid);
      main.push((after.main - before.main) / 1000);
      other.push((after.other - before.other) / 1000);
    }
    lastCheckAtMs = Date.now();
    const second = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
    try {
      await second.connect();
      const before = threadCpuNs(server.pid);
      await second.check(storefrontRequest(0, Date.now())).catch(() => {});
      await sleep(SETTLE_MS);
      secondConnection = (threadCpuNs(server.pid).main - before.main) / 1000;
    } finally {
      second.close();
    }
    for (let i = 0; i < 10; i++) {
      const before = threadCpuNs(server.pid);
      await sleep(SETTLE_MS);
      idle.push((threadCpuNs(server.pid).main - before.main) / 1000);
    }
  } finally {
    client.close();
    await server.stop();
  }
  const afterReady = <T extends { at: number }>(records: T[]) => records.filter((record) => record.at >= readyAtMs && record.at <= lastCheckAtMs);
  const gcs = afterReady(readProbe<Gc>(probeFile, "gc"));
  const ownStalls = afterReady(readProbe<Stall>(probeFile, "stall")).filter((stall) => stallKind(stall) === "own");
  rmSync(probeDir, { recursive: true, force: true });
  return { main, other, wallMs, gcs, ownStalls, secondConnection, toReadyMs: Number(server.readyAt - startedAt) / 1e6, toReadyCpuMs: (ready.main + ready.other) / 1e6, warmUpMs, warmUpCpuMs, idle };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Median over runs of the median over a range of Checks (µs). */
function span(runs: readonly Run[], from: number, to: number, thread: "main" | "other" = "main"): number {
  return Math.round(median(runs.map((run) => median(run[thread].slice(from, to)))));
}

function topChecks(cpuUs: readonly number[], count: number): string {
  return cpuUs
    .map((us, index) => ({ us, index }))
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map(({ us, index }) => `#${index}:${Math.round(us)}`)
    .join(" ");
}

function report(name: string, runs: readonly Run[]): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`\n${name} (${runs.length} cold starts; CPU µs of the server per Check, medians)`);
  out(`  main thread: 1st ${span(runs, 0, 1)} | 2nd-10th ${span(runs, 1, 10)} | 11th-50th ${span(runs, 10, 50)} | 91st-110th ${span(runs, 90, 110)} | last 20 ${span(runs, CHECKS - 20, CHECKS)}`);
  out(`  other threads: 1st ${span(runs, 0, 1, "other")} | 2nd-10th ${span(runs, 1, 10, "other")} | 11th-50th ${span(runs, 10, 50, "other")} | 91st-110th ${span(runs, 90, 110, "other")}`);
  out(`  idle floor (main thread, ${SETTLE_MS} ms without a Check): ${Math.round(median(runs.map((run) => median(run.idle))))}`);
  // A Check far above the others names a path warm-up leaves cold (the storefront mix's 46th, its first challenge).
  out(`  costliest Checks of each start, #index (from 0): main-thread µs: ${runs.map((run) => topChecks(run.main, 4)).join(" | ")}`);
  out(`  1st Check of each start, main thread: ${runs.map((run) => Math.round(run.main[0]!)).join(", ")}`);
  out(`  1st Check on a second connection, opened after the last, main thread: ${runs.map((run) => Math.round(run.secondConnection)).join(", ")}`);
  const firstWall = runs.map((run) => run.wallMs[0]!);
  out(`  1st Check wall ms: median ${median(firstWall).toFixed(1)}, max ${Math.max(...firstWall).toFixed(1)} (${firstWall.map((ms) => ms.toFixed(1)).join(", ")}); 91st-110th ${median(runs.map((run) => median(run.wallMs.slice(90, 110)))).toFixed(1)}`);
  out(`  slowest of the ${CHECKS} Checks, wall ms, by start: ${runs.map((run) => Math.max(...run.wallMs).toFixed(1)).join(", ")}`);
  const gcMs = (run: Run) => run.gcs.reduce((sum, gc) => sum + gc.ms, 0);
  out(
    `  from ready to the last Check: GC pauses >= 2 ms by start ${runs.map((run) => `${run.gcs.length} (${Math.round(gcMs(run))} ms)`).join(", ")}; of them major or incremental marking ${runs.map((run) => run.gcs.filter((gc) => gc.kind !== "minor").length).join(", ")}; longest ${Math.max(0, ...runs.flatMap((run) => run.gcs.map((gc) => gc.ms))).toFixed(1)} ms; own event-loop stalls > 10 ms ${runs.map((run) => run.ownStalls.length).join(", ")}, longest ${Math.max(0, ...runs.flatMap((run) => run.ownStalls.map((stall) => stall.cpuMs))).toFixed(1)} ms on a CPU`,
  );
  const kinds = new Map<string, { first: number[]; later: number[] }>();
  for (const run of runs) {
    const seen = new Set<string>();
    run.main.forEach((us, i) => {
      const kind = kindOf(i);
      const entry = kinds.get(kind) ?? { first: [], later: [] };
      kinds.set(kind, entry);
      if (!seen.has(kind)) entry.first.push(us);
      else if (i >= CHECKS / 2) entry.later.push(us);
      seen.add(kind);
    });
  }
  out(`  first of each kind (later ones, 2nd half): ${[...kinds].map(([kind, { first, later }]) => `${kind} ${Math.round(median(first))} (${Math.round(median(later))})`).join(", ")}`);
  out(
    `  start to ready: ${Math.round(median(runs.map((run) => run.toReadyMs)))} ms wall, ${Math.round(median(runs.map((run) => run.toReadyCpuMs)))} ms CPU (all threads); warm-up ${runs.map((run) => run.warmUpMs ?? "-").join(", ")} ms wall, ${runs.map((run) => run.warmUpCpuMs ?? "-").join(", ")} ms CPU by its log`,
  );
}

async function profileFirstChecks(file: string): Promise<void> {
  const count = Number(process.env.BENCH_PROFILE_CHECKS ?? 10);
  const redis = await startPinnedRedis();
  let written: () => void = () => {};
  const profileWritten = new Promise<void>((resolve) => (written = resolve));
  const server = await startPalisadeProcess(redis.url, {
    env: { BENCH_PROFILE_FILE: file, ...(process.env.BENCH_FIRST_NO_WARM_UP === "1" ? { PALISADE_WARM_UP_DECISIONS: "0" } : {}) },
    preload: ["./bench/profile-on-signal.ts"],
    onLine: (line) => line === "profile written" && written(),
  });
  const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
  try {
    await client.connect();
    process.kill(server.pid, "SIGUSR2");
    await sleep(100);
    for (let i = 0; i < count; i++) {
      await client.check(storefrontRequest(i, Date.now())).catch(() => {});
      await sleep(SETTLE_MS);
    }
    process.kill(server.pid, "SIGUSR2");
    await profileWritten;
    process.stdout.write(`profile of the first ${count} Checks written to ${file}\n`);
  } finally {
    client.close();
    await server.stop();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  if (process.env.BENCH_FIRST_PROFILE) return profileFirstChecks(process.env.BENCH_FIRST_PROFILE);
  const trees: { name: string; cwd?: string; env?: Record<string, string> }[] = process.argv.slice(2).map((cwd) => ({ name: cwd, cwd }));
  trees.push({ name: "this tree" });
  if (process.env.BENCH_FIRST_NO_WARM_UP === "1") trees.push({ name: "this tree, PALISADE_WARM_UP_DECISIONS=0", env: { PALISADE_WARM_UP_DECISIONS: "0" } });
  const redis = await startPinnedRedis();
  process.stdout.write(`first-checks-cpu: ${CHECKS} Checks one at a time, ${ROUNDS} cold starts per tree (interleaved), load average ${os.loadavg()[0]!.toFixed(1)}\n`);
  const runs = new Map<string, Run[]>(trees.map((tree) => [tree.name, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const tree of trees) {
        await redis.inspector.flushall();
        runs.get(tree.name)!.push(await once((probe) => startPalisadeProcess(redis.url, { ...probe, ...(tree.cwd ? { cwd: tree.cwd } : {}), env: { ...probe.env, ...tree.env } })));
      }
    }
    for (const tree of trees) report(tree.name, runs.get(tree.name)!);
    process.stdout.write(`load average at the end ${os.loadavg()[0]!.toFixed(1)}\n`);
  } finally {
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`first-checks-cpu failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
