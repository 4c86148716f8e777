/**
 * Several Palisades against the no-op grpc-js server in the same interleaved windows, for
 * experiments `npm run bench` does not cover: other checkouts, node flags, environment.
 *
 *   BENCH_VARIANTS='[{"name":"land","cwd":"/path/to/land"},{"name":"here"},
 *     {"name":"semi 32","nodeArgs":["--max-semi-space-size=32"]}]' npx tsx bench/compare.ts
 *
 * Each variant runs as `palisade serve` on its own Redis database, pinned like the bench; all
 * are warmed in turns (BENCH_WARMUP_REQUESTS, default 8,000 answers each, at most 60 s), then
 * loaded in BENCH_ROUNDS (default 3) interleaved windows of 3.3 s. Prints per server requests/s,
 * CPU µs per Check (all threads, and main thread against the others over the whole run), the
 * latency tail, and Palisade's GC counts and pause time by kind from /metrics. Putting the same
 * code in two variants shows how far two columns of one run differ on the machine of the day.
 */
import os from "node:os";
import { interleaved } from "./load.js";
import { upstreamAuthzClient } from "./noop.js";
import { threadCpuSeconds } from "./pin.js";
import { startNoopProcess, startPalisadeProcess, startPinnedRedis, type ServerProcess } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

interface Variant {
  name: string;
  /** A checkout with its node_modules; this one when absent. */
  cwd?: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
}

const variants = JSON.parse(process.env.BENCH_VARIANTS ?? '[{"name":"Palisade"}]') as Variant[];

async function gcCounts(server: ServerProcess): Promise<string> {
  if (server.adminPort === undefined) return "";
  const text = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
  const series = (name: string) =>
    new Map(
      text.split("\n").flatMap((line) => {
        const match = new RegExp(`^nodejs_gc_duration_seconds_${name}\\{kind="(\\w+)"\\} (\\S+)$`).exec(line);
        return match ? [[match[1]!, Number(match[2])] as const] : [];
      }),
    );
  const sums = series("sum");
  return [...series("count")].map(([kind, count]) => `${kind} ${count} (${Math.round((sums.get(kind) ?? 0) * 1000)} ms)`).join(", ");
}

async function main(): Promise<void> {
  const redis = await startPinnedRedis();
  const servers: ServerProcess[] = [await startNoopProcess()];
  try {
    for (const [i, variant] of variants.entries()) {
      servers.push(await startPalisadeProcess(`${redis.url}/${i}`, { env: variant.env ?? {}, nodeArgs: variant.nodeArgs ?? [], ...(variant.cwd ? { cwd: variant.cwd } : {}) }));
    }
    const names = ["no-op grpc-js", ...variants.map((variant) => variant.name)];
    const clients = servers.map((server) => upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`));
    const threadsBefore = servers.map((server) => threadCpuSeconds(server.pid));
    const loadAtStart = os.loadavg()[0]!;
    const results = await interleaved(
      servers.map((server, i) => ({ name: names[i]!, call: (n: number) => clients[i]!.check(storefrontRequest(n, Date.now())), processes: { server: server.pid, redis: redis.pid } })),
      {
        concurrency: 32,
        rounds: Number(process.env.BENCH_ROUNDS ?? 3),
        secondsPerRound: 3.3,
        warmupSeconds: 2,
        warmupRequests: Number(process.env.BENCH_WARMUP_REQUESTS ?? 8_000),
        warmupMaxSeconds: 60,
      },
    );
    process.stdout.write(`load average ${loadAtStart.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at the end\n`);
    for (const [i, { name, result }] of results.entries()) {
      const after = threadCpuSeconds(servers[i]!.pid);
      const main = after.main - threadsBefore[i]!.main;
      const other = after.other - threadsBefore[i]!.other;
      process.stdout.write(
        `${name}: ${result.perSecond} requests/s, CPU µs per Check ${result.cpuMicrosPerRequest.server} (Redis ${result.cpuMicrosPerRequest.redis}), ` +
          `p50 ${result.p50} p99 ${result.p99} max ${result.max} ms, ${result.errors} errors; ` +
          `over warm-up and windows: main thread ${main.toFixed(2)} s, other threads ${other.toFixed(2)} s` +
          `${i > 0 ? `; GC since start: ${await gcCounts(servers[i]!)}` : ""}\n`,
      );
    }
    for (const client of clients) client.close();
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`compare failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
