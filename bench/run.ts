/**
 * `npm run bench`: what Palisade costs on the request path, measured against baselines taken in
 * the same run on the same machine (it is shared and noisy, so only ratios travel). Starts its
 * own redis-server; writes bench/results/<timestamp>.json and prints a table.
 */
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { Redis } from "ioredis";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { closedLoop, round, type LoadResult } from "./load.js";
import { measureAttackMemory } from "./memory.js";
import { measureReplaySpeed } from "./replay-speed.js";
import { commandStats, diffStats } from "./redis-stats.js";
import { upstreamAuthzClient } from "./noop.js";
import { startNoopProcess, startPalisadeProcess } from "./servers.js";
import { storefrontRateLimitRequest, storefrontRequest } from "./traffic.js";
import { envoyRateLimitClient } from "../test/support/envoy-ratelimit-client.js";

const quick = process.env.BENCH_QUICK === "1";
const LOAD = { concurrency: 32, seconds: quick ? 3 : 10, warmupSeconds: quick ? 1 : 2 };

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const results: Record<string, unknown> = { machine: machine(), date: new Date().toISOString(), commit: commit(), load: LOAD };
  try {
    const noop = await startNoopProcess();
    const noopClient = upstreamAuthzClient(`127.0.0.1:${noop.grpcPort}`);
    const noopResult = await closedLoop((i) => noopClient.check(storefrontRequest(i, Date.now())), LOAD);
    noopClient.close();
    const noopLimiter = envoyRateLimitClient(`127.0.0.1:${noop.grpcPort}`);
    const noopRateLimit = await closedLoop((i) => noopLimiter.shouldRateLimit(storefrontRateLimitRequest(i)), LOAD);
    noopLimiter.close();
    await noop.stop();

    const app = await startPalisadeProcess(redis.url);
    const client = upstreamAuthzClient(`127.0.0.1:${app.grpcPort}`);
    const inspector = new Redis(redis.port, "127.0.0.1");
    const before = await commandStats(inspector);
    const checkResult = await closedLoop((i) => client.check(storefrontRequest(i, Date.now())), LOAD);
    const redisCost = diffStats(before, await commandStats(inspector), checkResult.requests + warmupRequests(checkResult));
    client.close();
    const limiter = envoyRateLimitClient(`127.0.0.1:${app.grpcPort}`);
    const beforeLimits = await commandStats(inspector);
    const rateLimitResult = await closedLoop((i) => limiter.shouldRateLimit(storefrontRateLimitRequest(i)), LOAD);
    const redisPerRateLimit = diffStats(beforeLimits, await commandStats(inspector), rateLimitResult.requests + warmupRequests(rateLimitResult));
    limiter.close();
    await app.stop();
    inspector.disconnect();

    results.check = { noop: noopResult, palisade: checkResult, ratios: ratios(checkResult, noopResult) };
    results.redisPerCheck = redisCost;
    results.shouldRateLimit = { noop: noopRateLimit, palisade: rateLimitResult, ratios: ratios(rateLimitResult, noopRateLimit) };
    results.redisPerRateLimit = redisPerRateLimit;
    results.attackMemory = await measureAttackMemory(redis.url, { requests: Number(process.env.BENCH_ATTACK_REQUESTS ?? (quick ? 50_000 : 300_000)) });
    results.replay = await measureReplaySpeed(quick ? 50_000 : 200_000);
  } finally {
    await redis.stop();
  }
  const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  printTable(results);
  process.stdout.write(`\nwritten ${file}\n`);
}

/** Warm-up requests also reached Redis; the closed loop runs the same rate, so scale by time. */
function warmupRequests(result: LoadResult): number {
  return Math.round(result.perSecond * LOAD.warmupSeconds);
}

function ratios(palisade: LoadResult, noop: LoadResult) {
  return {
    throughput: round(palisade.perSecond / noop.perSecond),
    p50: round(palisade.p50 / noop.p50),
    p99: round(palisade.p99 / noop.p99),
  };
}

function machine() {
  return { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
}

function commit(): string {
  try {
    return execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

type Comparison = { noop: LoadResult; palisade: LoadResult; ratios: Record<string, number> };

function printTable(results: Record<string, unknown>): void {
  const rows: [string, string, string, string][] = [["", "no-op server", "Palisade (Redis)", "ratio"]];
  for (const [name, comparison] of [["Check", results.check], ["ShouldRateLimit", results.shouldRateLimit]] as [string, Comparison][]) {
    const row = (label: string, key: keyof LoadResult, ratio?: number) =>
      rows.push([`${name} ${label}`, String(comparison.noop[key]), String(comparison.palisade[key]), ratio === undefined ? "" : String(ratio)]);
    row("/s", "perSecond", comparison.ratios.throughput);
    row("p50 ms", "p50", comparison.ratios.p50);
    row("p90 ms", "p90");
    row("p99 ms", "p99", comparison.ratios.p99);
    row("p99.9 ms", "p999");
    row("errors", "errors");
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((r) => r[column]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ")}\n`);
  process.stdout.write(`\nRedis per Check: ${JSON.stringify(results.redisPerCheck)}\n`);
  process.stdout.write(`Redis per ShouldRateLimit: ${JSON.stringify(results.redisPerRateLimit)}\n`);
  process.stdout.write(`Memory under attack: ${JSON.stringify(results.attackMemory)}\n`);
  process.stdout.write(`Offline replay: ${JSON.stringify(results.replay)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
