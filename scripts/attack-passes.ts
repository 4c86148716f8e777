/**
 * Which of an attack's requests pass at one sweep point (docs/cohorts.md, what is left of a
 * distributed scraping campaign): `npx tsx scripts/attack-passes.ts <family> <point label>
 * [seed…]`, from examples/lab/sweep.yaml with the example policy, seeds 1 and 2 by default.
 * Each source's requests (an address with its cookies) are split into page views, its first
 * request to another endpoint, and its later ones; "later only" is the mitigated share if
 * exactly the later ones were denied.
 */
import { loadPolicy } from "../src/policy/loader.js";
import { attackPasses } from "../src/lab/sweep/passes.js";
import { loadSweepPoint } from "../src/lab/sweep/sweep-file.js";

const [family, label, ...seedArgs] = process.argv.slice(2);
if (!family || !label) throw new Error("usage: attack-passes.ts <family> <point label> [seed…]");
const policy = "examples/policy.yaml";
const point = await loadSweepPoint("examples/lab/sweep.yaml", family, label);
const compiled = await loadPolicy(policy);
const percent = (part: number, whole: number) => (whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`);
console.log("| seed | place | endpoint | requests | passed | denied | by rule |");
console.log("| ---: | --- | --- | ---: | ---: | ---: | --- |");
const totals: string[] = [];
for (const seed of seedArgs.length > 0 ? seedArgs.map(Number) : [1, 2]) {
  const passes = await attackPasses(point, seed, { policy, compiled });
  for (const row of passes.rows) {
    const rules = Object.entries(row.deniedBy).map(([rule, n]) => `${rule}: ${n}`).join(", ") || "-";
    console.log(`| ${seed} | ${row.place} | ${row.endpoint} | ${row.requests} | ${row.passed} | ${row.requests - row.passed} | ${rules} |`);
  }
  const denied = passes.requests - passes.passed;
  totals.push(`seed ${seed}: ${passes.requests} attack requests, ${denied} denied (${percent(denied, passes.requests)}), later only ${passes.laterShare === null ? "-" : percent(passes.laterShare, 1)}, ${passes.idsScraped} ids scraped`);
}
console.log(`\n${family} (${label})`);
for (const line of totals) console.log(line);
