/**
 * Offline replay speed of several checkouts in the same run: `measureReplaySpeed` of each tree's
 * own bench/replay-speed.ts, each in a fresh child process, the trees alternating round by round
 * so a loaded machine weighs on all of them alike.
 *
 *   npx tsx bench/replay-ab.ts [tree ...]      (this checkout by default)
 *
 * BENCH_ROUNDS (default 3) and BENCH_EVENTS (default 50,000) size it. Each tree is a checkout
 * with its node_modules. Prints one JSON line per tree and round (CPU µs per event over the
 * replay loop, process.cpuUsage) and then, per tree, the median events per CPU second and its
 * ratio to the first tree's.
 *
 * BENCH_INTERLEAVE=<events> instead runs every tree's decision core in this one process (each
 * tree's own modules, loaded from it, the storefront events and setup of measureReplaySpeed)
 * and hands them the events in slices of that many, tree after tree, the order reversed every
 * other slice: a load that comes and goes over seconds then weighs on every tree alike, which
 * separate processes a minute apart do not give on a shared machine. CPU time of each slice is
 * the process's (garbage collection included, whichever tree's slice set it off). Rounds are
 * fresh cores, each over all the events.
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);

const INTERLEAVE = Number(process.env.BENCH_INTERLEAVE ?? 0);

const trees = process.argv.length > 2 ? process.argv.slice(2).map((tree) => resolve(tree)) : [process.cwd()];
const perTree = new Map<string, number[]>(trees.map((tree) => [tree, []]));

/** One tree's core over the events of measureReplaySpeed (its settings, clock and requests). */
async function replayOf(tree: string) {
  const load = (path: string) => import(pathToFileURL(resolve(tree, path)).href) as Promise<any>;
  const { createDecisionCore } = await load("src/app/decision-core.ts");
  const { settingsSchema } = await load("src/settings/settings.ts");
  const { createLogger } = await load("src/telemetry/logger.ts");
  const { toHttpAttributes } = await load("src/transport/grpc/authz/converter.ts");
  const { examplePolicyPath } = await load("test/support/policies.ts");
  const { storefrontRequest } = await load("bench/traffic.ts");
  let now = 0;
  const settings = settingsSchema.parse({ policy: examplePolicyPath, trustEventTime: true, logLevel: "silent" });
  const core = await createDecisionCore(settings, { logger: createLogger({ level: "silent" }), clock: { now: () => now }, watchPolicy: false, bookkeeping: false });
  const start = Date.UTC(2026, 10, 23);
  const spacingMs = 3_600_000 / EVENTS;
  const requests = Array.from({ length: EVENTS }, (_, i) => toHttpAttributes(storefrontRequest(i, start + Math.floor(i * spacingMs))));
  let cpuMicros = 0;
  return {
    tree,
    get cpuMicros() {
      return cpuMicros;
    },
    async slice(from: number, to: number) {
      const before = process.cpuUsage();
      for (let i = from; i < to; i++) {
        const attrs = requests[i];
        now = attrs.timeMs ?? now;
        await core.pipeline.evaluate(attrs);
      }
      const used = process.cpuUsage(before);
      cpuMicros += used.user + used.system;
    },
    stop: () => core.stop() as Promise<void>,
  };
}

for (let round = 0; INTERLEAVE > 0 && round < ROUNDS; round++) {
  const replays = [];
  for (const tree of trees) replays.push(await replayOf(tree));
  for (let from = 0, slice = 0; from < EVENTS; from += INTERLEAVE, slice++) {
    const order = slice % 2 === 0 ? replays : [...replays].reverse();
    for (const replay of order) await replay.slice(from, Math.min(EVENTS, from + INTERLEAVE));
  }
  for (const replay of replays) {
    const cpuMicrosPerEvent = Math.round((replay.cpuMicros / EVENTS) * 10) / 10;
    perTree.get(replay.tree)!.push(cpuMicrosPerEvent);
    process.stdout.write(`${JSON.stringify({ round, tree: replay.tree, events: EVENTS, interleave: INTERLEAVE, cpuMicrosPerEvent, eventsPerCpuSecond: Math.round(1e6 / cpuMicrosPerEvent) })}\n`);
    await replay.stop();
  }
}

for (let round = 0; INTERLEAVE === 0 && round < ROUNDS; round++) {
  for (const tree of trees) {
    const module = pathToFileURL(resolve(tree, "bench/replay-speed.ts")).href;
    const code = `const { measureReplaySpeed } = await import(${JSON.stringify(module)}); console.log(JSON.stringify(await measureReplaySpeed(${EVENTS})));`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8", cwd: tree });
    const result = JSON.parse(out.trim().split("\n").pop()!) as { cpuMicrosPerEvent: number; eventsPerCpuSecond: number };
    perTree.get(tree)!.push(result.cpuMicrosPerEvent);
    process.stdout.write(`${JSON.stringify({ round, tree, ...result })}\n`);
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const first = median(perTree.get(trees[0]!)!);
for (const tree of trees) {
  const micros = median(perTree.get(tree)!);
  process.stdout.write(`${JSON.stringify({ tree, cpuMicrosPerEvent: perTree.get(tree), medianCpuMicrosPerEvent: micros, eventsPerCpuSecond: Math.round(1e6 / micros), ratioToFirst: Math.round((first / micros) * 100) / 100 })}\n`);
}
