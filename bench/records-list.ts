/**
 * Does listing decision records hold up the event loop? The analyst API and the console list
 * records minute by minute, 30 minutes per Redis pipeline. `npx tsx bench/records-list.ts
 * [<tree>…]` starts a redis-server, writes 30 full minutes of records (BENCH_RECORDS_PER_MINUTE,
 * default 500, the policy's default bound), and for this checkout and each tree given (another
 * checkout with its node_modules) lists them through the tree's RedisDecisionRecordStore with a
 * filter that matches nothing, so every minute is read and decoded; BENCH_ROUNDS (default 4)
 * rounds, trees taking turns, each measured by bench/loop-hold.ts.
 */
import os from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { DecisionRecordStore, DecisionRecordWrite } from "../src/state/decision-records.js";
import type { createRedisSharedBackend } from "../src/state/redis/shared-backend.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { inTurns, measureLoopHold, type MeasuredTree } from "./loop-hold.js";

const PER_MINUTE = Number(process.env.BENCH_RECORDS_PER_MINUTE ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const MINUTES = 30;
const MINUTE_MS = 60_000;

interface Tree extends MeasuredTree {
  store: DecisionRecordStore;
}

async function openTree(root: string, redisUrl: string): Promise<Tree> {
  const { createRedisSharedBackend: create } = (await import(pathToFileURL(resolve(root, "src/state/redis/shared-backend.ts")).href)) as {
    createRedisSharedBackend: typeof createRedisSharedBackend;
  };
  const backend = create(redisUrl, {});
  await backend.waitUntilReady(5_000);
  return { name: root, store: backend.decisions, close: () => backend.close(), holds: [] };
}

function minuteOfRecords(minuteMs: number, minute: number): DecisionRecordWrite[] {
  const reasons = [
    { code: "velocity.ip", value: 31, threshold: 30, weight: 40, detail: "60s" },
    { code: "login.failures", value: 12, threshold: 5, weight: 40, detail: "10m" },
  ];
  return Array.from({ length: PER_MINUTE }, (_, i) => {
    const record = { firstDecisionId: `d-${minute}-${i}`, action: "block", rule: "stuffing", scope: "ip", subject: `ip:p${i}`, network: "198.51.100.0/24", endpoint: "login", policyVersion: "bench", risk: 80, reasons, degraded: false, eventTimeMs: minuteMs, firstMs: minuteMs };
    const { subject: _subject, network: _network, ...overflowRecord } = record;
    return { minuteMs, field: (minute * 100_000 + i).toString(16).padStart(16, "0"), overflowField: "o000000000000", record, overflowRecord, count: 3, lastMs: minuteMs + i };
  });
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const trees: Tree[] = [];
  for (const root of [process.cwd(), ...process.argv.slice(2)]) trees.push(await openTree(root, redis.url));
  const first = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - (MINUTES - 1) * MINUTE_MS;
  for (let m = 0; m < MINUTES; m++) await trees[0]!.store.write(minuteOfRecords(first + m * MINUTE_MS, m), { retentionMs: 3_600_000, perMinute: PER_MINUTE * 2 });
  process.stdout.write(`load average ${os.loadavg()[0]!.toFixed(1)}; lists of ${MINUTES} minutes of ${PER_MINUTE} records\n`);
  const query = { fromMs: first, toMs: first + MINUTES * MINUTE_MS - 1, limit: 100, match: (record: { record: Record<string, unknown> }) => record.record.rule === "none of them" };
  await inTurns(trees, ROUNDS, "list", (tree) => measureLoopHold(() => tree.store.list(query)));
  await redis.stop();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`records list bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
