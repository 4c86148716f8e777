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
 * latency tail, and Palisade's GC counts and pause time by kind from /metrics. Every server
 * carries bench/loop-probe.ts: for the measured windows alone it prints the GC pauses of at least
 * 2 ms by kind (how many per second of load, their sum, the longest) and the event-loop stalls
 * over 10 ms that were the server's own; and each server's resident memory at the end and its
 * peak. Putting the same code in two variants shows how far two columns of one run differ on the
 * machine of the day.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { interleaved } from "./load.js";
import { upstreamAuthzClient } from "./noop.js";
import { residentMiB, threadCpuSeconds } from "./pin.js";
import { readProbe, stallKind, type Gc, type Stall } from "./probe-records.js";
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

/** The probe's GC pauses (≥ 2 ms) and own stalls (> 10 ms) since `from`, per `seconds` of load. */
function probeLine(file: string, from: number, seconds: number): string {
  const gcs = readProbe<Gc>(file, "gc").filter((gc) => gc.at >= from);
  const pauses = [...new Set(gcs.map((gc) => gc.kind))]
    .map((kind) => {
      const ms = gcs.filter((gc) => gc.kind === kind).map((gc) => gc.ms);
      const sum = ms.reduce((a, b) => a + b, 0);
      return `${kind} ${ms.length} (${(ms.length / seconds).toFixed(1)}/s, ${Math.round(sum)} ms, longest ${Math.max(...ms)} ms, ${ms.filter((m) => m >= 10).length} ≥ 10 ms)`;
    })
    .join(", ");
  const own = readProbe<Stall>(file, "stall").filter((stall) => stall.at >= from && stallKind(stall) === "own");
  return `GC pauses ≥ 2 ms in the windows: ${pauses || "none"}; own stalls > 10 ms: ${own.length}${own.length > 0 ? `, longest ${Math.max(...own.map((s) => s.ms))} ms` : ""}`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), "palisade-compare-"));
  const probe = (name: string) => ({ env: { BENCH_LOOP_PROBE_FILE: join(dir, `${name.replace(/\W+/g, "-")}.jsonl`) }, preload: ["./bench/loop-probe.ts"] });
  const redis = await startPinnedRedis();
  const names = ["no-op grpc-js", ...variants.map((variant) => variant.name)];
  const servers: ServerProcess[] = [await startNoopProcess(probe(names[0]!))];
  try {
    for (const [i, variant] of variants.entries()) {
      const { env, preload } = probe(variant.name);
      servers.push(await startPalisadeProcess(`${redis.url}/${i}`, { env: { ...env, ...variant.env }, preload, nodeArgs: variant.nodeArgs ?? [], ...(variant.cwd ? { cwd: variant.cwd } : {}) }));
    }
    const clients = servers.map((server) => upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`));
    const threadsBefore = servers.map((server) => threadCpuSeconds(server.pid));
    const loadAtStart = os.loadavg()[0]!;
    let measuredFrom = 0;
    const results = await interleaved(
      servers.map((server, i) => ({ name: names[i]!, call: (n: number) => clients[i]!.check(storefrontRequest(n, Date.now())), processes: { server: server.pid, redis: redis.pid } })),
      {
        concurrency: 32,
        rounds: Number(process.env.BENCH_ROUNDS ?? 3),
        secondsPerRound: 3.3,
        warmupSeconds: 2,
        warmupRequests: Number(process.env.BENCH_WARMUP_REQUESTS ?? 8_000),
        warmupMaxSeconds: 60,
        onWarm: () => (measuredFrom = Date.now()),
      },
    );
    process.stdout.write(`load average ${loadAtStart.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at the end\n`);
    for (const [i, { name, result }] of results.entries()) {
      const after = threadCpuSeconds(servers[i]!.pid);
      const main = after.main - threadsBefore[i]!.main;
      const other = after.other - threadsBefore[i]!.other;
      process.stdout.write(
        `${name}: ${result.perSecond} requests/s, CPU µs per Check ${result.cpuMicrosPerRequest.server} (Redis ${result.cpuMicrosPerRequest.redis}), ` +
          `p50 ${result.p50} p99 ${result.p99} p99.9 ${result.p999} max ${result.max} ms, ${result.errors} errors; ` +
          `over warm-up and windows: main thread ${main.toFixed(2)} s, other threads ${other.toFixed(2)} s` +
          `${i > 0 ? `; GC since start: ${await gcCounts(servers[i]!)}` : ""}; ${residentMiB(servers[i]!.pid)}\n` +
          `  ${probeLine(probe(name).env.BENCH_LOOP_PROBE_FILE, measuredFrom, result.seconds)}\n`,
      );
    }
    for (const client of clients) client.close();
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`compare failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
