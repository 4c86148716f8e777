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
 * Runs the storefront mix's Checks through the core, 32 in flight, numbered on from the last
 * call's: each call evaluates Checks until `until` have been made in all.
 */
export function storefrontChecks({ core, toHttpAttributes, storefrontRequest }: Awaited<ReturnType<typeof coreOnRedis>>): (until: number) => Promise<void> {
  let next = 0;
  return async (until) => {
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < until) await core.pipeline.evaluate(toHttpAttributes(storefrontRequest(next++, Date.now()))).catch(() => undefined);
    }));
  };
}

/** One Check's store call: its entities' ops and the time they were made at. */
export interface StoreBatches {
  batches: { entity: string; ops: unknown[] }[];
  nowMs: number;
}

/** What a checkout's `src/state/redis/store-scripts.ts` offers the entity script's benches. */
export interface EntityScriptModule {
  ENTITY_BATCH_SCRIPT: string;
  encodeEntityBatch(namespace: string, entity: string, ops: readonly unknown[], nowMs: number, call?: EntityScriptCall): EntityScriptCall;
  /** Since branch entityargs; a checkout without it merges as appendWithCommitOp does. */
  appendEntityCall?(merged: EntityScriptCall, call: EntityScriptCall): void;
}

/** How checkouts before branch entityargs merged calls: a `commit` op of no arguments between them. */
function appendWithCommitOp(merged: EntityScriptCall, call: EntityScriptCall): void {
  for (const key of call.keys) merged.keys.push(key);
  if (merged.args.length > 0) merged.args.push("commit", 0);
  for (const arg of call.args) merged.args.push(arg);
}

export interface EntityScriptCall {
  keys: string[];
  args: (string | number)[];
}

/**
 * The script calls of `checks` sent `perCall` to a call as the Redis store coalesces them: each
 * Check's entities encoded into a call of its own, then merged with a `commit` between Checks
 * as the checkout's store does (store.ts #flush). Times are moved by `shiftMs`.
 */
export function entityScriptCalls(scripts: EntityScriptModule, checks: readonly StoreBatches[], perCall: number, shiftMs = 0): EntityScriptCall[] {
  const calls: EntityScriptCall[] = [];
  for (let first = 0; first < checks.length; first += perCall) {
    const merged: EntityScriptCall = { keys: [], args: [] };
    for (const { batches, nowMs } of checks.slice(first, first + perCall)) {
      const own: EntityScriptCall = { keys: [], args: [] };
      for (const batch of batches) scripts.encodeEntityBatch("palisade", batch.entity, batch.ops, nowMs + shiftMs, own);
      if (scripts.appendEntityCall) scripts.appendEntityCall(merged, own);
      else appendWithCommitOp(merged, own);
    }
    calls.push(merged);
  }
  return calls;
}

/**
 * The store batches (`applyBatchWithStatus`'s entities and ops, and its nowMs) of `calls` Checks
 * of the storefront mix, 32 in flight, after `warmup` Checks: this checkout's decision core on
 * a redis-server of its own. What the replays of the entity script's benches send.
 */
export async function captureStoreBatches(warmup: number, calls: number): Promise<StoreBatches[]> {
  const { startRedisServer } = await import("../test/helpers/redis-server.js");
  const server = await startRedisServer();
  try {
    const onRedis = await coreOnRedis(process.cwd(), server.url);
    const { store, core } = onRedis;
    const captured: StoreBatches[] = [];
    let counting = false;
    const apply = store.applyBatchWithStatus.bind(store);
    store.applyBatchWithStatus = (batches: StoreBatches["batches"], nowMs: number) => {
      if (counting) captured.push({ batches, nowMs });
      return apply(batches, nowMs);
    };
    const run = storefrontChecks(onRedis);
    await run(warmup);
    counting = true;
    await run(warmup + calls);
    await core.stop();
    await store.close();
    return captured;
  } finally {
    await server.stop();
  }
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
