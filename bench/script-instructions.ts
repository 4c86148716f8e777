/**
 * Instructions redis-server runs per Check for each checkout's entity script, counted by
 * valgrind's callgrind: a count, not a time, so it hardly moves with the machine's load (two
 * runs of one tree agree within 1%), where Redis CPU per Check spreads by ±20% between rounds
 * on a shared machine.
 *
 *   npx tsx bench/script-instructions.ts [tree ...]
 *
 * The store batches of BENCH_CALLS (default 2,000) storefront Checks are captured once, from
 * this checkout's decision core on Redis after BENCH_WARMUP_CHECKS (default 2,000). Each tree
 * (this one by default) then gets a redis-server of its own under callgrind, and the batches,
 * encoded by that tree's `encodeEntityBatch`, are sent to it BENCH_REPEATS (default 2) times,
 * BENCH_PER_SCRIPT (default 4) Checks to a script call as the store coalesces them, one call
 * at a time, at fixed times (every tree sees the same keys). The servers run their timers once
 * a second (`hz 1`): under valgrind a replay takes a minute or more, and the default ten cycles
 * a second of expiring keys and resizing tables would count the machine's load. A server that
 * receives nothing gives the instructions of starting and stopping, taken off every tree's
 * total. Needs valgrind; a minute or two per tree.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { captureStoreBatches, entityScriptCalls, type EntityScriptModule, type StoreBatches } from "./core-on-redis.js";
import { freePort } from "../test/helpers/redis-server.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 2_000);
const WARMUP = Number(process.env.BENCH_WARMUP_CHECKS ?? 2_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 2);
const PER_SCRIPT = Number(process.env.BENCH_PER_SCRIPT ?? 4);
/** The time of the first captured Check in every replay. */
const REPLAY_START_MS = Date.UTC(2026, 0, 1);

/** Instructions of a redis-server under callgrind that is sent `send`'s calls, then shut down. */
async function countInstructions(send: (redis: Redis) => Promise<void>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "palisade-callgrind-"));
  const out = join(dir, "callgrind.out");
  const port = await freePort();
  const exited = new Promise<void>((done, fail) => {
    execFile("valgrind", ["--tool=callgrind", `--callgrind-out-file=${out}`, "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--hz", "1"], (error) => (error ? fail(error) : done()));
  });
  const redis = await connectWhenUp(port);
  try {
    await send(redis);
    await redis.shutdown("NOSAVE").catch(() => undefined); // the connection closes before a reply
    await exited;
    return Number(/^totals: (\d+)/m.exec(readFileSync(out, "utf8"))?.[1]);
  } finally {
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A connection to the server on `port` once it accepts one; none afterwards, so SHUTDOWN ends it. */
async function connectWhenUp(port: number): Promise<Redis> {
  for (;;) {
    const redis = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null });
    redis.on("error", () => undefined); // refused while valgrind starts the server: tried again below
    try {
      await redis.connect();
      return redis;
    } catch {
      redis.disconnect();
      await new Promise((retry) => setTimeout(retry, 200));
    }
  }
}

function replay(tree: string, captured: StoreBatches[]): (redis: Redis) => Promise<void> {
  return async (redis) => {
    const scripts = (await import(pathToFileURL(join(tree, "src/state/redis/store-scripts.ts")).href)) as EntityScriptModule;
    const sha = String(await redis.script("LOAD", scripts.ENTITY_BATCH_SCRIPT));
    const shift = REPLAY_START_MS - captured[0]!.nowMs;
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      for (const { keys, args } of entityScriptCalls(scripts, captured, PER_SCRIPT, shift + repeat * 1_000)) {
        await redis.evalsha(sha, keys.length, ...keys, ...args);
      }
    }
  };
}

const trees = process.argv.length > 2 ? process.argv.slice(2).map((tree) => resolve(tree)) : [process.cwd()];
const captured = await captureStoreBatches(WARMUP, CALLS);
const idle = await countInstructions(async () => undefined);
const checks = REPEATS * captured.length;
process.stdout.write(`${checks} Checks replayed, ${PER_SCRIPT} to a script call; starting and stopping a server: ${(idle / 1e6).toFixed(1)} M instructions\n`);
for (const tree of trees) {
  const total = await countInstructions(replay(tree, captured));
  process.stdout.write(`${tree}: ${((total - idle) / checks / 1000).toFixed(1)} k instructions per Check in redis-server\n`);
}
process.exit(0);
