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
 * µs per Check (all threads, from /proc) in every round and their median, and the load average.
 */
import os from "node:os";
import { upstreamAuthzClient } from "./noop.js";
import { processCpuSeconds } from "./pin.js";
import { startPalisadeProcess, startPinnedRedis, type ServerProcess } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

interface Tree {
  name: string;
  /** A checkout with its node_modules; this one when absent. */
  cwd?: string;
}

const trees = JSON.parse(process.env.BENCH_TREES ?? '[{"name":"here"}]') as Tree[];
const CALLS = Number(process.env.BENCH_CALLS ?? 3_000);
const WARMUP = Number(process.env.BENCH_WARMUP_REQUESTS ?? 8_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);

async function drive(call: (n: number) => Promise<unknown>, count: number, offset: number): Promise<number> {
  let next = 0;
  let errors = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < count) await call(offset + next++).catch(() => void errors++);
  }));
  return errors;
}

async function main(): Promise<void> {
  const redis = await startPinnedRedis();
  const servers: ServerProcess[] = [];
  try {
    for (const [i, tree] of trees.entries()) servers.push(await startPalisadeProcess(`${redis.url}/${i}`, tree.cwd ? { cwd: tree.cwd } : {}));
    const clients = servers.map((server) => upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`));
    const calls = clients.map((client) => (n: number) => client.check(storefrontRequest(n, Date.now())));
    const loadAtStart = os.loadavg()[0]!;
    for (let done = 0; done < WARMUP; done += 1_000) for (const call of calls) await drive(call, 1_000, done);
    const figures: number[][] = trees.map(() => []);
    let offset = WARMUP;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, call] of calls.entries()) {
        const before = processCpuSeconds(servers[i]!.pid);
        const errors = await drive(call, CALLS, offset);
        figures[i]!.push(Math.round(((processCpuSeconds(servers[i]!.pid) - before) * 1e6) / CALLS));
        if (errors > 0) process.stdout.write(`${trees[i]!.name}: ${errors} errors in round ${round + 1}\n`);
      }
      offset += CALLS;
    }
    process.stdout.write(`load average ${loadAtStart.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at the end; ${CALLS} Checks a round\n`);
    for (const [i, tree] of trees.entries()) {
      const sorted = [...figures[i]!].sort((a, b) => a - b);
      process.stdout.write(`${tree.name}: server CPU µs per Check ${figures[i]!.join(", ")} (median ${sorted[Math.floor(sorted.length / 2)]})\n`);
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
