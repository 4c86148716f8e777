/**
 * CPU per ShouldRateLimit of the service handler in process, on Redis: what Palisade adds to a
 * gRPC server's own work per call. The decoded request goes to the ShouldRateLimit handler wired
 * as `palisade serve` wires it (limiter on the resilient Redis store, Prometheus observer and
 * telemetry, converter) and its answer is serialized as grpc-js would; HTTP/2 and request
 * decoding, which the no-op server pays alike, are left out. Fewer moving parts than
 * bench/cpu-per-check.ts, so a change to the handler shows with less of a shared machine's noise.
 *
 *   npx tsx bench/ratelimit-handler-cpu.ts [tree ...]
 *
 * Each tree (a checkout with its node_modules; this one by default) runs in its own child
 * process, the trees alternating for BENCH_ROUNDS rounds (default 3) on one redis-server; one
 * JSON line per tree and round: CPU µs per call (process.cpuUsage, user + system) over
 * BENCH_CALLS calls (default 20,000, 32 in flight) after a warm-up through every client of the
 * storefront pool, script calls per call from Redis, and bytes allocated per call (garbage
 * included, bench/heap-sampling.ts) over BENCH_ALLOCATION_CALLS more (default 5,000), measured
 * after the CPU so that the profiler costs it nothing.
 */
import { resolve } from "node:path";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { coreOnRedis, runInProcessBench } from "./core-on-redis.js";
import { allocatedDuring } from "./heap-sampling.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const WARMUP = 10_000;
const CONCURRENCY = 32;
const ALLOCATION_CALLS = Number(process.env.BENCH_ALLOCATION_CALLS ?? 5_000);

async function child(tree: string, redisUrl: string): Promise<void> {
  const { load, store, core, storefrontRateLimitRequest } = await coreOnRedis(tree, redisUrl);
  const { RateLimiter } = await load<any>("src/ratelimit/limiter.ts");
  const { loadRateLimitConfig } = await load<any>("src/ratelimit/config-loader.ts");
  const { createMetrics } = await load<any>("src/telemetry/metrics.ts");
  const { createLogger } = await load<any>("src/telemetry/logger.ts");
  const { createDecisionObserver } = await load<any>("src/telemetry/decision-observer.ts");
  const { createRateLimitObserver } = await load<any>("src/telemetry/ratelimit-metrics.ts");
  const { createRateLimitTelemetry } = await load<any>("src/telemetry/ratelimit-telemetry.ts");
  const { createRateLimitService } = await load<any>("src/transport/grpc/ratelimit/service.ts");
  const { palisadeServices } = await load<any>("src/transport/grpc/protos.ts");
  const { Metadata } = await load<any>("node_modules/@grpc/grpc-js/build/src/index.js");
  const config = await loadRateLimitConfig(resolve(tree, "bench/peers/ratelimit"));
  const metrics = createMetrics();
  const logger = createLogger({ destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
  const limiter = new RateLimiter({
    config: () => config,
    store,
    pseudonymise: (identity: string) => core.pseudonymiser.pseudonymise("ratelimit", identity),
    observer: createRateLimitObserver(metrics.rateLimit, logger, () => [...config.domains.keys()]),
  });
  const decisions = createDecisionObserver({ metrics, logger });
  const service = createRateLimitService({ limiter, telemetry: createRateLimitTelemetry({ metrics, logger, decisions }) });
  // The definition as src/transport/grpc/server.ts serves it (its own response encoder, where the tree has one).
  const definition = palisadeServices().rateLimit.definition;
  const encoder = await load<any>("src/transport/grpc/ratelimit/response-encoder.ts").catch(() => undefined);
  const method = (encoder ? encoder.withHandEncodedResponses(definition) : definition).ShouldRateLimit;
  // Requests decoded once, as grpc-js hands them to the handler; the pool repeats every 5,000.
  const requests = Array.from({ length: 5_000 }, (_, i) => method.requestDeserialize(method.requestSerialize(storefrontRateLimitRequest(i))));
  const metadata = new Metadata();
  let bytes = 0;
  const call = (i: number) =>
    new Promise<void>((done, fail) =>
      service.ShouldRateLimit({ request: requests[i % requests.length], metadata }, (error: unknown, response: unknown) => {
        if (error) return fail(error);
        bytes += method.responseSerialize(response).length;
        done();
      }),
    );
  const inspector = new Redis(redisUrl);
  const scriptCalls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await inspector.info("commandstats"))?.[1] ?? 0);
  const drive = async (count: number) => {
    let next = 0;
    let errors = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await call(next++).catch(() => void errors++);
    }));
    return errors;
  };
  await drive(WARMUP); // JIT, scripts, the pseudonyms of the whole client pool
  const scriptsBefore = await scriptCalls();
  bytes = 0;
  const before = process.cpuUsage();
  const errors = await drive(CALLS);
  const used = process.cpuUsage(before);
  const scripts = ((await scriptCalls()) - scriptsBefore) / CALLS;
  const responseBytes = Math.round(bytes / CALLS);
  const { total } = await allocatedDuring(() => drive(ALLOCATION_CALLS));
  const allocatedBytes = Math.round(total / ALLOCATION_CALLS);
  process.stdout.write(`${JSON.stringify({ tree, cpuMicros: Math.round((used.user + used.system) / CALLS), errors, scriptCalls: Math.round(scripts * 1000) / 1000, responseBytes, allocatedBytes })}\n`);
  inspector.disconnect();
  await core.stop();
  await store.close();
}

await runInProcessBench(import.meta.filename, child);
