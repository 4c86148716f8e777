/**
 * CPU the Redis store spends encoding the entity script's request, per Check, for each checkout:
 * the captured store batches of storefront Checks (core-on-redis.ts) encoded by the tree's
 * `encodeEntityBatch`, merged BENCH_PER_SCRIPT (default 8) Checks to a call as the store
 * coalesces them, and packed into the RESP bytes of one EVALSHA by its `encodeCommand`. In one
 * process, the trees alternating over BENCH_ROUNDS (default 10) rounds of BENCH_REPEATS
 * (default 20) passes; prints each tree's median and lowest CPU µs per Check.
 *
 *   npx tsx bench/entity-encode-cpu.ts [tree ...]
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { captureStoreBatches, entityScriptCalls, type EntityScriptCall, type EntityScriptModule } from "./core-on-redis.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 2_000);
const WARMUP = Number(process.env.BENCH_WARMUP_CHECKS ?? 2_000);
const PER_SCRIPT = Number(process.env.BENCH_PER_SCRIPT ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 20);
const SHA = "0".repeat(40);

type Encode = (name: string, head: readonly (string | number)[], keys: readonly string[], args: readonly (string | number)[]) => Buffer;

const trees = process.argv.length > 2 ? process.argv.slice(2).map((tree) => resolve(tree)) : [process.cwd()];
const captured = await captureStoreBatches(WARMUP, CALLS);
const load = (tree: string, path: string) => import(pathToFileURL(join(tree, path)).href);
const encoders = await Promise.all(trees.map(async (tree) => ({
  scripts: (await load(tree, "src/state/redis/store-scripts.ts")) as EntityScriptModule,
  encode: ((await load(tree, "src/state/redis/packed-command.ts")) as { encodeCommand: Encode }).encodeCommand,
})));
let bytes = 0; // kept, so the encoding is not optimised away
const pass = ({ scripts, encode }: (typeof encoders)[number]) => {
  for (const { keys, args } of entityScriptCalls(scripts, captured, PER_SCRIPT) as EntityScriptCall[]) bytes += encode("evalsha", [SHA, keys.length], keys, args).length;
};
const figures = trees.map(() => [] as number[]);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, encoder] of encoders.entries()) {
    for (let warm = 0; warm < 5; warm++) pass(encoder);
    const before = process.cpuUsage();
    for (let repeat = 0; repeat < REPEATS; repeat++) pass(encoder);
    const used = process.cpuUsage(before);
    figures[i]!.push((used.user + used.system) / (REPEATS * captured.length));
  }
}
for (const [i, tree] of trees.entries()) {
  const sorted = [...figures[i]!].sort((a, b) => a - b);
  process.stdout.write(`${tree}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)}, lowest ${sorted[0]!.toFixed(2)} CPU µs per Check encoded (${figures[i]!.map((f) => f.toFixed(1)).join(", ")})\n`);
}
process.stdout.write(`${captured.length} Checks, ${PER_SCRIPT} to a call; ${(bytes / (ROUNDS * trees.length * (REPEATS + 5) * captured.length)).toFixed(0)} bytes per Check\n`);
process.exit(0);
