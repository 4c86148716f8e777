/**
 * Which of an attack's requests pass at one sweep point (docs/cohorts.md, what is left of a
 * distributed scraping campaign): `npx tsx scripts/attack-passes.ts <family> <point label>
 * [seed…] [--replicas N]`, from examples/lab/sweep.yaml with the example policy, seeds 1 and 2
 * by default, decided by one replica or N sharing a store (as `simulate --sweep --replicas`).
 * Each source's requests (an address with its cookies) are split into page views, its first
 * request to another endpoint, and its later ones; "later only" is the mitigated share if
 * exactly the later ones were denied. Then the signals that fired on the attack's requests, and
 * on how many (docs/cohorts.md, several replicas: what one replica sees and three do not).
 */
import { loadPolicy } from "../src/policy/loader.js";
import { attackPasses } from "../src/lab/sweep/passes.js";
import { loadSweepPoint } from "../src/lab/sweep/sweep-file.js";

const args = process.argv.slice(2);
const replicasAt = args.indexOf("--replicas");
const replicas = replicasAt < 0 ? 1 : Number(args.splice(replicasAt, 2)[1]);
const [family, label, ...seedArgs] = args;
if (!family || !label || !Number.isInteger(replicas) || replicas < 1) throw new Error("usage: attack-passes.ts <family> <point label> [seed…] [--replicas N]");
const policy = "examples/policy.yaml";
const point = await loadSweepPoint("examples/lab/sweep.yaml", family, label);
const compiled = await loadPolicy(policy);
const percent = (part: number, whole: number) => (whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`);
console.log("| seed | place | endpoint | requests | passed | denied | by rule |");
console.log("| ---: | --- | --- | ---: | ---: | ---: | --- |");
const totals: string[] = [];
const signals: string[] = [];
for (const seed of seedArgs.length > 0 ? seedArgs.map(Number) : [1, 2]) {
  const passes = await attackPasses(point, seed, { policy, compiled, replicas });
  for (const row of passes.rows) {
    const rules = Object.entries(row.deniedBy).map(([rule, n]) => `${rule}: ${n}`).join(", ") || "-";
    console.log(`| ${seed} | ${row.place} | ${row.endpoint} | ${row.requests} | ${row.passed} | ${row.requests - row.passed} | ${rules} |`);
  }
  const denied = passes.requests - passes.passed;
  const fired = Object.entries(passes.signals).sort(([a, m], [b, n]) => n - m || a.localeCompare(b));
  signals.push(`seed ${seed}: ${fired.map(([code, n]) => `${code} ${n}`).join(", ") || "none"}`);
  totals.push(`seed ${seed}: ${passes.requests} attack requests, ${denied} denied (${percent(denied, passes.requests)}), later only ${passes.laterShare === null ? "-" : percent(passes.laterShare, 1)}, ${passes.idsScraped} ids scraped`);
}
console.log(`\n${family} (${label})${replicas > 1 ? `, ${replicas} replicas` : ""}`);
for (const line of totals) console.log(line);
console.log("\nSignals fired on the attack's requests (on how many):");
for (const line of signals) console.log(line);
