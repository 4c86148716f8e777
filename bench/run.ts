/**
 * `npm run bench`: what Palisade costs on the request path, measured against baselines taken in
 * the same run on the same machine (it is shared and noisy, so only ratios travel). Starts its
 * own redis-server; writes bench/results/<timestamp>.json and prints a table.
 *
 * The load generator (this process) is pinned to one CPU, every server and Redis to the other
 * (bench/pin.ts), the same for the no-op baseline, Palisade and the peers. `BENCH_ONLY=check,
 * ratelimit,first,workers,memory,replay` picks phases (all by default); `BENCH_QUICK=1` shortens them;
 * `BENCH_WARMUP_REQUESTS=N` sets how many calls each server answers before it is measured;
 * `BENCH_FIRST_ROUNDS=N` how many cold starts the first-Check phase makes of each server;
 * `BENCH_BASELINE_TREE=<checkout>` adds an earlier commit's Palisade to the Check and
 * ShouldRateLimit comparisons and to the first-Check phase; `BENCH_WORKERS=1:10,2:10,1:0,2:0` the pods of the workers phase
 * (workers, or workers:helper threads' niceness; "1,2" by default) and `BENCH_WORKERS_ROUNDS=N`
 * its interleaved windows. The Check phase also prints, and records as `checkDecisions`, how
 * Palisade answered the mix: the share of each action, overall and per kind of request.
 */
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { referenceMissing, startReference } from "../test/support/envoy-ratelimit-reference.js";
import { repoRoot } from "../test/support/policies.js";
import { closedLoop, interleaved, round, sequentialLatencies, type LoadResult } from "./load.js";
import { measureAttackMemory } from "./memory.js";
import { measureReplaySpeed } from "./replay-speed.js";
import { measureWorkers, podConfigurations } from "./workers.js";
import { commandStats, diffStats } from "./redis-stats.js";
import { upstreamAuthzClient } from "./noop.js";
import { PINNING, pinnedCommand } from "./pin.js";
import { startNoopProcess, startPalisadeProcess, startPinnedRedis, type ServerProcess } from "./servers.js";
import { storefrontRateLimitRequest, storefrontRequest } from "./traffic.js";
import { answerAction, DecisionShares, sharesLine, type DecisionSharesSummary } from "./decision-shares.js";
import { envoyRateLimitClient } from "../test/support/envoy-ratelimit-client.js";

const quick = process.env.BENCH_QUICK === "1";
const LOAD = { concurrency: 32, seconds: quick ? 3 : 10, warmupSeconds: quick ? 1 : 2 };
/** Interleaved windows: each server is loaded ROUNDS times, `seconds / ROUNDS` each time. */
const ROUNDS = {
  concurrency: LOAD.concurrency,
  rounds: quick ? 1 : 3,
  secondsPerRound: quick ? 3 : LOAD.seconds / 3,
  warmupSeconds: LOAD.warmupSeconds,
  // Warm by answers, not seconds: a server measured cold reports the JIT's CPU, not its own (load.ts).
  warmupRequests: Number(process.env.BENCH_WARMUP_REQUESTS ?? (quick ? 2_000 : 12_000)),
  warmupMaxSeconds: quick ? 15 : 90,
};
const PHASES = new Set((process.env.BENCH_ONLY ?? "check,ratelimit,first,workers,memory,replay").split(","));
/** envoyproxy/ratelimit's format, no Palisade extensions: the same work for every rate-limit server. */
const PEER_RATELIMIT_DIR = join(repoRoot, "bench/peers/ratelimit");

type Row = { name: string; result: LoadResult };

async function main(): Promise<void> {
  const redis = await startPinnedRedis();
  const { inspector, pid: redisPid } = redis;
  const results: Record<string, unknown> = {
    machine: machine(),
    date: new Date().toISOString(),
    commit: commit(),
    load: { ...LOAD, warmupRequests: ROUNDS.warmupRequests, warmupMaxSeconds: ROUNDS.warmupMaxSeconds },
    pinning: PINNING ?? "none (needs taskset and two CPUs)",
  };
  try {
    if (PHASES.has("check")) {
      const noop = await startNoopProcess();
      const app = await startPalisadeProcess(redis.url);
      const noopClient = upstreamAuthzClient(`127.0.0.1:${noop.grpcPort}`);
      const client = upstreamAuthzClient(`127.0.0.1:${app.grpcPort}`);
      const check = (c: typeof client) => (i: number) => c.check(storefrontRequest(i, Date.now()));
      // Every answer Palisade gave in this phase (warm-up, windows, Redis count), by kind and action.
      const decisions = new DecisionShares();
      const checkPalisade = check(client);
      const tallied = (i: number) => checkPalisade(i).then((answer) => decisions.record(i, answerAction(answer)));
      const targets = [
        { name: "no-op grpc-js", call: check(noopClient), processes: { server: noop.pid, redis: redisPid } },
        { name: "Palisade", call: tallied, processes: { server: app.pid, redis: redisPid } },
      ];
      // BENCH_BASELINE_TREE: an earlier commit's checkout (with node_modules), on its own Redis database.
      const baselineTree = process.env.BENCH_BASELINE_TREE;
      const baseline = baselineTree ? await startPalisadeProcess(`${redis.url}/3`, { cwd: baselineTree }) : undefined;
      const baselineClient = baseline && upstreamAuthzClient(`127.0.0.1:${baseline.grpcPort}`);
      if (baseline && baselineClient) targets.push({ name: "Palisade (baseline tree)", call: check(baselineClient), processes: { server: baseline.pid, redis: redisPid } });
      results.check = await interleaved(targets, ROUNDS);
      results.redisPerCheck = await redisPerRequest(inspector, tallied);
      results.checkDecisions = decisions.summary();
      noopClient.close();
      client.close();
      baselineClient?.close();
      await Promise.all([noop.stop(), app.stop(), baseline?.stop()]);
    }
    if (PHASES.has("ratelimit")) {
      // Every server on its own Redis database, so that none counts another's hits.
      const noop = await startNoopProcess();
      const palisade = await startPalisadeProcess(`${redis.url}/1`, { args: ["--ratelimit-config", PEER_RATELIMIT_DIR] });
      const compat = await startPalisadeProcess(`${redis.url}/2`, { args: ["--ratelimit-config", PEER_RATELIMIT_DIR, "--ratelimit-compat", "envoyproxy"] });
      const servers: { name: string; pid: number; grpcAddress: string; stop(): Promise<void> }[] = [
        { name: "no-op grpc-js", ...noop, grpcAddress: `127.0.0.1:${noop.grpcPort}` },
        { name: "Palisade", ...palisade, grpcAddress: `127.0.0.1:${palisade.grpcPort}` },
        { name: "Palisade envoyproxy mode", ...compat, grpcAddress: `127.0.0.1:${compat.grpcPort}` },
      ];
      // BENCH_BASELINE_TREE: the earlier commit's Palisade on the same configuration, its own database.
      const baselineTree = process.env.BENCH_BASELINE_TREE;
      if (baselineTree) {
        const baseline = await startPalisadeProcess(`${redis.url}/4`, { cwd: baselineTree, args: ["--ratelimit-config", PEER_RATELIMIT_DIR] });
        servers.push({ name: "Palisade (baseline tree)", ...baseline, grpcAddress: `127.0.0.1:${baseline.grpcPort}` });
      }
      const missing = referenceMissing();
      if (missing) results.peersUnavailable = { "envoyproxy/ratelimit": missing, ...PEERS_NOT_INSTALLABLE };
      else {
        const reference = await startReference({ runtimeDir: PEER_RATELIMIT_DIR, redisAddress: `127.0.0.1:${redis.port}`, wrap: pinnedCommand });
        servers.push({ name: "envoyproxy/ratelimit", ...reference });
        results.peersUnavailable = PEERS_NOT_INSTALLABLE;
      }
      const clients = servers.map((server) => envoyRateLimitClient(server.grpcAddress));
      const call = (limiter: (typeof clients)[number]) => (i: number) => limiter.shouldRateLimit(storefrontRateLimitRequest(i));
      results.shouldRateLimit = await interleaved(
        servers.map((server, i) => ({ name: server.name, call: call(clients[i]!), processes: { server: server.pid, redis: redisPid } })),
        ROUNDS,
      );
      const perRequest: Record<string, unknown> = {};
      for (const [i, server] of servers.entries()) if (i > 0) perRequest[server.name] = await redisPerRequest(inspector, call(clients[i]!));
      results.redisPerRateLimit = perRequest;
      for (const limiter of clients) limiter.close();
      await Promise.all(servers.map((server) => server.stop()));
    }
    if (PHASES.has("first")) results.firstChecks = await measureFirstChecks(redis.url);
    // A longer warm-up: with both workers to warm, a short one leaves the measured windows cold.
    if (PHASES.has("workers")) {
      const rounds = Number(process.env.BENCH_WORKERS_ROUNDS ?? ROUNDS.rounds);
      results.workers = await measureWorkers(redis.url, redisPid, { ...ROUNDS, rounds, warmupSeconds: quick ? 2 : 10 }, podConfigurations(process.env.BENCH_WORKERS));
    }
    if (PHASES.has("memory")) results.attackMemory = await measureAttackMemory(redis.url, { requests: Number(process.env.BENCH_ATTACK_REQUESTS ?? (quick ? 50_000 : 300_000)) });
    if (PHASES.has("replay")) {
      // The machine's load when the phase starts, minutes after the start's: CPU per event moves with it.
      const loadAverage = os.loadavg().map((l) => round(l, 2));
      results.replay = { ...(await measureReplaySpeed(quick ? 50_000 : 200_000)), loadAverage };
    }
  } finally {
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

/**
 * Warm before ready: a fresh server's Checks, one at a time, from the moment it said ready, over
 * a channel connected beforehand, and that has carried one gRPC health call, by a client that is
 * itself warm (from 2026-12-07 18:30; before, the first Check was also the channel's first call,
 * which cost the load generator about 1 ms more CPU). The first must cost what the
 * hundredth does. The no-op server shows what cold grpc-js alone costs, Palisade without its
 * warm-up decisions what they save, BENCH_BASELINE_TREE's checkout an earlier commit's figure.
 * Each is started FIRST_CHECK_ROUNDS times (BENCH_FIRST_ROUNDS), in turn;
 * medians are reported with every start's figure and the slowest, since one cold start on a
 * shared machine says little and the slowest start is what a rollout meets.
 */
const FIRST_CHECK_ROUNDS = Number(process.env.BENCH_FIRST_ROUNDS ?? 3);

async function measureFirstChecks(redisUrl: string) {
  const once = async (start: () => Promise<ServerProcess>) => {
    const startedAt = process.hrtime.bigint();
    const server = await start();
    const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
    try {
      // As Envoy's would: on a connection that has carried a call (here gRPC health), so the
      // load generator's own first call on a channel is not timed (bench/first-check-split.ts).
      await client.connect();
      await client.health();
      const latencies = await sequentialLatencies((i) => client.check(storefrontRequest(i, Date.now())), 120);
      return { startToReadyMs: Number(server.readyAt - startedAt) / 1e6, first: latencies[0]!, hundredth: median(latencies.slice(90, 110)) };
    } finally {
      client.close();
      await server.stop();
    }
  };
  type Run = Awaited<ReturnType<typeof once>>;
  const summary = (runs: Run[]) => ({
    startToReadyMs: round(median(runs.map((r) => r.startToReadyMs)), 0),
    firstCheckMs: round(median(runs.map((r) => r.first)), 2),
    firstCheckMaxMs: round(Math.max(...runs.map((r) => r.first)), 2),
    hundredthCheckMs: round(median(runs.map((r) => r.hundredth)), 2),
    firstChecksMs: runs.map((r) => round(r.first, 1)),
  });
  // Each server started once a round, in turn, so that the machine's drift falls on all alike.
  const starts: Record<string, () => Promise<ServerProcess>> = {
    noop: () => startNoopProcess(),
    palisadeWithoutWarmUp: () => startPalisadeProcess(redisUrl, { env: { PALISADE_WARM_UP_DECISIONS: "0" } }),
    palisade: () => startPalisadeProcess(redisUrl),
  };
  const baselineTree = process.env.BENCH_BASELINE_TREE;
  if (baselineTree) starts.palisadeBaselineTree = () => startPalisadeProcess(redisUrl, { cwd: baselineTree });
  const runs = new Map<string, Run[]>(Object.keys(starts).map((name) => [name, []]));
  // The load generator's own code must be warm too: one round against a no-op server first.
  await once(starts.noop!);
  for (let i = 0; i < FIRST_CHECK_ROUNDS; i++) for (const [name, start] of Object.entries(starts)) runs.get(name)!.push(await once(start));
  return Object.fromEntries([...runs].map(([name, done]) => [name, summary(done)]));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Redis commands per request (INFO commandstats) over a short window of one server alone. */
async function redisPerRequest(inspector: Redis, call: (index: number) => Promise<unknown>) {
  const before = await commandStats(inspector);
  const result = await closedLoop(call, { concurrency: LOAD.concurrency, seconds: quick ? 1 : 3, warmupSeconds: 0 });
  return diffStats(before, await commandStats(inspector), result.requests);
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
    process.stdout.write(`\n${title} (${LOAD.concurrency} in flight, ${ROUNDS.rounds} interleaved windows of ${round(ROUNDS.secondsPerRound, 1)} s per server, each after ${ROUNDS.warmupRequests} warm-up calls or ${ROUNDS.warmupMaxSeconds} s)\n`);
    printTable(rows);
  }
  const print = (label: string, value: unknown) => value !== undefined && process.stdout.write(`\n${label}: ${JSON.stringify(value)}\n`);
  const errors = [...((results.check as Row[] | undefined) ?? []), ...((results.shouldRateLimit as Row[] | undefined) ?? [])].filter((r) => r.result.errors > 0);
  for (const row of errors) print(`Errors of ${row.name}`, row.result.errorKinds);
  if (results.checkDecisions) process.stdout.write(`\nPalisade's ${sharesLine(results.checkDecisions as DecisionSharesSummary)}\n`);
  print("Redis per Check", results.redisPerCheck);
  print("Redis per ShouldRateLimit", results.redisPerRateLimit);
  print("Peers not measured", results.peersUnavailable);
  print("First Checks after ready (ms)", results.firstChecks);
  print("Workers (unpinned: the load generator and Redis share the cores)", results.workers);
  print("Memory under attack", results.attackMemory);
  if (results.replay) process.stdout.write(`\n${replayLine(results.replay as ReplayResult)}\n`);
}

type ReplayResult = Awaited<ReturnType<typeof measureReplaySpeed>> & { loadAverage: number[] };

/** Issue 16 item 5: offline replay of the storefront mix at 25,000 events per CPU second or more. */
const REPLAY_TARGET_PER_CPU_SECOND = 25_000;

/** The replay phase's figures in one line to quote: wall and CPU rate, and the target. */
function replayLine(replay: ReplayResult): string {
  const figure = (n: number) => n.toLocaleString("en-US");
  const met = replay.eventsPerCpuSecond >= REPLAY_TARGET_PER_CPU_SECOND ? "met" : "not met";
  return (
    `Offline replay (${figure(replay.events)} storefront events, ${replay.recordedMinutes} min of event time, in-memory stores; load average ${replay.loadAverage.join(" ")}): ` +
    `${figure(replay.eventsPerSecond)} events/s, ${figure(replay.eventsPerCpuSecond)} events per CPU second (${replay.cpuMicrosPerEvent} µs CPU per event); ` +
    `target ≥ ${figure(REPLAY_TARGET_PER_CPU_SECOND)} per CPU second: ${met}`
  );
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
