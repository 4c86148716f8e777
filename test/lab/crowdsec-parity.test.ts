import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { crowdsecParity, type ParityRow } from "../../src/lab/replay/crowdsec-parity.js";
import { repoRoot } from "../support/policies.js";

/** CrowdSec's labelled hub fixtures in the shared workspace, read in place (never copied here). */
const FIXTURES = path.join(repoRoot, "..", "shared", "data", "crowdsec-hub-tests");
const POLICY = path.join(repoRoot, "examples", "policies", "generic-site.yaml");

/**
 * Other addresses the generic-site policy denies, and why that is right although the fixture
 * does not assert it: each fixture runs one CrowdSec scenario only.
 */
const KNOWN_EXTRA: Record<string, string[]> = {
  // Its one request says HTTP/1.2, a version that does not exist (http-dos-invalid-http-versions
  // alerts on exactly that request); this fixture runs only the user-agent switching scenario.
  "http-dos-switching-ua": ["127.0.0.1"],
  // Parser fixtures without a scenario: a masscan user agent, Solr admin and /.env probes.
  "apache2-logs": ["164.68.112.178", "195.54.160.135", "1.2.3.4"],
  "envoy-logs": ["172.16.2.33"],
  "nginx_http-logs": ["192.168.1.1"],
};

describe.skipIf(!existsSync(FIXTURES))("CrowdSec hub fixtures through examples/policies/generic-site.yaml", () => {
  it("mitigates every address a scenario alerts on in access-log lines, and no other", { timeout: 300_000 }, async () => {
    const rows = await crowdsecParity(FIXTURES, POLICY);
    const withAccessLog = rows.filter((row) => row.requests > 0);
    const missed = withAccessLog.flatMap((row) =>
      row.expected.filter((ip) => !row.notInAccessLog.includes(ip) && !row.mitigated.some((m) => m.ip === ip)).map((ip) => `${row.test}: ${ip}`),
    );
    expect(missed).toEqual([]);
    const extra = Object.fromEntries(withAccessLog.filter((row) => row.otherTouched.length > 0).map((row) => [row.test, [...row.otherTouched].sort()]));
    expect(extra).toEqual(Object.fromEntries(Object.entries(KNOWN_EXTRA).filter(([, ips]) => ips.length > 0).map(([test, ips]) => [test, [...ips].sort()])));
    // The scenarios this covers, so a fixture that silently stops being read shows up.
    expect(covered(rows)).toBeGreaterThanOrEqual(30);
  });
});

function covered(rows: ParityRow[]): number {
  return rows.filter((row) => row.expected.length > 0 && row.mitigated.length > 0).length;
}

if (!existsSync(FIXTURES)) console.warn(`skipping the CrowdSec parity test: ${FIXTURES} is absent`);
