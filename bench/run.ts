/**
 * `npm run bench`: what Palisade costs on the request path, measured against baselines taken in
 * the same run on the same machine (it is shared and noisy, so only ratios travel). Starts its
 * own redis-server; writes bench/results/<timestamp>.json and prints a table.
 *
 * The load generator (this process) is pinned to one CPU, every server and Redis to the other
 * (bench/pin.ts), the same for the no-op baseline, Palisade and the peers. `BENCH_ONLY=check,
 * ratelimit,first,memory,replay` picks phases (all by default); `BENCH_QUICK=1` shortens them.
 */
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { referenceMissing, startReference } from "../test/support/envoy-ratelimit-reference.js";
import { repoRoot } from "../test/support/policies.js";
import { closedLoop, round, sequentialLatencies, type LoadOptions, type LoadResult } from "./load.js";
import { measureAttackMemory } from "./memory.js";
import { measureReplaySpeed } from "./replay-speed.js";
import { commandStats, diffStats } from "./redis-stats.js";
import { upstreamAuthzClient } from "./noop.js";
import { PINNING, pinnedCommand, pinProcess } from "./pin.js";
import { startNoopProcess, startPalisadeProcess, type ServerProcess } from "./servers.js";
import { storefrontRateLimitRequest, storefrontRequest } from "./traffic.js";
import { envoyRateLimitClient } from "../test/support/envoy-ratelimit-client.js";

const quick = process.env.BENCH_QUICK === "1";
const LOAD = { concurrency: 32, seconds: quick ? 3 : 10, warmupSeconds: quick ? 1 : 2 };
const PHASES = new Set((process.env.BENCH_ONLY ?? "check,ratelimit,first,memory,replay").split(","));
/** envoyproxy/ratelimit's format, no Palisade extensions: the same work for every rate-limit server. */
const PEER_RATELIMIT_DIR = join(repoRoot, "bench/peers/ratelimit");

type Row = { name: string; result: LoadResult };

async function main(): Promise<void> {
  if (PINNING) pinProcess(process.pid, PINNING.client);
  const redis = await startRedisServer();
  const inspector = new Redis(redis.port, "127.0.0.1");
  const redisPid = Number(/process_id:(\d+)/.exec(await inspector.info("server"))?.[1]);
  if (PINNING) pinProcess(redisPid, PINNING.servers);
  const results: Record<string, unknown> = {
    machine: machine(),
    date: new Date().toISOString(),
    commit: commit(),
    load: LOAD,
    pinning: PINNING ?? "none (needs taskset and two CPUs)",
  };
  const load = (server: ServerProcess | { pid: number }): LoadOptions => ({ ...LOAD, processes: { server: server.pid, redis: redisPid } });
  try {
    if (PHASES.has("check")) {
      const rows: Row[] = [];
      const noop = await startNoopProcess();
      rows.push({ name: "no-op grpc-js", result: await measureChecks(noop, load(noop)) });
      await noop.stop();
      const app = await startPalisadeProcess(redis.url);
      const before = await commandStats(inspector);
      const palisade = await measureChecks(app, load(app));
      results.redisPerCheck = diffStats(before, await commandStats(inspector), palisade.requests + warmupRequests(palisade));
      rows.push({ name: "Palisade", result: palisade });
      await app.stop();
      results.check = rows;
    }
    if (PHASES.has("ratelimit")) {
      const rows: Row[] = [];
      const unavailable: Record<string, string> = {};
      const measure = async (name: string, server: { pid: number; grpcAddress: string; stop(): Promise<void> }) => {
        await inspector.flushall();
        const before = await commandStats(inspector);
        const limiter = envoyRateLimitClient(server.grpcAddress);
        const result = await closedLoop((i) => limiter.shouldRateLimit(storefrontRateLimitRequest(i)), load(server));
        limiter.close();
        await server.stop();
        rows.push({ name, result });
        (results.redisPerRateLimit ??= {} as Record<string, unknown>) as Record<string, unknown>;
        (results.redisPerRateLimit as Record<string, unknown>)[name] = diffStats(before, await commandStats(inspector), result.requests + warmupRequests(result));
      };
      const grpc = (server: ServerProcess) => ({ ...server, grpcAddress: `127.0.0.1:${server.grpcPort}` });
      await measure("no-op grpc-js", grpc(await startNoopProcess()));
      await measure("Palisade", grpc(await startPalisadeProcess(redis.url, { args: ["--ratelimit-config", PEER_RATELIMIT_DIR] })));
      await measure(
        "Palisade envoyproxy mode",
        grpc(await startPalisadeProcess(redis.url, { args: ["--ratelimit-config", PEER_RATELIMIT_DIR, "--ratelimit-compat", "envoyproxy"] })),
      );
      const missing = referenceMissing();
      if (missing) unavailable["envoyproxy/ratelimit"] = missing;
      else {
        const reference = await startReference({
          runtimeDir: PEER_RATELIMIT_DIR,
          redisAddress: `127.0.0.1:${redis.port}`,
          wrap: pinnedCommand,
        });
        await measure("envoyproxy/ratelimit", reference);
      }
      results.shouldRateLimit = rows;
      results.peersUnavailable = { ...unavailable, ...PEERS_NOT_INSTALLABLE };
    }
    if (PHASES.has("first")) results.firstChecks = await measureFirstChecks(redis.url);
    if (PHASES.has("memory")) results.attackMemory = await measureAttackMemory(redis.url, { requests: Number(process.env.BENCH_ATTACK_REQUESTS ?? (quick ? 50_000 : 300_000)) });
    if (PHASES.has("replay")) results.replay = await measureReplaySpeed(quick ? 50_000 : 200_000);
  } finally {
    inspector.disconnect();
    await redis.stop();
  }
  const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  printTables(results);
  process.stdout.write(`\nwritten ${file}\n`);
}

/**
 * Peers tried and not installable from the registries this project reaches (checked
 * 2026-12-06): Kuadrant's Limitador publishes its library crate but not `limitador-server` on
 * crates.io, and the Go module proxy refuses opa-envoy-plugin's module (403 "not available").
 */
const PEERS_NOT_INSTALLABLE = {
  "Limitador (limitador-server)": "cargo install limitador-server: no such crate on crates.io (only the `limitador` library is published)",
  "OPA Envoy plugin (opa_envoy)": "go install github.com/open-policy-agent/opa-envoy-plugin/cmd/opa_envoy@latest: the Go module proxy answers 403, module not available",
};

async function measureChecks(server: ServerProcess, options: LoadOptions): Promise<LoadResult> {
  const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
  try {
    return await closedLoop((i) => client.check(storefrontRequest(i, Date.now())), options);
  } finally {
    client.close();
  }
}

/**
 * Warm before ready: a fresh server's Checks, one at a time, from the moment it said ready, over
 * a channel connected beforehand by a client that is itself warm. The first must cost what the
 * hundredth does. The no-op server shows what cold grpc-js alone costs, Palisade without its
 * warm-up decisions what they save. Each is started FIRST_CHECK_ROUNDS times; medians are
 * reported, since one cold start on a shared machine says little.
 */
const FIRST_CHECK_ROUNDS = 3;

async function measureFirstChecks(redisUrl: string) {
  const once = async (start: () => Promise<ServerProcess>) => {
    const startedAt = process.hrtime.bigint();
    const server = await start();
    const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
    try {
      await client.connect();
      const latencies = await sequentialLatencies((i) => client.check(storefrontRequest(i, Date.now())), 120);
      return { startToReadyMs: Number(server.readyAt - startedAt) / 1e6, first: latencies[0]!, hundredth: median(latencies.slice(90, 110)) };
    } finally {
      client.close();
      await server.stop();
    }
  };
  const rounds = async (start: () => Promise<ServerProcess>) => {
    const runs = [];
    for (let i = 0; i < FIRST_CHECK_ROUNDS; i++) runs.push(await once(start));
    return {
      startToReadyMs: round(median(runs.map((r) => r.startToReadyMs)), 0),
      firstCheckMs: round(median(runs.map((r) => r.first)), 2),
      hundredthCheckMs: round(median(runs.map((r) => r.hundredth)), 2),
      firstChecksMs: runs.map((r) => round(r.first, 1)),
    };
  };
  // The load generator's own code must be warm too: one round against a no-op server first.
  await once(() => startNoopProcess());
  return {
    noop: await rounds(() => startNoopProcess()),
    palisadeWithoutWarmUp: await rounds(() => startPalisadeProcess(redisUrl, { env: { PALISADE_WARM_UP_DECISIONS: "0" } })),
    palisade: await rounds(() => startPalisadeProcess(redisUrl)),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Warm-up requests also reached Redis; the closed loop runs the same rate, so scale by time. */
function warmupRequests(result: LoadResult): number {
  return Math.round(result.perSecond * LOAD.warmupSeconds);
}

function machine() {
  return { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverage: os.loadavg().map((l) => round(l, 2)) };
}

function commit(): string {
  try {
    return execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

function printTables(results: Record<string, unknown>): void {
  process.stdout.write(`pinning: ${JSON.stringify(results.pinning)}; load average at start ${JSON.stringify((results.machine as { loadAverage: number[] }).loadAverage)}\n`);
  for (const [title, rows] of [["Check", results.check], ["ShouldRateLimit", results.shouldRateLimit]] as [string, Row[] | undefined][]) {
    if (!rows) continue;
    process.stdout.write(`\n${title} (${LOAD.concurrency} in flight, ${LOAD.seconds} s)\n`);
    printTable(rows);
  }
  const print = (label: string, value: unknown) => value !== undefined && process.stdout.write(`\n${label}: ${JSON.stringify(value)}\n`);
  const errors = [...((results.check as Row[] | undefined) ?? []), ...((results.shouldRateLimit as Row[] | undefined) ?? [])].filter((r) => r.result.errors > 0);
  for (const row of errors) print(`Errors of ${row.name}`, row.result.errorKinds);
  print("Redis per Check", results.redisPerCheck);
  print("Redis per ShouldRateLimit", results.redisPerRateLimit);
  print("Peers not measured", results.peersUnavailable);
  print("First Checks after ready (ms)", results.firstChecks);
  print("Memory under attack", results.attackMemory);
  print("Offline replay", results.replay);
}

/** One column per server; ratios against the first (the no-op baseline). */
function printTable(rows: Row[]): void {
  const baseline = rows[0]!.result;
  const ratio = (value: number, base: number) => (base > 0 ? `${round(value / base, 2)}×` : "");
  const lines: string[][] = [["", ...rows.map((r) => r.name)]];
  const line = (label: string, cell: (r: LoadResult) => string) => lines.push([label, ...rows.map((r) => cell(r.result))]);
  line("requests/s", (r) => String(r.perSecond));
  line("  throughput ratio", (r) => ratio(r.perSecond, baseline.perSecond));
  for (const [label, key] of [["p50 ms", "p50"], ["p99 ms", "p99"], ["p99.9 ms", "p999"], ["max ms", "max"]] as const) {
    line(label, (r) => String(r[key]));
    if (key === "p50" || key === "p99") line(`  ${key} ratio`, (r) => ratio(r[key], baseline[key]));
  }
  line("server CPU µs/request", (r) => String(r.cpuMicrosPerRequest.server ?? ""));
  line("  server CPU ratio", (r) => ratio(r.cpuMicrosPerRequest.server ?? 0, baseline.cpuMicrosPerRequest.server ?? 0));
  line("Redis CPU µs/request", (r) => String(r.cpuMicrosPerRequest.redis ?? ""));
  line("server CPU share", (r) => String(r.cpuShare.server ?? ""));
  line("load generator CPU share", (r) => String(r.cpuShare.loadGenerator ?? ""));
  line("errors", (r) => String(r.errors));
  const widths = lines[0]!.map((_, column) => Math.max(...lines.map((l) => l[column]!.length)));
  for (const l of lines) process.stdout.write(`${l.map((cell, i) => cell.padEnd(widths[i]!)).join("  ")}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
