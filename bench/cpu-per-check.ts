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
 *
 * A tree's `nodeArgs` are node flags for its server, so one checkout under several V8 settings
 * alternates like several checkouts:
 *
 *   BENCH_TREES='[{"name":"default"},{"name":"semi 32","nodeArgs":["--max-semi-space-size=32"]}]' npx tsx bench/cpu-per-check.ts
 *
 * Every server carries bench/gc-probe.ts, and a second line per tree gives, over its measured
 * turns, the client's p99 and maximum, the main isolate's collections per 1,000 calls by kind,
 * their pauses' sum as a share of the server's CPU time (V8 times a pause on the wall clock, so a
 * busy machine inflates it), the share of the threads other than the main one (V8's GC helpers
 * and compilers), the bytes promoted per call, the new space's size at the end and the
 * resident memory. A third line (Checks only) gives the measured rounds' decisions: the share of
 * each action, overall and per kind of request.
 *
 * A tree `{"ownMix": true}` (with a `cwd`) is driven with its checkout's own bench/traffic.ts, so
 * two checkouts of the same code differing in the mix compare mixes.
 */
import os from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { envoyRateLimitClient } from "../test/support/envoy-ratelimit-client.js";
import { repoRoot } from "../test/support/policies.js";
import { upstreamAuthzClient } from "./noop.js";
import { processCpuSeconds, residentMiB, threadCpuSeconds } from "./pin.js";
import { commandStats } from "./redis-stats.js";
import { startNoopProcess, startPalisadeProcess, startPinnedRedis, type BenchRedis, type ServerProcess } from "./servers.js";
import { answerAction, DecisionShares, sharesLine } from "./decision-shares.js";

interface Tree {
  name: string;
  /** A checkout with its node_modules; this one when absent. */
  cwd?: string;
  /** The no-op grpc-js server instead of Palisade. */
  noop?: boolean;
  /** Its compiled build rather than its sources under tsx. */
  compiled?: boolean;
  /** Flags for node itself (e.g. `--max-semi-space-size=32`). */
  nodeArgs?: string[];
  /** Driven with its checkout's own bench/traffic.ts rather than this one's: to compare mixes. */
  ownMix?: boolean;
}

/** What bench/gc-probe.ts prints for one turn. */
interface GcTurn {
  kinds: Record<string, { count: number; costMicros: number }>;
  promotedBytes: number;
  newSpaceBytes: number;
}

/** A server with its GC probe: signal() ends the probe's current count and resolves with it. */
interface Probed {
  server: ServerProcess;
  signal(): Promise<GcTurn>;
}

const trees = JSON.parse(process.env.BENCH_TREES ?? '[{"name":"here"}]') as Tree[];
const CALLS = Number(process.env.BENCH_CALLS ?? 3_000);
const WARMUP = Number(process.env.BENCH_WARMUP_REQUESTS ?? 8_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const RATELIMIT = process.env.BENCH_CALL === "ratelimit";
const REQUEST = RATELIMIT ? "ShouldRateLimit" : "Check";

async function startTree(tree: Tree, redisUrl: string): Promise<Probed> {
  const waiting: ((turn: GcTurn) => void)[] = [];
  const probe = {
    env: { BENCH_GC_PROBE: "1" },
    // Absolute: a baseline checkout without the probe still loads this one.
    preload: [join(repoRoot, "bench/gc-probe.ts")],
    onLine: (line: string) => {
      if (line.startsWith("gc-probe ")) waiting.shift()?.(JSON.parse(line.slice("gc-probe ".length)) as GcTurn);
    },
  };
  // The peers' rate limits, resolved in this checkout so that every tree serves the same file.
  const args = RATELIMIT ? ["--ratelimit-config", join(repoRoot, "bench/peers/ratelimit")] : [];
  const server = tree.noop ? await startNoopProcess(probe) : await startPalisadeProcess(redisUrl, { ...probe, args, nodeArgs: tree.nodeArgs ?? [], compiled: tree.compiled ?? false, ...(tree.cwd ? { cwd: tree.cwd } : {}) });
  return {
    server,
    signal: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        process.kill(server.pid, "SIGUSR2");
      }),
  };
}

type Mix = Pick<typeof import("./traffic.js"), "storefrontRequest" | "storefrontRateLimitRequest">;

function mixOf(tree: Tree): Promise<Mix> {
  return tree.ownMix && tree.cwd ? (import(pathToFileURL(join(tree.cwd, "bench/traffic.ts")).href) as Promise<Mix>) : import("./traffic.js");
}

/** A call of the tree's kind; a Check's answer goes to `record`. */
function caller(server: ServerProcess, mix: Mix, record: (index: number, action: string) => void): { call: (n: number) => Promise<unknown>; close(): void } {
  const address = `127.0.0.1:${server.grpcPort}`;
  if (RATELIMIT) {
    const limiter = envoyRateLimitClient(address);
    return { call: (n) => limiter.shouldRateLimit(mix.storefrontRateLimitRequest(n)), close: () => limiter.close() };
  }
  const client = upstreamAuthzClient(address);
  return { call: (n) => client.check(mix.storefrontRequest(n, Date.now())).then((answer) => record(n, answerAction(answer))), close: () => client.close() };
}

/** Sends `count` calls 32 at a time; the errors, and each call's latency in ms pushed on `latencies`. */
async function drive(call: (n: number) => Promise<unknown>, count: number, offset: number, latencies: number[] = []): Promise<number> {
  let next = 0;
  let errors = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < count) {
      const sent = performance.now();
      await call(offset + next++).catch(() => void errors++);
      latencies.push(performance.now() - sent);
    }
  }));
  return errors;
}

/** The second line of a tree: its tail and its collections over the measured turns. */
function gcLine(turns: GcTurn[], latencies: number[], cpu: { main: number; other: number }, calls: number): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  const kinds = new Map<string, { count: number; costMicros: number }>();
  for (const turn of turns) {
    for (const [kind, { count, costMicros }] of Object.entries(turn.kinds)) {
      const sum = kinds.get(kind) ?? { count: 0, costMicros: 0 };
      kinds.set(kind, { count: sum.count + count, costMicros: sum.costMicros + costMicros });
    }
  }
  const cpuMicros = (cpu.main + cpu.other) * 1e6;
  const gcMicros = [...kinds.values()].reduce((sum, kind) => sum + kind.costMicros, 0);
  const share = (micros: number) => `${((micros * 100) / cpuMicros).toFixed(1)}%`;
  const perThousand = [...kinds].map(([kind, { count, costMicros }]) => `${kind} ${((count * 1000) / calls).toFixed(2)} (${Math.round(costMicros / 1000)} ms)`).join(", ");
  const promoted = turns.reduce((sum, turn) => sum + turn.promotedBytes, 0);
  return (
    `  p99 ${sorted[Math.floor(0.99 * sorted.length)]!.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms; per 1,000: ${perThousand || "no collection"}; ` +
    `GC pauses (wall) ${share(gcMicros)} of the server's CPU time, threads other than the main one ${share(cpu.other * 1e6)}; ` +
    `promoted ${Math.round(promoted / calls)} bytes per call; new space ${Math.round(turns.at(-1)!.newSpaceBytes / 2 ** 20)} MiB at the end (two semi-spaces)`
  );
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
  const probed: Probed[] = [];
  const servers: ServerProcess[] = [];
  try {
    for (const [i, tree] of trees.entries()) {
      probed.push(await startTree(tree, `${redis.url}/${i}`));
      servers.push(probed[i]!.server);
    }
    const mixes = await Promise.all(trees.map(mixOf));
    let decisions = trees.map(() => new DecisionShares());
    // Counted afresh once warm: the shares of the measured rounds.
    const clients = servers.map((server, i) => caller(server, mixes[i]!, (n, action) => decisions[i]!.record(n, action)));
    const calls = clients.map((client) => client.call);
    const loadAtStart = os.loadavg()[0]!;
    for (let done = 0; done < WARMUP; done += 1_000) for (const call of calls) await drive(call, 1_000, done);
    decisions = trees.map(() => new DecisionShares());
    const figures: number[][] = trees.map(() => []);
    const redisFigures: number[][] = trees.map(() => []);
    const traffic = trees.map(() => ({ commands: new Map<string, number>(), bytes: 0, reads: 0 }));
    const gcTurns: GcTurn[][] = trees.map(() => []);
    const latencies: number[][] = trees.map(() => []);
    const threadCpu = trees.map(() => ({ main: 0, other: 0 }));
    let offset = WARMUP;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, call] of calls.entries()) {
        const before = processCpuSeconds(servers[i]!.pid);
        const redisBefore = processCpuSeconds(redis.pid);
        const trafficBefore = await redisTraffic(redis);
        await probed[i]!.signal();
        const threadsBefore = threadCpuSeconds(servers[i]!.pid);
        const errors = await drive(call, CALLS, offset, latencies[i]);
        const threadsAfter = threadCpuSeconds(servers[i]!.pid);
        gcTurns[i]!.push(await probed[i]!.signal());
        threadCpu[i]!.main += threadsAfter.main - threadsBefore.main;
        threadCpu[i]!.other += threadsAfter.other - threadsBefore.other;
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
      process.stdout.write(`${gcLine(gcTurns[i]!, latencies[i]!, threadCpu[i]!, CALLS * ROUNDS)}; ${residentMiB(servers[i]!.pid)}\n`);
      if (!RATELIMIT) process.stdout.write(`  ${sharesLine(decisions[i]!.summary())}\n`);
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
