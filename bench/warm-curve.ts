/**
 * How a fresh server's CPU per Check falls as the JIT warms: `npx tsx bench/warm-curve.ts`
 * (`BENCH_NOOP=1` for the no-op grpc-js server). Starts the server pinned like `npm run bench`,
 * loads it with the storefront mix at 32 in flight in BENCH_WINDOWS (default 15) windows of 4 s,
 * and prints per window the Checks answered so far and the CPU per Check of the server's main
 * thread and of its other threads (V8's compiler and GC helpers, libuv's pool), from
 * /proc/<pid>/task/<tid>/stat. It is why the bench warms by answers rather than by seconds.
 */
import os from "node:os";
import { closedLoop } from "./load.js";
import { upstreamAuthzClient } from "./noop.js";
import { threadCpuSeconds } from "./pin.js";
import { startNoopProcess, startPalisadeProcess, startPinnedRedis } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

const WINDOWS = Number(process.env.BENCH_WINDOWS ?? 15);

async function main(): Promise<void> {
  const redis = await startPinnedRedis();
  const server = process.env.BENCH_NOOP === "1" ? await startNoopProcess() : await startPalisadeProcess(redis.url);
  const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
  try {
    let answered = 0;
    process.stdout.write(`${process.env.BENCH_NOOP === "1" ? "no-op grpc-js" : "Palisade"}, load average at start ${os.loadavg()[0]!.toFixed(1)}\n`);
    for (let window = 0; window < WINDOWS; window++) {
      const before = threadCpuSeconds(server.pid);
      const r = await closedLoop((i) => client.check(storefrontRequest(answered + i, Date.now())), { concurrency: 32, seconds: 4, warmupSeconds: 0 });
      const after = threadCpuSeconds(server.pid);
      answered += r.requests;
      const perCheck = (seconds: number) => Math.round((seconds * 1e6) / r.requests);
      process.stdout.write(
        `window ${window + 1}: ${answered} Checks answered, ${r.perSecond}/s; CPU µs per Check: main thread ${perCheck(after.main - before.main)}, other threads ${perCheck(after.other - before.other)}\n`,
      );
    }
  } finally {
    client.close();
    await server.stop();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`warm-curve failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
