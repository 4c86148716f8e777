/**
 * Garbage collections per Check by V8 heap setting: the decision core on Redis in process (no
 * gRPC), the storefront mix at 32 in flight, each variant of node flags in its own child process
 * pinned to the servers' CPU (bench/pin.ts), the variants alternating for BENCH_ROUNDS rounds
 * (default 2) on one redis-server. The variant `lowered` runs with the helper threads lowered
 * after warm-up as `palisade serve` does (src/app/helper-threads.ts).
 *
 *   BENCH_GC_VARIANTS='none;--max-semi-space-size=32;--max-semi-space-size=64' npx tsx bench/gc-per-check.ts
 *
 * Prints one JSON line per variant and round: per 1,000 Checks the collections of each kind and
 * their pause time (and the longest pause), the CPU µs per Check (all threads), and the resident memory at the end and at
 * its peak. Counts follow the bytes a Check allocates and how many Checks its objects outlive,
 * which a busy machine moves less than the latency tail but still moves (a Check waiting longer
 * for Redis outlives more collections): compare variants of one run. Pause times are wall time.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { PerformanceObserver, constants } from "node:perf_hooks";
import { Redis } from "ioredis";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { lowerHelperThreads } from "../src/app/helper-threads.js";
import { coreOnRedis, storefrontChecks } from "./core-on-redis.js";
import { PINNING, pinnedCommand } from "./pin.js";

const CHECKS = Number(process.env.BENCH_CALLS ?? 40_000);
const WARM_CHECKS = 4_000;
const variants = (process.env.BENCH_GC_VARIANTS ?? "none;--max-semi-space-size=32").split(";").map((variant) => variant.trim());

async function child(redisUrl: string, lowered: boolean): Promise<void> {
  const core = await coreOnRedis(process.cwd(), redisUrl);
  const checks = storefrontChecks(core);
  await checks(WARM_CHECKS);
  if (lowered) lowerHelperThreads();
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
  };
  const collections: Record<string, { count: number; ms: number; longestMs: number }> = {};
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? "other";
      const seen = (collections[kind] ??= { count: 0, ms: 0, longestMs: 0 });
      seen.count += 1;
      seen.ms += entry.duration;
      seen.longestMs = Math.max(seen.longestMs, entry.duration);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  const before = process.cpuUsage();
  await checks(WARM_CHECKS + CHECKS);
  const used = process.cpuUsage(before);
  await new Promise((resolve) => setTimeout(resolve, 100)); // the observer is told after the collection
  observer.disconnect();
  const status = readFileSync("/proc/self/status", "utf8");
  const mib = (field: string) => Math.round(Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) / 1024);
  const perThousand = (value: number) => Math.round((value * 1000 * 100) / CHECKS) / 100;
  process.stdout.write(
    `${JSON.stringify({
      variant: lowered ? "lowered" : process.execArgv.filter((flag) => flag.startsWith("--max-")).join(" ") || "none",
      pinned: PINNING !== undefined,
      per1000Checks: Object.fromEntries(
        Object.entries(collections).map(([kind, { count, ms, longestMs }]) => [kind, { count: perThousand(count), pauseMs: perThousand(ms), longestMs: Math.round(longestMs * 10) / 10 }]),
      ),
      cpuMicrosPerCheck: Math.round((used.user + used.system) / CHECKS),
      rssMiB: mib("VmRSS"),
      peakRssMiB: mib("VmHWM"),
    })}\n`,
  );
  await core.core.stop();
  await core.store.close();
}

async function main(): Promise<void> {
  const server = await startRedisServer();
  try {
    for (let round = 0; round < Number(process.env.BENCH_ROUNDS ?? 2); round++) {
      for (const [i, variant] of variants.entries()) {
        const url = `${server.url}/${i + 1}`;
        const admin = new Redis(url);
        await admin.flushdb();
        admin.disconnect();
        const flags = variant === "none" || variant === "lowered" ? [] : variant.split(" ").filter(Boolean);
        const [command, args] = pinnedCommand(process.execPath, [...flags, "--import", "tsx", import.meta.filename, "--child", url, variant]);
        process.stdout.write(execFileSync(command, args, { encoding: "utf8" }));
      }
    }
  } finally {
    await server.stop();
  }
}

await (process.argv[2] === "--child" ? child(process.argv[3]!, process.argv[4] === "lowered") : main());
process.exit(0);
