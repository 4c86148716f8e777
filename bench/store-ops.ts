/**
 * What a Check asks of the store, op by op: the decision core on Redis (no gRPC) over the
 * storefront mix, every entity op of its store calls tallied by entity kind (`ip`, `net`, `ck`,
 * `fp`, …), op, name and mode (a read, an add, a guarded add, an add that does not count), with
 * the Redis commands the entity script runs for it. Says which detectors the GET, EXISTS and
 * PFCOUNT per Check of `bench/cpu-per-check.ts`'s Redis figures come from.
 *
 *   npx tsx bench/store-ops.ts [tree ...]
 *
 * Each tree in a child process of its own (see core-on-redis.ts), BENCH_WARMUP_CHECKS (default
 * 3,000) Checks first, then BENCH_CALLS (default 5,000) counted, 32 in flight. Prints the ops
 * per Check, most frequent first, and per command the ops that issue it; the commands are the
 * script's (src/state/redis/store-scripts.ts) for each op, not counted by Redis.
 */
import { coreOnRedis, runInProcessBench, storefrontChecks } from "./core-on-redis.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 5_000);
const WARMUP = Number(process.env.BENCH_WARMUP_CHECKS ?? 3_000);

interface Op {
  op: string;
  name: string;
  amount?: number;
  member?: string;
  count?: boolean;
  value?: number;
  when?: object;
}

/**
 * The mode of an op, and the commands the entity script runs for it (store-scripts.ts); a `?`
 * marks one it runs only sometimes: a bucket's PEXPIRE when the write created it (or, PFADD,
 * changed it), ZREMRANGEBYRANK when the set grew past its maximum.
 */
function modeOf(op: Op): { mode: string; commands: string[] } {
  const guard = op.when ? ["GET", "GET"] : [];
  switch (op.op) {
    case "window.add":
      // A read that finds neither bucket stops at the EXISTS of both.
      return op.amount === 0 ? { mode: "read", commands: ["EXISTS", "GET?", "GET?"] } : { mode: op.when ? "guarded add" : "add", commands: [...guard, op.amount === 1 && !op.when ? "INCR" : "INCRBY", "PEXPIRE?", "GET"] };
    case "distinct.add":
      if (op.count === false) return { mode: "add, no count", commands: ["PFADD", "PEXPIRE?"] };
      // A read that finds neither bucket stops at the EXISTS of both (most of them: probes of empty keys).
      return op.member === undefined ? { mode: "read", commands: ["EXISTS"] } : { mode: "add", commands: ["PFADD", "PEXPIRE?", "EXISTS", "PFCOUNT"] };
    case "value.swap":
      return op.value === undefined ? { mode: "read", commands: ["GET"] } : { mode: op.when ? "guarded write" : "write", commands: [...guard, "SET … GET"] };
    case "member.check":
      return { mode: "read", commands: ["ZSCORE"] };
    case "member.add":
      return { mode: "add", commands: ["ZADD", "ZCARD", "ZREMRANGEBYRANK?", "PEXPIRE"] };
    default:
      return { mode: "", commands: [] };
  }
}

async function child(tree: string, redisUrl: string): Promise<void> {
  const onRedis = await coreOnRedis(tree, redisUrl);
  const { store, core } = onRedis;
  const ops = new Map<string, { calls: number; commands: string[] }>();
  let counting = false;
  const apply = store.applyBatchWithStatus.bind(store);
  store.applyBatchWithStatus = (batches: { entity: string; ops: Op[] }[], nowMs: number) => {
    if (counting) {
      for (const batch of batches) {
        for (const op of batch.ops) {
          const { mode, commands } = modeOf(op);
          const key = `${batch.entity.slice(0, batch.entity.indexOf(":"))} ${op.op} ${op.name} (${mode})`;
          const seen = ops.get(key) ?? { calls: 0, commands };
          seen.calls++;
          ops.set(key, seen);
        }
      }
    }
    return apply(batches, nowMs);
  };
  const run = storefrontChecks(onRedis);
  await run(WARMUP);
  counting = true;
  await run(WARMUP + CALLS);
  const rows = [...ops].sort((a, b) => b[1].calls - a[1].calls);
  const perCheck = (calls: number) => (calls / CALLS).toFixed(3);
  const lines = rows.map(([key, { calls, commands }]) => `  ${perCheck(calls)}  ${key}: ${commands.join(" ")}`);
  const byCommand = new Map<string, { total: number; from: [string, number][] }>();
  for (const [key, { calls, commands }] of rows) {
    for (const command of commands) {
      const entry = byCommand.get(command) ?? { total: 0, from: [] };
      entry.total += calls;
      const last = entry.from.at(-1);
      if (last?.[0] === key) last[1] += calls;
      else entry.from.push([key, calls]);
      byCommand.set(command, entry);
    }
  }
  const commands = [...byCommand].sort((a, b) => b[1].total - a[1].total).map(([command, { total, from }]) => {
    const top = from.sort((a, b) => b[1] - a[1]).slice(0, 4).map(([key, calls]) => `${perCheck(calls)} ${key}`);
    return `  ${command} ${perCheck(total)}: ${top.join("; ")}`;
  });
  process.stdout.write(`${tree}: store ops per Check (${CALLS} Checks)\n${lines.join("\n")}\nRedis commands per Check in the entity script, and the ops most of them come from:\n${commands.join("\n")}\n`);
  await core.stop();
  await store.close();
}

await runInProcessBench(import.meta.filename, child, 1);
