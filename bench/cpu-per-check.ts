/**
 * Server CPU per Check of several Palisade checkouts, by a fixed count of Checks rather than by
 * time windows: on a starved machine a 3.3-s window holds a few hundred Checks and the CPU a
 * server is charged for them moves by half; a fixed count per turn keeps each figure's
 * denominator large whatever CPU the machine gives.
 *
 *   BENCH_TREES='[{"name":"land","cwd":"/path/to/land"},{"name":"here"}]' npx tsx bench/cpu-per-check.ts
 *
 * Each tree runs `palisade serve` on its own Redis database, pinned like the bench; all are
 * warmed in turns (BENCH_WARMUP_REQUESTS, default 8,000 answers each), then loaded in
 * BENCH_ROUNDS (default 4) rounds of BENCH_CALLS Checks each (default 3,000, 32 in flight,
 * the storefront mix), the trees alternating within a round. Prints, per tree, the server's CPU
 * µs per Check (all threads, from /proc) in every round and their median, the same for the
 * shared redis-server over each tree's turns, Redis's script calls, bytes received, reads of its
 * sockets (the writes that brought them) and commands (those the scripts ran included) per Check (INFO, over all rounds), and the load average.
 *
 * BENCH_CALL=ratelimit measures ShouldRateLimit instead: every tree serves the bench's
 * envoyproxy-format limits (bench/peers/ratelimit) and is driven with bench/traffic.ts's
 * storefront descriptors. A tree `{"name":"no-op","noop":true}` is the no-op grpc-js server.
 */
import os from "node:os";
import { join } from "node:path";
import { envoyRateLimitClient } from "../test/support/envoy-ratelimit-client.js";
import { repoRoot } from "../test/support/policies.js";
import { upstreamAuthzClient } from "./noop.js";
import { processCpuSeconds } from "./pin.js";
import { commandStats } from "./redis-stats.js";
import { startNoopProcess, startPalisadeProcess, startPinnedRedis, type BenchRedis, type ServerProcess } from "./servers.js";
import { storefrontRateLimitRequest, storefrontRequest } from "./traffic.js";

interface Tree {
  name: string;
  /** A checkout with its node_modules; this one when absent. */
  cwd?: string;
  /** The no-op grpc-js server instead of Palisade. */
  noop?: boolean;
  /** Its compiled build rather than its sources under tsx. */
  compiled?: boolean;
}

const trees = JSON.parse(process.env.BENCH_TREES ?? '[{"name":"here"}]') as Tree[];
const CALLS = Number(process.env.BENCH_CALLS ?? 3_000);
const WARMUP = Number(process.env.BENCH_WARMUP_REQUESTS ?? 8_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const RATELIMIT = process.env.BENCH_CALL === "ratelimit";
const REQUEST = RATELIMIT ? "ShouldRateLimit" : "Check";

function startTree(tree: Tree, redisUrl: string): Promise<ServerProcess> {
  if (tree.noop) return startNoopProcess();
  // The peers' rate limits, resolved in this checkout so that every tree serves the same file.
  const args = RATELIMIT ? ["--ratelimit-config", join(repoRoot, "bench/peers/ratelimit")] : [];
  return startPalisadeProcess(redisUrl, { args, compiled: tree.compiled ?? false, ...(tree.cwd ? { cwd: tree.cwd } : {}) });
}

function caller(server: ServerProcess): { call: (n: number) => Promise<unknown>; close(): void } {
  const address = `127.0.0.1:${server.grpcPort}`;
  if (RATELIMIT) {
    const limiter = envoyRateLimitClient(address);
    return { call: (n) => limiter.shouldRateLimit(storefrontRateLimitRequest(n)), close: () => limiter.close() };
  }
  const client = upstreamAuthzClient(address);
  return { call: (n) => client.check(storefrontRequest(n, Date.now())), close: () => client.close() };
}

async function drive(call: (n: number) => Promise<unknown>, count: number, offset: number): Promise<number> {
  let next = 0;
  let errors = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < count) await call(offset + next++).catch(() => void errors++);
  }));
  return errors;
}

/** Calls per command and bytes Redis has received so far (INFO; the INFO calls themselves are a few bytes). */
async function redisTraffic(redis: BenchRedis): Promise<{ commands: Map<string, number>; bytes: number; reads: number }> {
  const commands = await commandStats(redis.inspector);
  const stats = await redis.inspector.info("stats");
  const figure = (name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(stats)?.[1] ?? 0);
  return { commands, bytes: figure("total_net_input_bytes"), reads: figure("total_reads_processed") };
}

/** `name count` per call, most frequent first: what Redis ran per call, scripts' commands included. */
function perCall(commands: Map<string, number>, calls: number): string {
  return [...commands]
    .filter(([name]) => name !== "info")
    .sort((a, b) => b[1] - a[1])
    .map(([name, count]) => `${name} ${(count / calls).toFixed(2)}`)
    .join(", ");
}

async function main(): Promise<void> {
  const redis = await startPinnedRedis();
  const servers: ServerProcess[] = [];
  try {
    for (const [i, tree] of trees.entries()) servers.push(await startTree(tree, `${redis.url}/${i}`));
    const clients = servers.map(caller);
    const calls = clients.map((client) => client.call);
    const loadAtStart = os.loadavg()[0]!;
    for (let done = 0; done < WARMUP; done += 1_000) for (const call of calls) await drive(call, 1_000, done);
    const figures: number[][] = trees.map(() => []);
    const redisFigures: number[][] = trees.map(() => []);
    const traffic = trees.map(() => ({ commands: new Map<string, number>(), bytes: 0, reads: 0 }));
    let offset = WARMUP;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, call] of calls.entries()) {
        const before = processCpuSeconds(servers[i]!.pid);
        const redisBefore = processCpuSeconds(redis.pid);
        const trafficBefore = await redisTraffic(redis);
        const errors = await drive(call, CALLS, offset);
        const trafficAfter = await redisTraffic(redis);
        for (const [name, count] of trafficAfter.commands) {
          traffic[i]!.commands.set(name, (traffic[i]!.commands.get(name) ?? 0) + count - (trafficBefore.commands.get(name) ?? 0));
        }
        traffic[i]!.bytes += trafficAfter.bytes - trafficBefore.bytes;
        traffic[i]!.reads += trafficAfter.reads - trafficBefore.reads;
        figures[i]!.push(Math.round(((processCpuSeconds(servers[i]!.pid) - before) * 1e6) / CALLS));
        redisFigures[i]!.push(Math.round(((processCpuSeconds(redis.pid) - redisBefore) * 1e6) / CALLS));
        if (errors > 0) process.stdout.write(`${trees[i]!.name}: ${errors} errors in round ${round + 1}\n`);
      }
      offset += CALLS;
    }
    process.stdout.write(`load average ${loadAtStart.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at the end; ${CALLS} ${REQUEST}s a round\n`);
    for (const [i, tree] of trees.entries()) {
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
      const { commands } = traffic[i]!;
      const scripts = (commands.get("evalsha") ?? 0) + (commands.get("eval") ?? 0);
      process.stdout.write(`${tree.name}: server CPU µs per ${REQUEST} ${figures[i]!.join(", ")} (median ${median(figures[i]!)}); Redis ${redisFigures[i]!.join(", ")} (median ${median(redisFigures[i]!)}); Redis per ${REQUEST}: ${(scripts / (CALLS * ROUNDS)).toFixed(3)} script calls, ${Math.round(traffic[i]!.bytes / (CALLS * ROUNDS))} bytes received in ${(traffic[i]!.reads / (CALLS * ROUNDS)).toFixed(3)} reads; commands ${perCall(commands, CALLS * ROUNDS)}\n`);
    }
    for (const client of clients) client.close();
  } finally {
    for (const server of servers) await server.stop();
    await redis.stop();
  }
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`cpu-per-check failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
}
