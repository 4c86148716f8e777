import { describe, expect, it } from "vitest";
import type { DecisionRecord } from "./decision-records.js";
import { attackSources, intelText } from "./intel.js";

const record = (over: Partial<DecisionRecord>): DecisionRecord => ({
  firstDecisionId: "d1",
  action: "quarantine",
  rule: "trap",
  scope: "ip",
  subject: "pseudonym",
  network: "203.0.113.0/24",
  endpoint: "login",
  policyVersion: "v1",
  risk: 100,
  reasons: [],
  degraded: false,
  eventTime: "2026-12-06T10:00:00.000Z",
  first: "2026-12-06T10:00:00.000Z",
  last: "2026-12-06T10:00:30.000Z",
  minute: "2026-12-06T10:00:00.000Z",
  count: 2,
  overflow: false,
  ...over,
});

describe("attack sources", () => {
  it("merges quarantines and blocks per network, and leaves out what only slowed or asked", () => {
    const sources = attackSources([
      record({}),
      record({ action: "block", rule: "deny", endpoint: "search", first: "2026-12-06T09:59:00.000Z", count: 1 }),
      record({ action: "throttle", network: "198.51.100.0/24" }),
      record({ network: undefined, overflow: true }),
    ]);
    expect(sources).toEqual([
      { network: "203.0.113.0/24", rules: ["trap", "deny"], endpoints: ["login", "search"], firstSeen: "2026-12-06T09:59:00.000Z", lastSeen: "2026-12-06T10:00:30.000Z", count: 3 },
    ]);
  });

  it("coarsens networks on request, never makes them finer, and merges what then coincides", () => {
    const records = [record({}), record({ network: "203.0.114.0/24" }), record({ network: "2001:db8:1::/48" })];
    expect(attackSources(records, { v4: 16, v6: 32 }).map((s) => [s.network, s.count])).toEqual([["203.0.0.0/16", 4], ["2001:db8::/32", 2]]);
    expect(attackSources(records, { v4: 32 }).map((s) => s.network)).toContain("203.0.113.0/24");
  });

  it("writes a STIX 2.1 bundle with one indicator per network, the same ids each time", () => {
    const sources = attackSources([record({}), record({ network: "2001:db8:1::/48" })]);
    const bundle = JSON.parse(intelText(sources, "stix"));
    expect(bundle.type).toBe("bundle");
    expect(bundle.objects.map((o: { pattern: string }) => o.pattern)).toEqual(["[ipv6-addr:value = '2001:db8:1::/48']", "[ipv4-addr:value = '203.0.113.0/24']"]);
    for (const o of bundle.objects) expect(o.id).toMatch(/^indicator--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(JSON.parse(intelText(sources, "stix"))).toEqual(bundle);
  });

  it("writes CSV with quoting, and CrowdSec's import list", () => {
    const [source] = attackSources([record({ rule: 'odd,"rule"' })]);
    expect(intelText([source!], "csv")).toContain('203.0.113.0/24,"odd,""rule""",login,');
    expect(JSON.parse(intelText([source!], "crowdsec", "1h"))).toEqual([
      { value: "203.0.113.0/24", scope: "Range", type: "ban", duration: "1h", origin: "palisade", reason: 'palisade: odd,"rule"' },
    ]);
  });
});
