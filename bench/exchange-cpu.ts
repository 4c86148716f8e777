/**
 * CPU of the replicas' exchanges (the cohorts' and the rhythm's `maybeExchange`, four turns a
 * second each) against the whole Check's, in process: the decision core of this checkout on a
 * redis-server of its own (bench/core-on-redis.ts), the storefront mix, 32 in flight. Each
 * exchange turn's synchronous part (what a Check that finds one due runs before it waits:
 * gathering and encoding the publication) is timed with process.cpuUsage; the reply's handling
 * is not in it.
 *
 *   npx tsx bench/exchange-cpu.ts
 *
 * BENCH_CALLS (default 20,000) Checks after 5,000 of warm-up. Prints the CPU µs per Check, and
 * per detector the turns, their CPU each and their share of the process's CPU. The share falls
 * as the Check rate rises: the turns are a fixed count per second.
 */
import { coreOnRedis, storefrontChecks } from "./core-on-redis.js";
import { startRedisServer } from "../test/helpers/redis-server.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const WARMUP = 5_000;

const server = await startRedisServer();
const setup = await coreOnRedis(process.cwd(), server.url);
const turns = { cohorts: { count: 0, micros: 0 }, rhythm: { count: 0, micros: 0 } };
for (const name of ["cohorts", "rhythm"] as const) {
  const detector = setup.core.detection[name] as { maybeExchange: (...args: unknown[]) => unknown };
  const maybeExchange = detector.maybeExchange.bind(detector);
  detector.maybeExchange = (...args) => {
    const before = process.cpuUsage();
    const turn = maybeExchange(...args);
    if (turn === undefined) return turn;
    const used = process.cpuUsage(before);
    turns[name].count++;
    turns[name].micros += used.user + used.system;
    return turn;
  };
}
const run = storefrontChecks(setup);
await run(WARMUP);
for (const turn of Object.values(turns)) turn.count = turn.micros = 0;
const before = process.cpuUsage();
const started = performance.now();
await run(WARMUP + CALLS);
const used = process.cpuUsage(before);
const total = used.user + used.system;
const perTurn = (turn: { count: number; micros: number }) => ({ turns: turn.count, cpuMicrosEach: Math.round(turn.micros / Math.max(1, turn.count)), shareOfCpu: Math.round((10_000 * turn.micros) / total) / 100 });
process.stdout.write(`${JSON.stringify({ checks: CALLS, checksPerSecond: Math.round(CALLS / ((performance.now() - started) / 1000)), cpuMicrosPerCheck: Math.round(total / CALLS), cohorts: perTurn(turns.cohorts), rhythm: perTurn(turns.rhythm) })}\n`);
await setup.core.stop();
await setup.store.close();
await server.stop();
