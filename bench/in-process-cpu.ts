/**
 * CPU per call of the decision core alone, in process, on Redis: the Check pipeline on the
 * storefront mix (no gRPC) and the rate limiter on the storefront descriptors. Narrower than
 * `npm run bench` (no protobuf, no HTTP/2), so it shows what a change to the core or the store
 * saves, with less of the noise a shared machine adds to the servers' figures.
 *
 *   npx tsx bench/in-process-cpu.ts [tree ...]
 *
 * Each tree (a checkout with its node_modules; this one by default) is measured in its own
 * child process, the trees alternating for BENCH_ROUNDS rounds (default 3) on one redis-server;
 * prints one JSON line per tree and round: CPU µs per Check and per ShouldRateLimit (user +
 * system time of the process, process.cpuUsage), and script calls per call from Redis; then a
 * line of the measured Checks' decisions, the share of each action overall and per kind of request.
 */
import { resolve } from "node:path";
import { Redis } from "ioredis";
import { coreOnRedis, runInProcessBench } from "./core-on-redis.js";
import { DecisionShares, sharesLine } from "./decision-shares.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = 32;

async function child(tree: string, redisUrl: string): Promise<void> {
  const { load, store, core, toHttpAttributes, storefrontRequest, storefrontRateLimitRequest } = await coreOnRedis(tree, redisUrl);
  const { toRateLimitRequest } = await load<any>("src/transport/grpc/ratelimit/converter.ts");
  const { RateLimiter } = await load<any>("src/ratelimit/limiter.ts");
  const { loadRateLimitConfig } = await load<any>("src/ratelimit/config-loader.ts");
  const config = await loadRateLimitConfig(resolve(tree, "bench/peers/ratelimit"));
  const limiter = new RateLimiter({
    config: () => config,
    store,
    pseudonymise: (identity: string) => core.pseudonymiser.pseudonymise("ratelimit", identity),
    observer: { descriptor: () => {}, unknownDomain: () => {}, storeUnavailable: () => {} },
  });
  const inspector = new Redis(redisUrl);
  const scriptCalls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await inspector.info("commandstats"))?.[1] ?? 0);
  // A store reply later than the 50 ms budget on a starved machine is an error answer: counted, not fatal.
  let errors = 0;
  const measure = async (call: (i: number) => Promise<unknown>, warmed = () => {}) => {
    errors = 0;
    for (let i = 0; i < 2_000; i++) await call(i).catch(() => undefined); // warm: JIT, scripts, pseudonyms of the client pool
    warmed();
    const scriptsBefore = await scriptCalls();
    const before = process.cpuUsage();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < CALLS) await call(next++).catch(() => void errors++);
    }));
    const used = process.cpuUsage(before);
    return { cpuMicros: Math.round((used.user + used.system) / CALLS), errors, scriptCalls: Math.round(((await scriptCalls()) - scriptsBefore) / CALLS * 1000) / 1000 };
  };
  let degraded = 0;
  let decisions = new DecisionShares();
  const check = await measure(
    (i) =>
      core.pipeline.evaluate(toHttpAttributes(storefrontRequest(i, Date.now()))).then((result: { decision: { degraded: boolean; action: string } }) => {
        degraded += result.decision.degraded ? 1 : 0;
        decisions.record(i, result.decision.action);
      }),
    () => (decisions = new DecisionShares()),
  );
  const rateLimit = await measure((i) => limiter.shouldRateLimit(toRateLimitRequest(storefrontRateLimitRequest(i))));
  process.stdout.write(`${JSON.stringify({ tree, check: { ...check, degraded }, rateLimit })}\n${tree}: ${sharesLine(decisions.summary())}\n`);
  inspector.disconnect();
  await core.stop();
  await store.close();
}

await runInProcessBench(import.meta.filename, child);
