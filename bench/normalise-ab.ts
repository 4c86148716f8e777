/**
 * CPU per call of the normalisation stage alone (`normalise`: headers, path, addresses,
 * pseudonyms, cookies, digests) on the storefront events of bench/replay-speed.ts, for several
 * checkouts in this one process: each tree's own modules and decision core, the events handed
 * out in slices of 1,000, tree after tree, the order reversed every other slice.
 *
 *   npx tsx bench/normalise-ab.ts [tree ...]      (this checkout by default)
 *
 * BENCH_EVENTS (default 30,000) and BENCH_PASSES (default 4) size it. A pass is every event
 * once; the first pass meets each client's address for the first time, as a replay does, the
 * later ones find every cache warm. Prints CPU µs per call by pass, tree by tree.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 30_000);
const PASSES = Number(process.env.BENCH_PASSES ?? 4);
const SLICE = 1_000;
const trees = process.argv.length > 2 ? process.argv.slice(2).map((tree) => resolve(tree)) : [process.cwd()];

async function normaliserOf(tree: string) {
  const load = (path: string) => import(pathToFileURL(resolve(tree, path)).href) as Promise<any>;
  const { createDecisionCore } = await load("src/app/decision-core.ts");
  const { normalise } = await load("src/pipeline/normalise.ts");
  const { settingsSchema } = await load("src/settings/settings.ts");
  const { createLogger } = await load("src/telemetry/logger.ts");
  const { toHttpAttributes } = await load("src/transport/grpc/authz/converter.ts");
  const { examplePolicyPath } = await load("test/support/policies.ts");
  const { storefrontRequest } = await load("bench/traffic.ts");
  const settings = settingsSchema.parse({ policy: examplePolicyPath, trustEventTime: true, logLevel: "silent" });
  const core = await createDecisionCore(settings, { logger: createLogger({ level: "silent" }), clock: { now: () => 0 }, watchPolicy: false, bookkeeping: false });
  const start = Date.UTC(2026, 10, 23);
  const requests = Array.from({ length: EVENTS }, (_, i) => toHttpAttributes(storefrontRequest(i, start + Math.floor((i * 3_600_000) / EVENTS))));
  const context = { policy: core.policy.current(), pseudonymiser: core.pseudonymiser, eventTime: { trust: true, maxSkewMs: 0 }, nowMs: start, geo: core.detection.geo };
  const perPass: number[] = [];
  let sink = 0;
  return {
    tree,
    perPass,
    slice(pass: number, from: number, to: number) {
      const before = process.cpuUsage();
      for (let i = from; i < to; i++) sink += normalise(requests[i], context).request.anomalies.length;
      const used = process.cpuUsage(before);
      perPass[pass] = (perPass[pass] ?? 0) + used.user + used.system;
      return sink;
    },
    stop: () => core.stop() as Promise<void>,
  };
}

const normalisers = [];
for (const tree of trees) normalisers.push(await normaliserOf(tree));
for (let pass = 0; pass < PASSES; pass++) {
  for (let from = 0, slice = 0; from < EVENTS; from += SLICE, slice++) {
    for (const normaliser of slice % 2 === 0 ? normalisers : [...normalisers].reverse()) normaliser.slice(pass, from, Math.min(EVENTS, from + SLICE));
  }
}
for (const normaliser of normalisers) {
  const micros = normaliser.perPass.map((total) => Math.round((total / EVENTS) * 100) / 100);
  process.stdout.write(`${JSON.stringify({ tree: normaliser.tree, events: EVENTS, cpuMicrosPerCallByPass: micros })}\n`);
  await normaliser.stop();
}
