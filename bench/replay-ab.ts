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
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);

const trees = process.argv.length > 2 ? process.argv.slice(2).map((tree) => resolve(tree)) : [process.cwd()];
const perTree = new Map<string, number[]>(trees.map((tree) => [tree, []]));

for (let round = 0; round < ROUNDS; round++) {
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
