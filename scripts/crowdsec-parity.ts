/**
 * Prints the CrowdSec parity table (docs/crowdsec-parity.md): `npx tsx scripts/crowdsec-parity.ts
 * [fixtures folder] [policy]`, by default ../shared/data/crowdsec-hub-tests and the generic-site policy.
 */
import { crowdsecParity } from "../src/lab/replay/crowdsec-parity.js";

const fixtures = process.argv[2] ?? "../shared/data/crowdsec-hub-tests";
const policy = process.argv[3] ?? "examples/policies/generic-site.yaml";
const rows = await crowdsecParity(fixtures, policy);
const list = (items: string[]) => (items.length === 0 ? "—" : items.join(", "));
console.log("| test | expected IPs | mitigated | after requests | other IPs touched | requests read |");
console.log("|---|---|---|---|---|---|");
for (const row of rows) {
  const mitigated = row.expected.length === 0 ? "—" : `${row.mitigated.length}/${row.expected.length - row.notInAccessLog.length}`;
  const after = list(row.mitigated.map((m) => `${m.ip}: ${m.afterRequests}`));
  const expected = list(row.expected.map((ip) => (row.notInAccessLog.includes(ip) ? `${ip} (not in an access-log line)` : ip)));
  console.log(`| ${row.test} | ${expected} | ${row.requests === 0 ? "no access-log line" : mitigated} | ${after} | ${list(row.otherTouched)} | ${row.requests} |`);
}
