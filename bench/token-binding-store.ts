/**
 * What a shared token binding costs in Redis (`npx tsx bench/token-binding-store.ts`): on a
 * private redis-server, 10,000 binding uses (2,000 tokens, 5 uses each) beside 10,000 four-op
 * entity batches of the kind every Check sends, twice over; Redis' own `commandstats` says the
 * microseconds it spent per script call of each, and `MEMORY USAGE` the bytes of one token's key
 * after 1, 5 and 40 uses; `socketReadsPerCheck` how many reads of the socket Redis needed for a
 * batch and a binding sent together, as a Check sends them. Redis time per call is measured by Redis, so it holds on a loaded machine
 * better than wall-clock figures; the client's CPU per binding call is printed too.
 */
import { Redis } from "ioredis";
import { createRedisStore } from "../src/state/redis/store.js";
import type { EntityOp } from "../src/state/store.js";
import type { BindingUse } from "../src/state/token-binding-record.js";
import { startRedisServer } from "../test/helpers/redis-server.js";

const TOKENS = 2_000;
const ROUNDS = 5;
const T0 = 1_765_000_000_000;
const rules = { retentionMs: 30 * 86_400_000, alternationMs: 600_000 };
const CHECK_OPS: EntityOp[] = [
  { op: "window.add", name: "a", windowMs: 60_000, amount: 1 },
  { op: "window.add", name: "b", windowMs: 600_000, amount: 1 },
  { op: "distinct.add", name: "u", windowMs: 600_000, member: "user" },
  { op: "member.check", name: "fp", member: "fp1" },
];
const use = (nowMs: number, i: number): BindingUse => ({ device: "f".repeat(22), companion: "c".repeat(22), network: `198.51.${100 + (i % 2)}.0/24`, nowMs, missing: false });

const server = await startRedisServer();
const store = createRedisStore(server.url, { commandTimeoutMs: 5_000 });
const admin = new Redis(server.url);
try {
  if (!(await store.waitUntilReady(10_000))) throw new Error("redis did not start");
  const scriptMicros = async () => Number(/cmdstat_evalsha:.*usec_per_call=([\d.]+)/.exec(await admin.info("commandstats"))?.[1]);
  const runs = [];
  for (let rep = 0; rep < 2; rep++) {
    await store.apply("warm-up", CHECK_OPS, T0);
    await admin.config("RESETSTAT");
    for (let round = 0; round < ROUNDS; round++) await Promise.all(Array.from({ length: TOKENS }, (_, i) => store.apply(`ip${i}`, CHECK_OPS, T0 + round * 300_000)));
    const batch = await scriptMicros();
    await store.observeBinding("warm-up", use(T0, 0), rules);
    await admin.config("RESETSTAT");
    const cpu = process.cpuUsage();
    for (let round = 0; round < ROUNDS; round++) await Promise.all(Array.from({ length: TOKENS }, (_, i) => store.observeBinding(`tok${rep}-${i}`, use(T0 + round * 300_000, round), rules)));
    const { user, system } = process.cpuUsage(cpu);
    runs.push({ entityBatchRedisMicrosPerCall: batch, bindingRedisMicrosPerCall: await scriptMicros(), bindingClientCpuMicrosPerCall: Math.round((user + system) / (ROUNDS * TOKENS)) });
  }
  // A Check sends its batch and the binding in the same turn of the event loop: ioredis' auto-pipelining
  // writes them together, so Redis reads both in one read of the socket (one network round trip).
  const reads = async () => Number(/total_reads_processed:(\d+)/.exec(await admin.info("stats"))?.[1]);
  const readsBefore = await reads();
  for (let i = 0; i < 1_000; i++) await Promise.all([store.apply(`ip${i}`, CHECK_OPS, T0), store.observeBinding(`pair${i}`, use(T0, i), rules)]);
  const socketReadsPerCheck = ((await reads()) - readsBefore - 1) / 1_000; // less the INFO call's own read
  for (let i = 5; i < 40; i++) await store.observeBinding("tok0-0", use(T0 + i * 300_000, i), rules);
  await store.observeBinding("once", use(T0, 0), rules);
  const usage = async (token: string) => Number(await admin.call("MEMORY", "USAGE", `palisade:{${token}}:t`));
  console.log(JSON.stringify({ runs, socketReadsPerCheck, keyBytes: { afterOneUse: await usage("once"), afterFiveUses: await usage("tok0-1"), afterFortyUses: await usage("tok0-0") } }, null, 2));
} finally {
  admin.disconnect();
  await store.close();
  await server.stop();
}
