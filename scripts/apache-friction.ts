/**
 * Friction on a real log (docs/detection.md): `npx tsx scripts/apache-friction.ts [log] [policy…]`,
 * by default ../shared/data/apache_logs.gz with the generic-site and the example policy.
 */
import { browserFriction } from "../src/lab/replay/friction.js";

const log = process.argv[2] ?? "../shared/data/apache_logs.gz";
const policies = process.argv.length > 3 ? process.argv.slice(3) : ["examples/policies/generic-site.yaml", "examples/policy.yaml"];
console.log("| policy | requests | denied | browser requests | browser denied | share | rules |");
console.log("|---|---|---|---|---|---|---|");
for (const policy of policies) {
  const f = await browserFriction(log, policy);
  const share = f.browserRequests === 0 ? "—" : `${((100 * f.browserDenied) / f.browserRequests).toFixed(2)}%`;
  const rules = Object.entries(f.byRule).map(([rule, n]) => `${rule}: ${n}`).join(", ") || "—";
  console.log(`| ${policy} | ${f.requests} | ${f.denied} | ${f.browserRequests} | ${f.browserDenied} | ${share} | ${rules} |`);
}
