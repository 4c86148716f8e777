/**
 * What a browser session's first product read shows, for the scraper's sessions and the
 * shoppers' (docs/cohorts.md, the first read measured): `npx tsx scripts/first-reads.ts
 * <family[,family…]> [point label]`, every point of the families (or the one named) from
 * examples/lab/sweep.yaml with the example policy, seeds 1 and 2 pooled.
 */
import { loadPolicy } from "../src/policy/loader.js";
import { EVIDENCE, firstReads, type Evidence, type FirstReadRow } from "../src/lab/sweep/first-reads.js";
import { loadSweepFile, sweepPoints } from "../src/lab/sweep/sweep-file.js";

const [families, label] = process.argv.slice(2);
if (!families) throw new Error("usage: first-reads.ts <family[,family…]> [point label]");
const sweepPath = "examples/lab/sweep.yaml";
const policy = "examples/policy.yaml";
const compiled = await loadPolicy(policy);
const points = sweepPoints(await loadSweepFile(sweepPath), sweepPath, families.split(",")).filter((p) => label === undefined || p.label === label);
if (points.length === 0) throw new Error(`${families} has no point ${label}`);
const evidence = Object.keys(EVIDENCE) as Evidence[];
console.log(`| family | point | sender | first reads | passed | ${evidence.join(" | ")} |`);
console.log(`| --- | --- | --- | ---: | ---: | ${evidence.map(() => "---:").join(" | ")} |`);
for (const point of points) {
  const pooled = new Map<string, FirstReadRow>();
  for (const seed of [1, 2]) {
    for (const row of await firstReads(point, seed, { policy, compiled })) {
      const sum = pooled.get(row.sender);
      if (!sum) pooled.set(row.sender, structuredClone(row));
      else {
        sum.reads += row.reads;
        sum.passed += row.passed;
        for (const e of evidence) sum.showing[e] += row.showing[e];
      }
    }
  }
  for (const row of pooled.values()) {
    console.log(`| ${point.family} | ${point.label} | ${row.sender} | ${row.reads} | ${row.passed} | ${evidence.map((e) => row.showing[e]).join(" | ")} |`);
  }
}
console.log("");
for (const e of evidence) console.log(`- ${e}: ${EVIDENCE[e]}`);
