/**
 * Where the first Check's wall time goes, against the hundredth's: `npx tsx bench/first-check-split.ts
 * [<other checkout> ...]` (`BENCH_ROUNDS`, default 5 cold starts per tree and mode, interleaved).
 *
 * Each server starts pinned as in `npm run bench`, its channel connected, and 120 Checks of the
 * storefront mix go back to back as the bench's first-Check phase sends them. Around each Check
 * the load generator reads its own CPU time (process.cpuUsage), the server's main thread and its
 * other threads (/proc/<pid>/task/<tid>/schedstat) and redis-server's: so a Check's wall time is
 * split into the client's CPU, the server's, Redis's and the rest (waits: loopback, scheduling).
 * Two modes per start: `connected` (waitForReady, then the timed Checks) and `health first` (one
 * gRPC health call on the same channel before them, as `npm run bench` now does: the load
 * generator's and the connection's first call out of the way, so what is left is the Check's own).
 * `BENCH_SPLIT_RATELIMIT=1` does the same for ShouldRateLimit (bench/peers/ratelimit's
 * configuration, the bench's rate-limit traffic) instead of Check.
 */
import os from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { healthCall, upstreamAuthzClient } from "./noop.js";
import { threadCpuNs } from "./pin.js";
import { upstreamGrpc } from "../test/contract/upstream.js";
import { startPalisadeProcess, startPinnedRedis, type BenchRedis, type ServerProcess } from "./servers.js";
import { storefrontRateLimitRequest, storefrontRequest } from "./traffic.js";
import { repoRoot } from "../test/support/policies.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CHECKS = 120;
const RATE_LIMIT = process.env.BENCH_SPLIT_RATELIMIT === "1";
const CALL = RATE_LIMIT ? "ShouldRateLimit" : "Check";

interface Caller {
  call(index: number): Promise<unknown>;
  connect(): Promise<void>;
  /** A gRPC health call on the timed calls' own channel. */
  health(): Promise<void>;
  close(): void;
}

/** The timed call: a Check of the storefront mix, or ShouldRateLimit with the bench's descriptors. */
function caller(address: string): Caller {
  if (!RATE_LIMIT) {
    const client = upstreamAuthzClient(address);
    return { ...client, call: (index) => client.check(storefrontRequest(index, Date.now())) };
  }
  const Service = (upstreamGrpc() as any).envoy.service.ratelimit.v3.RateLimitService as grpc.ServiceClientConstructor;
  const client = new Service(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { ShouldRateLimit(request: object, callback: (error: grpc.ServiceError | null) => void): void };
  return {
    call: (index) => new Promise<void>((resolve, reject) => client.ShouldRateLimit(storefrontRateLimitRequest(index), (error) => (error ? reject(error) : resolve()))),
    connect: () => new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve()))),
    health: () => healthCall(client),
    close: () => client.close(),
  };
}

function startServer(redisUrl: string, cwd: string | undefined): Promise<ServerProcess> {
  const args = RATE_LIMIT ? ["--ratelimit-config", join(repoRoot, "bench/peers/ratelimit")] : [];
  return startPalisadeProcess(redisUrl, { args, ...(cwd ? { cwd } : {}) });
}

interface Sample {
  wall: number;
  client: number;
  main: number;
  other: number;
  redis: number;
}

async function once(server: ServerProcess, redisPid: number, healthFirst: boolean): Promise<Sample[]> {
  const address = `127.0.0.1:${server.grpcPort}`;
  // Connected as the bench connects: the channel up before the first timed call.
  const client = caller(address);
  const samples: Sample[] = [];
  try {
    await client.connect();
    if (healthFirst) await client.health();
    for (let i = 0; i < CHECKS; i++) {
      const server0 = threadCpuNs(server.pid);
      const redis0 = threadCpuNs(redisPid);
      const client0 = process.cpuUsage();
      const sent = process.hrtime.bigint();
      await client.call(i).catch(() => {});
      const wall = Number(process.hrtime.bigint() - sent) / 1e6;
      const clientCpu = process.cpuUsage(client0);
      const server1 = threadCpuNs(server.pid);
      const redis1 = threadCpuNs(redisPid);
      samples.push({
        wall,
        client: (clientCpu.user + clientCpu.system) / 1000,
        main: (server1.main - server0.main) / 1e6,
        other: (server1.other - server0.other) / 1e6,
        redis: (redis1.main + redis1.other - redis0.main - redis0.other) / 1e6,
      });
    }
  } finally {
    client.close();
    await server.stop();
  }
  return samples;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const fmt = (value: number) => value.toFixed(2);

function report(name: string, runs: Sample[][]): void {
  const pick = (key: keyof Sample, from: number, to: number) => median(runs.map((run) => median(run.slice(from, to).map((sample) => sample[key]))));
  const row = (label: string, from: number, to: number) =>
    `  ${label.padEnd(12)} wall ${fmt(pick("wall", from, to))} | client CPU ${fmt(pick("client", from, to))} | server main ${fmt(pick("main", from, to))} other ${fmt(pick("other", from, to))} | redis ${fmt(pick("redis", from, to))}`;
  process.stdout.write(`\n${name} (${runs.length} cold starts, ms, medians over starts)\n`);
  process.stdout.write(`${row("1st", 0, 1)}\n${row("2nd", 1, 2)}\n${row("10th", 9, 10)}\n${row("91st-110th", 90, 110)}\n`);
  process.stdout.write(`  1st by start: ${runs.map((run) => `${fmt(run[0]!.wall)} (client ${fmt(run[0]!.client)}, main ${fmt(run[0]!.main)}, redis ${fmt(run[0]!.redis)})`).join(", ")}\n`);
}

async function main(): Promise<void> {
  const trees: { name: string; cwd?: string }[] = [...process.argv.slice(2).map((cwd) => ({ name: cwd, cwd })), { name: "this tree" }];
  const redis = await startPinnedRedis();
  process.stdout.write(`first-check-split: ${CHECKS} ${CALL} calls back to back, ${ROUNDS} cold starts per tree and mode, load average ${os.loadavg()[0]!.toFixed(1)}\n`);
  const runs = await measure(trees, redis).finally(() => redis.stop());
  for (const [key, value] of runs) report(key, value);
  process.stdout.write(`load average at the end ${os.loadavg()[0]!.toFixed(1)}\n`);
}

/** Every tree in both modes, start after start in turn, on a flushed Redis each time. */
async function measure(trees: readonly { name: string; cwd?: string }[], redis: BenchRedis): Promise<Map<string, Sample[][]>> {
  const runs = new Map<string, Sample[][]>();
  // The load generator's own code warm first, as the bench does: one start not counted.
  await once(await startServer(redis.url, undefined), redis.pid, true);
  for (let round = 0; round < ROUNDS; round++) {
    for (const tree of trees) {
      for (const healthFirst of [false, true]) {
        const key = `${tree.name}, ${healthFirst ? "health first" : "connected"}`;
        await redis.inspector.flushall();
        runs.set(key, [...(runs.get(key) ?? []), await once(await startServer(redis.url, tree.cwd), redis.pid, healthFirst)]);
      }
    }
  }
  return runs;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`first-check-split failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
