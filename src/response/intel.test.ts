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

describe("attack sources, in detail", () => {
  it("orders the busiest network first, and networks of equal counts by name", () => {
    const sources = attackSources([
      record({ network: "198.51.100.0/24", count: 1 }),
      record({ network: "203.0.113.0/24", count: 1 }),
      record({ network: "192.0.2.0/24", count: 5 }),
      record({ network: "10.0.0.0/24", count: 1 }),
    ]);
    expect(sources.map((s) => s.network)).toEqual(["192.0.2.0/24", "10.0.0.0/24", "198.51.100.0/24", "203.0.113.0/24"]);
  });

  it("spans the earliest first sighting to the latest last one, whatever the order of the records", () => {
    // The widest span sits in the middle: taking the first or the last record blindly shows.
    const [source] = attackSources([
      record({ first: "2026-12-06T10:00:00.000Z", last: "2026-12-06T10:00:30.000Z" }),
      record({ first: "2026-12-06T09:00:00.000Z", last: "2026-12-06T10:10:00.000Z" }),
      record({ first: "2026-12-06T10:05:00.000Z", last: "2026-12-06T10:05:10.000Z" }),
    ]);
    expect(source).toMatchObject({ firstSeen: "2026-12-06T09:00:00.000Z", lastSeen: "2026-12-06T10:10:00.000Z", count: 6 });
  });

  it("names each rule and endpoint once, and none for a record without them", () => {
    const [source] = attackSources([record({}), record({ rule: undefined, endpoint: undefined }), record({ action: "block" })]);
    expect(source).toMatchObject({ rules: ["trap"], endpoints: ["login"], count: 6 });
    const [bare] = attackSources([record({ rule: undefined, endpoint: undefined })]);
    expect(bare).toMatchObject({ rules: [], endpoints: [] });
  });

  it("leaves out a record whose network is not a network", () => {
    expect(attackSources([record({ network: "203.0.113.7" }), record({ network: "not-a-net/24" })])).toEqual([]);
  });

  it("keeps a network as it is when asked for its own prefix, and each family by its own prefix", () => {
    const records = [record({}), record({ network: "2001:db8:1::/48" })];
    expect(attackSources(records, { v4: 24, v6: 48 }).map((s) => s.network)).toEqual(["2001:db8:1::/48", "203.0.113.0/24"]);
    expect(attackSources(records, { v4: 23 }).map((s) => s.network)).toEqual(["2001:db8:1::/48", "203.0.112.0/23"]);
    expect(attackSources(records, { v6: 47 }).map((s) => s.network)).toEqual(["2001:db8::/47", "203.0.113.0/24"]);
  });
});

describe("intel formats, in detail", () => {
  const source = { network: "203.0.113.0/24", rules: ["trap", "deny"], endpoints: ["login", "search"], firstSeen: "2026-12-06T09:59:00.000Z", lastSeen: "2026-12-06T10:00:30.000Z", count: 3 };
  const anonymous = { ...source, network: "2001:db8::/32", rules: [], endpoints: [] };

  it("writes JSON as an object of sources", () => {
    expect(JSON.parse(intelText([source], "json"))).toEqual({ sources: [source] });
    expect(intelText([], "json").endsWith("}\n")).toBe(true);
  });

  it("writes CSV with a header and one line per source, quoting only what needs it", () => {
    expect(intelText([source, { ...source, network: "192.0.2.0/24", rules: ["two\nlines"], count: 1 }], "csv")).toBe(
      [
        "network,rules,endpoints,first_seen,last_seen,count",
        "203.0.113.0/24,trap deny,login search,2026-12-06T09:59:00.000Z,2026-12-06T10:00:30.000Z,3",
        '192.0.2.0/24,"two\nlines",login search,2026-12-06T09:59:00.000Z,2026-12-06T10:00:30.000Z,1',
        "",
      ].join("\n"),
    );
  });

  it("bans for four hours in CrowdSec's list unless told otherwise, and gives a reason without rules", () => {
    expect(JSON.parse(intelText([source, anonymous], "crowdsec"))).toEqual([
      { value: "203.0.113.0/24", scope: "Range", type: "ban", duration: "4h", origin: "palisade", reason: "palisade: trap, deny" },
      { value: "2001:db8::/32", scope: "Range", type: "ban", duration: "4h", origin: "palisade", reason: "palisade: blocked" },
    ]);
  });

  it("describes each STIX indicator by its rules, endpoints, times and count", () => {
    const bundle = JSON.parse(intelText([source, anonymous], "stix"));
    const [named, bare] = bundle.objects;
    expect(named).toMatchObject({
      type: "indicator",
      spec_version: "2.1",
      created: source.firstSeen,
      modified: source.lastSeen,
      valid_from: source.firstSeen,
      name: "Palisade: 203.0.113.0/24",
      description: "Quarantined or blocked by trap, deny on login, search: 3 decisions",
      indicator_types: ["malicious-activity"],
      pattern_type: "stix",
      labels: ["trap", "deny"],
    });
    expect(bare.description).toBe("Quarantined or blocked by a rule on the site: 3 decisions");
    expect(bundle.id).toMatch(/^bundle--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("gives an indicator an id of its network and first sighting, and the bundle one of its indicators", () => {
    const ids = (sources: (typeof source)[]) => JSON.parse(intelText(sources, "stix")) as { id: string; objects: { id: string }[] };
    const one = ids([source]);
    expect(ids([{ ...source, count: 99, lastSeen: "2026-12-07T00:00:00.000Z" }]).objects[0]!.id).toBe(one.objects[0]!.id);
    expect(ids([{ ...source, firstSeen: "2026-12-06T09:58:00.000Z" }]).objects[0]!.id).not.toBe(one.objects[0]!.id);
    expect(ids([{ ...source, network: "192.0.2.0/24" }]).objects[0]!.id).not.toBe(one.objects[0]!.id);
    expect(ids([source, anonymous]).id).not.toBe(one.id);
    expect(ids([source]).id).toBe(one.id);
    expect(ids([{ ...source, network: "192.0.2.0/24" }]).id).not.toBe(one.id);
  });
});
