/**
 * Does writing the decision records hold up the event loop? `npx tsx bench/record-flush.ts
 * [<tree>…]` starts a redis-server and, for this checkout and each tree given (another checkout
 * with its node_modules, e.g. of `land`), a DecisionRecords on the real Redis shared backend, as
 * `palisade serve` wires it. Each round every tree sees BENCH_SUBJECTS (default 2,000) clients
 * denied twice (a flood from many addresses: the minute's first 500 get an aggregate of their own,
 * the rest fold into the overflow), then one flush, measured by bench/loop-hold.ts: per tree and
 * round the flush's CPU time, the longest it held the event loop on a CPU, and how many holds
 * were over 10 ms. Trees take turns round by round (BENCH_ROUNDS, default 6), so the machine's
 * load falls on all alike.
 */
import os from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Decision } from "../src/domain/decision.js";
import type { DecisionRecords } from "../src/response/decision-records.js";
import type { createRedisSharedBackend } from "../src/state/redis/shared-backend.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { inTurns, measureLoopHold, type MeasuredTree } from "./loop-hold.js";

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);

interface Tree extends MeasuredTree {
  records: DecisionRecords;
}

const quiet = { info() {}, warn() {}, error() {} };
const firstMinute = Math.floor(Date.now() / 60_000) * 60_000;
let now = firstMinute;

function denial(i: number): Decision {
  return {
    decisionId: `bench-${i}`,
    action: "block",
    risk: 80,
    reasons: [
      { code: "velocity.ip", value: 31, threshold: 30, weight: 40, detail: "60s" },
      { code: "login.failures", value: 12, threshold: 5, weight: 40, detail: "10m" },
    ],
    rule: "stuffing",
    scope: "ip",
    policyVersion: "bench",
    endpoint: "login",
    degraded: false,
    shadowed: [],
    eventTimeMs: now,
  };
}

async function openTree(root: string, redisUrl: string, namespace: string): Promise<Tree> {
  const load = <T>(path: string) => import(pathToFileURL(resolve(root, path)).href) as Promise<T>;
  const { createRedisSharedBackend: create } = await load<{ createRedisSharedBackend: typeof createRedisSharedBackend }>("src/state/redis/shared-backend.ts");
  const { DecisionRecords: Records } = await load<{ DecisionRecords: typeof DecisionRecords }>("src/response/decision-records.ts");
  const backend = create(redisUrl, { namespace });
  await backend.waitUntilReady(5_000);
  const records = new Records({ store: backend.decisions, limits: () => ({ retentionMs: 3_600_000, perMinute: 500 }), clock: () => now, log: quiet });
  return { name: root, records, close: () => backend.close(), holds: [] };
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const trees: Tree[] = [];
  for (const [i, root] of [process.cwd(), ...process.argv.slice(2)].entries()) trees.push(await openTree(root, redis.url, `bench${i}`));
  process.stdout.write(`load average ${os.loadavg()[0]!.toFixed(1)}; ${SUBJECTS} clients denied twice a round\n`);
  await inTurns(trees, ROUNDS, "flush", async (tree, round) => {
    now = firstMinute + round * 60_000; // each round a fresh minute, its 500 aggregates of its own
    for (let i = 0; i < SUBJECTS; i++) tree.records.record(denial(i), `ip:client-${round}-${i}`);
    await tree.records.flush(); // the first writes, on the Check path in a server
    for (let i = 0; i < SUBJECTS; i++) tree.records.record(denial(i), `ip:client-${round}-${i}`);
    return measureLoopHold(() => tree.records.flush());
  });
  await redis.stop();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`record flush bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
