/**
 * Redis CPU of the entity script's distinct count when the previous bucket does not exist: a
 * multi-key PFCOUNT (which merges into a fresh HyperLogLog of 16,384 registers on every call)
 * against EXISTS and a single-key PFCOUNT (what ENTITY_BATCH_SCRIPT does since 2026-12-07).
 * Counted by Redis itself (INFO commandstats, µs of the EVAL) over a Lua loop of 10,000 counts.
 *
 *   npx tsx bench/pfcount-merge.ts
 */
import { Redis } from "ioredis";
import { startRedisServer } from "../test/helpers/redis-server.js";

const LOOPS = 10_000;
const variants = {
  "PFCOUNT current previous": `for i = 1, ${LOOPS} do redis.call('PFCOUNT', KEYS[1], KEYS[2]) end`,
  "EXISTS previous, PFCOUNT current": `for i = 1, ${LOOPS} do if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PFCOUNT', KEYS[1], KEYS[2]) else redis.call('PFCOUNT', KEYS[1]) end end`,
};

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  await redis.pfadd("current", "a", "b", "c");
  for (const [name, script] of Object.entries(variants)) {
    await redis.config("RESETSTAT");
    await redis.eval(script, 2, "current", "previous");
    const usec = Number(/cmdstat_eval:calls=\d+,usec=(\d+)/.exec(await redis.info("commandstats"))?.[1]);
    process.stdout.write(`${name}: ${(usec / LOOPS).toFixed(2)} µs of Redis CPU per count\n`);
  }
} finally {
  redis.disconnect();
  await server.stop();
}
process.exit(0);
