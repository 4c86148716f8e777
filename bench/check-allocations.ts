/**
 * Bytes allocated per Check by the decision core on Redis (no gRPC), and the functions that
 * allocate them: V8's sampling heap profiler, keeping the samples of objects garbage collection
 * already freed (which is what a Check's garbage is). Garbage collection is a tenth of a Check's
 * CPU or more in the profiles; this says where the garbage comes from.
 *
 *   npx tsx bench/check-allocations.ts [tree ...]
 *
 * Each tree (a checkout with its node_modules; this one by default) is measured in a child
 * process of its own on one redis-server, after BENCH_WARMUP_CHECKS (default 4,000) Checks of
 * the storefront mix; BENCH_CALLS (default 6,000) Checks are sampled, 32 in flight. Prints one
 * line per tree (bytes per Check) and its top allocating functions (BENCH_TOP, default 15).
 */
import { coreOnRedis, eachTreeInAChild } from "./core-on-redis.js";
import { allocatedDuring } from "./heap-sampling.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 6_000);
const WARMUP = Number(process.env.BENCH_WARMUP_CHECKS ?? 4_000);
const TOP = Number(process.env.BENCH_TOP ?? 15);

async function child(tree: string, redisUrl: string): Promise<void> {
  const { store, core, toHttpAttributes, storefrontRequest } = await coreOnRedis(tree, redisUrl);
  const run = async (from: number, count: number) => {
    let next = from;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < from + count) await core.pipeline.evaluate(toHttpAttributes(storefrontRequest(next++, Date.now()))).catch(() => undefined);
    }));
  };
  await run(0, WARMUP);
  const { total, bySite } = await allocatedDuring(() => run(WARMUP, CALLS));
  const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([site, bytes]) => `  ${Math.round(bytes / CALLS)} B  ${site}`);
  process.stdout.write(`${tree}: ${Math.round(total / CALLS)} bytes allocated per Check\n${top.join("\n")}\n`);
  await core.stop();
  await store.close();
}

async function main(): Promise<void> {
  if (process.argv[2] === "--child") return child(process.argv[3]!, process.argv[4]!);
  await eachTreeInAChild(import.meta.filename);
}

await main();
process.exit(0);
