import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * The decision core of the checkout `tree` (its own modules, loaded from it) on Redis at
 * `redisUrl`, as the in-process benches measure it: the resilient store over the Redis store
 * with a budget far past 50 ms (on a starved machine late replies would degrade the store and
 * skip Redis), the example policy, event time not trusted. `load` imports more of that tree.
 */
export async function coreOnRedis(tree: string, redisUrl: string) {
  const load = <T>(path: string) => import(pathToFileURL(resolve(tree, path)).href) as Promise<T>;
  const { createRedisStore } = await load<any>("src/state/redis/store.ts");
  const { MemoryStore } = await load<any>("src/state/memory-store.ts");
  const { ResilientStore } = await load<any>("src/state/resilient-store.ts");
  const { toHttpAttributes } = await load<any>("src/transport/grpc/authz/converter.ts");
  const { testDecisionCore } = await load<any>("test/support/decision-core.ts");
  const { examplePolicyPath } = await load<any>("test/support/policies.ts");
  const { storefrontRequest, storefrontRateLimitRequest } = await load<any>("bench/traffic.ts");
  const redis = createRedisStore(redisUrl, { commandTimeoutMs: 1_000 });
  await redis.waitUntilReady(5_000);
  const store = new ResilientStore(redis, new MemoryStore());
  const core = await testDecisionCore(examplePolicyPath, { store, settings: { trustEventTime: false } });
  return { load, store, core, toHttpAttributes, storefrontRequest, storefrontRateLimitRequest };
}

/**
 * The parent side of an in-process bench: `script` run again as `--child <tree> <redisUrl>` for
 * each checkout named on the command line (this one when none), `rounds` times in turn, each
 * run on a Redis database of its own emptied first, on one redis-server started here; the
 * children's output is passed through.
 */
export async function eachTreeInAChild(script: string, rounds = 1): Promise<void> {
  const trees = process.argv.length > 2 ? process.argv.slice(2).map((tree) => resolve(tree)) : [process.cwd()];
  const { startRedisServer } = await import("../test/helpers/redis-server.js");
  const { Redis } = await import("ioredis");
  const server = await startRedisServer();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [i, tree] of trees.entries()) {
        const url = `${server.url}/${i + 1}`;
        const admin = new Redis(url);
        await admin.flushdb();
        admin.disconnect();
        process.stdout.write(execFileSync(process.execPath, ["--import", "tsx", script, "--child", tree, url], { encoding: "utf8", cwd: tree }));
      }
    }
  } finally {
    await server.stop();
  }
}

/**
 * An in-process bench's entry point: as `--child <tree> <redisUrl>`, `child` measures that
 * tree; otherwise every tree on the command line is run through it (eachTreeInAChild,
 * BENCH_ROUNDS rounds, default `rounds`). Exits when done, whatever handles are left open.
 */
export async function runInProcessBench(script: string, child: (tree: string, redisUrl: string) => Promise<void>, rounds = 3): Promise<never> {
  if (process.argv[2] === "--child") await child(process.argv[3]!, process.argv[4]!);
  else await eachTreeInAChild(script, Number(process.env.BENCH_ROUNDS ?? rounds));
  process.exit(0);
}
