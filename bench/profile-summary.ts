/**
 * Self time by function in a .cpuprofile, heaviest first: `npx tsx bench/profile-summary.ts
 * <file.cpuprofile> [top=40] [package filter]`. Idle and the garbage collector are listed as
 * V8 names them ("(idle)", "(garbage collector)"); paths are shortened to the package or src file.
 * PROFILE_UNDER=<name>[,<name>] adds, per function name, the time of every sample with it on the
 * stack (its callees included) and that time's share of the profile.
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, topArg] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file!, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map<string, number>();
const byArea = new Map<string, number>();
const short = (url: string) => url.replace(/^.*node_modules\/(@[^/]+\/[^/]+|[^/]+)\/.*$/, "$1").replace(/^.*\/(src|bench|test)\//, "$1/").replace(/^file:\/\//, "");
let total = 0;
profile.samples.forEach((id, i) => {
  const node = byId.get(id)!;
  const us = profile.timeDeltas[i + 1] ?? 0;
  const key = `${node.callFrame.functionName || "(anonymous)"} ${short(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + us);
  const area = short(node.callFrame.url) || node.callFrame.functionName;
  byArea.set(area, (byArea.get(area) ?? 0) + us);
  total += us;
});
const print = (title: string, map: Map<string, number>, top: number) => {
  process.stdout.write(`${title} (total ${(total / 1000).toFixed(1)} ms)\n`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${(us / 1000).toFixed(2).padStart(8)} ms  ${key}\n`);
};
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
const under = (name: string) => {
  let us = 0;
  profile.samples.forEach((id, i) => {
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      if (byId.get(at)!.callFrame.functionName !== name) continue;
      us += profile.timeDeltas[i + 1] ?? 0;
      return;
    }
  });
  return us;
};
for (const name of process.env.PROFILE_UNDER?.split(",") ?? []) {
  const us = under(name);
  process.stdout.write(`under ${name}: ${(us / 1000).toFixed(1)} ms, ${((100 * us) / total).toFixed(2)}%\n`);
}
print("by area", byArea, 30);
print("by function", self, Number(topArg ?? 40));
