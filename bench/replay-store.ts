/**
 * The memory store's share of offline replay: the store calls of the storefront mix (as
 * `bench/replay-speed.ts` sends it through the decision core) recorded once, then replayed
 * against a fresh MemoryStore five times. Prints the calls per event and the store's CPU time
 * per event of each round, apart from everything else the decision core does.
 *
 *   npx tsx bench/replay-store.ts [events]
 */
import { createDecisionCore } from "../src/app/decision-core.js";
import { settingsSchema } from "../src/settings/settings.js";
import { MemoryStore } from "../src/state/memory-store.js";
import { MemorySharedBackend } from "../src/state/shared-backend.js";
import type { BaselineObservation, EntityBatch, EntityOp, Store } from "../src/state/store.js";
import type { BindingRules, BindingUse } from "../src/state/token-binding-record.js";
import { createLogger } from "../src/telemetry/logger.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { examplePolicyPath } from "../test/support/policies.js";
import { storefrontRequest } from "./traffic.js";

type Call =
  | { kind: "apply"; entity: string; ops: readonly EntityOp[]; nowMs: number }
  | { kind: "batch"; batches: readonly EntityBatch[]; nowMs: number }
  | { kind: "baseline"; entity: string; name: string; observation: BaselineObservation }
  | { kind: "binding"; entity: string; use: BindingUse; rules: BindingRules };

/** A MemoryStore that writes down every call it answers. */
function recording(calls: Call[]): Store {
  const inner = new MemoryStore();
  return {
    kind: "memory",
    apply: (entity, ops, nowMs) => (calls.push({ kind: "apply", entity, ops, nowMs }), inner.apply(entity, ops, nowMs)),
    applyBatch: (batches, nowMs) => (calls.push({ kind: "batch", batches, nowMs }), inner.applyBatch(batches, nowMs)),
    observeBaseline: (entity, name, observation) => (calls.push({ kind: "baseline", entity, name, observation }), inner.observeBaseline(entity, name, observation)),
    observeBinding: (entity, use, rules) => (calls.push({ kind: "binding", entity, use, rules }), inner.observeBinding(entity, use, rules)),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}

async function replay(store: MemoryStore, calls: readonly Call[]): Promise<void> {
  for (const call of calls) {
    if (call.kind === "apply") await store.apply(call.entity, call.ops, call.nowMs);
    else if (call.kind === "batch") await store.applyBatch(call.batches, call.nowMs);
    else if (call.kind === "baseline") await store.observeBaseline(call.entity, call.name, call.observation);
    else await store.observeBinding(call.entity, call.use, call.rules);
  }
}

const events = Number(process.argv[2] ?? 20_000);
const calls: Call[] = [];
let now = 0;
const settings = settingsSchema.parse({ policy: examplePolicyPath, trustEventTime: true, logLevel: "silent" });
const shared = new MemorySharedBackend({ clock: () => now });
const store = recording(calls);
const core = await createDecisionCore(settings, {
  logger: createLogger({ level: "silent" }),
  clock: { now: () => now },
  watchPolicy: false,
  bookkeeping: false,
  stores: { store, shared, close: async () => {} },
});
const start = Date.UTC(2026, 10, 23);
for (let i = 0; i < events; i++) {
  const attrs = toHttpAttributes(storefrontRequest(i, start + Math.floor((i * 3_600_000) / events)) as never);
  now = attrs.timeMs ?? now;
  await core.pipeline.evaluate(attrs);
}
await core.stop();
let entityCalls = 0;
let ops = 0;
for (const call of calls) {
  const batches = call.kind === "batch" ? call.batches : call.kind === "apply" ? [{ ops: call.ops }] : [{ ops: [call] }];
  entityCalls += batches.length;
  for (const batch of batches) ops += batch.ops.length;
}
console.log(`${events} events: ${calls.length} store calls, ${(entityCalls / events).toFixed(2)} entity calls and ${(ops / events).toFixed(2)} ops per event`);
for (let round = 1; round <= 5; round++) {
  const before = process.cpuUsage();
  await replay(new MemoryStore(), calls);
  const cpu = process.cpuUsage(before);
  console.log(`round ${round}: ${((cpu.user + cpu.system) / events).toFixed(1)} µs of CPU per event in the memory store`);
}
