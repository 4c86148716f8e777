import { beforeAll, describe, expect, it } from "vitest";
import { parseSweepFile, sweepPoints } from "../../src/lab/sweep/sweep-file.js";
import { sweepMarkdown, sweepText, worstPoints } from "../../src/lab/sweep/report.js";
import { runSweep, type SweepRow } from "../../src/lab/sweep/run.js";
import { loadSweepFile } from "../../src/lab/sweep/sweep-file.js";
import { simulate } from "../../src/lab/simulate/simulate.js";
import type { CheckLine, LabLine } from "../../src/lab/lines.js";
import { examplePolicyPath, repoRoot } from "../support/policies.js";
import { generate } from "./support.js";

const SWEEP = `
seeds: [1, 2]
window: 10m
families:
  - name: burst
    attack: { kind: credential_stuffing, at: 2m, duration: 5m, rate: 5 }
    sweep: { rate: [1, 5, 20], attemptsPerSource: [2] }
    points: [{ at: 0s, duration: whole }, { rate: 1 }]
  - name: spike
    legit: { sessionsPerMinute: 20 }
    spike: { at: 1m, duration: 2m, factor: 3 }
    sweep: { spike.factor: [5], legit.cgnatAddresses: [2] }
`;

describe("sweep file", () => {
  const points = sweepPoints(parseSweepFile(SWEEP, "sweep.yaml"), "sweep.yaml");

  it("varies one parameter at a time around the base, then the listed combinations, each once", () => {
    expect(points.map((p) => `${p.family}: ${p.label}`)).toEqual([
      "burst: base",
      "burst: rate=1",
      "burst: rate=20",
      "burst: attemptsPerSource=2",
      "burst: at=0s duration=whole",
      "spike: base",
      "spike: spike.factor=5",
      "spike: legit.cgnatAddresses=2",
    ]);
  });

  it("turns `whole` into the rest of the window and attempts per source into sources", () => {
    const whole = points.find((p) => p.label === "at=0s duration=whole")!.set.scenarios[0]!.attacks[0]!;
    expect([whole.at, whole.duration]).toEqual([0, 600_000]);
    const perSource = points.find((p) => p.label === "attemptsPerSource=2")!.set.scenarios[0]!.attacks[0]!;
    expect(perSource.sources).toBe((5 * 300) / 2); // 5 a second for five minutes, two tries each
    const spike = points.find((p) => p.label === "spike.factor=5")!.set;
    expect(spike.scenarios[0]!.spike!.factor).toBe(5);
    expect(points.find((p) => p.label === "legit.cgnatAddresses=2")!.set.legit.cgnatAddresses).toBe(2);
    expect(points.every((p) => p.set.scenarios.length === 1 && p.set.scenarios[0]!.duration === 600_000)).toBe(true);
  });

  it("says which family and point is wrong", () => {
    const bad = (text: string) => () => sweepPoints(parseSweepFile(text, "bad.yaml"), "bad.yaml");
    expect(bad("families: [{ name: x, attack: { kind: credential_stuffing, duration: 1m, rate: 1 }, sweep: { rat: [2] } }]")).toThrow(
      /bad\.yaml: x \(rat=2\): invalid scenario set\n.*rat/,
    );
    expect(bad("families: [{ name: x, sweep: { rate: [2] } }]")).toThrow(/x \(rate=2\): rate swept, but the family has no attack/);
    expect(bad("window: 5m\nfamilies: [{ name: x, attack: { kind: scraping, at: 6m, duration: 1m, rate: 1 } }]")).toThrow(/starts after the window ends/);
    expect(() => parseSweepFile("families: []", "empty.yaml")).toThrow(/empty\.yaml: invalid sweep file/);
    expect(() => sweepPoints(parseSweepFile(SWEEP, "s.yaml"), "s.yaml", ["nope"])).toThrow(/no family named nope/);
  });

  it("the shipped full sweep expands: every family of the issue and every confounder", async () => {
    const file = await loadSweepFile(`${repoRoot}examples/lab/sweep.yaml`);
    const full = sweepPoints(file, "sweep.yaml");
    expect(new Set(full.map((p) => p.family))).toEqual(
      new Set([
        "single-address-burst", "periodic-bursts", "distributed-stuffing", "low-and-slow", "password-spray", "credential-checking",
        "token-replay", "header-rotation", "sequential-enumeration", "scattered-enumeration", "distributed-scraping", "vulnerability-scan",
        "mobile-cgnat", "corporate-nat", "marketing-spike", "password-manager", "typos", "app-clients", "search-crawler",
      ]),
    );
    // Every attack family is swept from the first minute over the whole window somewhere.
    for (const family of new Set(full.filter((p) => p.attack).map((p) => p.family))) {
      const firstMinute = full.filter((p) => p.family === family && p.set.scenarios[0]!.attacks[0]!.at === 0);
      expect(firstMinute.length, family).toBeGreaterThan(0);
    }
  });
});

const checks = (lines: LabLine[]) => lines.filter((l): l is CheckLine => l.type === "check");
const http = (line: CheckLine) => (line.checkRequest as any).attributes.request.http as { path: string; headers: Record<string, string>; rawBody?: string };
const body = (line: CheckLine) => Buffer.from(http(line).rawBody ?? "", "base64").toString();

describe("sweep generators", () => {
  it("token replay: the thief with the cookie jar sends the victim's token, headers and device cookie from another address", () => {
    const lines = checks(generate(`
site: { users: 50, products: 20 }
legit: { sessionsPerMinute: 0.01 }
scenarios:
  - { name: t, duration: 3m, attacks: [{ kind: token_replay, duration: 3m, rate: 0.5, victims: 1, sources: 2, pool: residential, stolen: jar }] }
`));
    const refreshes = lines.filter((l) => body(l).includes("grant_type=refresh_token"));
    const stolen = refreshes.filter((l) => l.label === "attack:token_replay");
    const own = refreshes.filter((l) => l.label === "legit");
    expect(stolen.length).toBeGreaterThan(20);
    expect(own.length).toBeGreaterThan(0);
    const token = (l: CheckLine) => new URLSearchParams(body(l)).get("refresh_token");
    expect(new Set([...stolen, ...own].map(token)).size).toBe(1);
    const { headers: victim } = http(own[0]!);
    const { headers: thief } = http(stolen[0]!);
    expect(thief["user-agent"]).toBe(victim["user-agent"]);
    expect(thief.cookie).toBe(victim.cookie);
    expect(thief["x-forwarded-for"]).not.toBe(victim["x-forwarded-for"]);
  });

  it("token replay: the victims' apps are in use from the window's start, so only an attack starting with it races their first refresh", () => {
    const firstRefreshes = (at: string) => {
      const lines = checks(generate(`
site: { users: 50, products: 20 }
legit: { sessionsPerMinute: 0.01 }
scenarios:
  - { name: t, duration: 3m, attacks: [{ kind: token_replay, at: ${at}, duration: 2m, rate: 0.5, victims: 2, sources: 2, pool: residential, stolen: jar }] }
`));
      const refreshes = lines.filter((l) => body(l).includes("grant_type=refresh_token"));
      const first = (label: string) => Date.parse(refreshes.find((l) => l.label === label)!.time);
      return { own: first("legit"), stolen: first("attack:token_replay"), start: Date.parse(lines[0]!.time) };
    };
    const later = firstRefreshes("1m");
    expect(later.own).toBe(later.start);
    expect(later.stolen - later.own).toBeGreaterThanOrEqual(60_000);
    const atOnce = firstRefreshes("0s");
    expect(atOnce.stolen).toBe(atOnce.own);
  });

  it("rotation changes the user agent between requests; a pattern leaves silent gaps", () => {
    const lines = checks(generate(`
site: { users: 50, products: 20 }
legit: { sessionsPerMinute: 0.01 }
scenarios:
  - { name: r, duration: 2m, attacks: [{ kind: credential_stuffing, duration: 2m, rate: 2, client: browser, rotate: true, pattern: { on: 10s, off: 30s } }] }
`)).filter((l) => l.label !== "legit");
    expect(new Set(lines.map((l) => http(l).headers["user-agent"])).size).toBeGreaterThan(2);
    const offsets = lines.map((l) => (Date.parse(l.time) - Date.parse(lines[0]!.time)) % 40_000);
    expect(offsets.every((ms) => ms < 10_500)).toBe(true);
  });

  it("confounders: CGNAT shares one address, autofill sends a stale password first, the crawler is verified Googlebot", () => {
    const lines = checks(generate(`
site: { users: 500, products: 100 }
legit: { sessionsPerMinute: 40, mobileShare: 0.5, cgnatAddresses: 1, loginShare: 1, autofillShare: 1, stalePasswordShare: 1, crawlerRate: 1, crawlerAddresses: 2 }
scenarios: [{ name: c, duration: 3m }]
`));
    const mobile = lines.filter((l) => /iPhone|Android/.test(http(l).headers["user-agent"] ?? ""));
    expect(new Set(mobile.map((l) => http(l).headers["x-forwarded-for"])).size).toBe(1);
    const logins = lines.filter((l) => http(l).path === "/api/v1/login");
    expect(logins.length).toBeGreaterThan(20);
    const crawler = lines.filter((l) => (http(l).headers["user-agent"] ?? "").includes("Googlebot"));
    expect(crawler.length).toBeGreaterThan(100);
    expect(crawler.every((l) => http(l).headers["x-forwarded-for"]!.startsWith("66.249."))).toBe(true);
  });
});

/**
 * The compact sweep's figures as floors and ceilings, measured on the example policy (seed 3),
 * like regression.test.ts: raise them to the new measurement when detection improves, and keep
 * the measurement in the comment. `friction` counts any action but allow on legitimate requests.
 */
const COMPACT: Record<string, { mitigated?: number; friction: number }> = {
  // 99.7%, no friction (97.8% and one step-up on an office worker sharing the attacker's /24 before cohorts).
  "single-address-burst": { mitigated: 0.95, friction: 0.002 },
  // 99.4% (92.5% before cohorts), one address per login, from the first second to the end of the
  // window; 0 of 493 with friction (the target, 0.1%, met; 0 of 514 before the lab's forks of forks
  // stopped sharing draws, docs/lab.md). The early campaign call had asked 2
  // (0.39%), new accounts' first sign-ins in the attack's first seconds, for a second factor; it
  // now counts only failures from clients that kept the site's session, and this list keeps none.
  "distributed-stuffing": { mitigated: 0.95, friction: 0.001 },
  // 90.5% (92.9% before the lab's forks of forks stopped sharing draws, 45.9% before the handoff
  // check, 0% before token binding): a thief with the whole
  // cookie jar and the victim's headers shows by using the token from another network beside
  // the victim's last use. Offline replay holds no quarantine, so every use must show it again.
  // One request of 589 (0.17%) is the victim's own first refresh, in the same second as the
  // thief's: whichever use comes first binds the token and the other is flagged, so the
  // session signs in again.
  "token-replay": { mitigated: 0.9, friction: 0.002 },
  // 97.8% (30.3% before cohorts), from the first second, with no baseline to be anomalous
  // against: 300 addresses sharing a browser's header set, none with the site's cookies.
  "distributed-scraping": { mitigated: 0.95, friction: 0.001 },
  // 95.8% (about 20% before cohorts), half the credentials valid, one login per address from
  // the first second, held from 70 s; no account taken over.
  "credential-checking": { mitigated: 0.93, friction: 0.001 },
  // 100%: a scanner's first probe is for a file or an injection the policy's probe lists name.
  "vulnerability-scan": { mitigated: 0.97, friction: 0.001 },
  // 0 of 1,281 (18.5% throttled before shared addresses: per-address counts added up everyone
  // behind the CGNAT; now they are per client, the client told by its cookies and fingerprint).
  "mobile-cgnat": { friction: 0.001 },
  // 0 of 844 (20, 2.27%, before a login burst behind an address many accounts sign in from was
  // counted per client: four in five of the office's shoppers sign in, more than ten a minute).
  "corporate-nat": { friction: 0.001 },
  // 5 of 942 (0.53%; goal 0.1%) since the lab's forks of forks stopped sharing draws (0 of 1,024
  // before): five logins of two accounts behind one office NAT (192.0.2.68), mistyped within 11 s,
  // challenged by credential-stuffing. (37, 3.61%, before people who browsed the site were kept
  // out of the failing cohort: every visitor's browser sends the same header names, and 60% of
  // them mistyping made that shape fail like a stuffing list's.)
  typos: { friction: 0.0054 },
};

describe("compact sweep (example policy)", () => {
  let rows: SweepRow[];
  beforeAll(async () => {
    const file = await loadSweepFile(`${repoRoot}test/lab/fixtures/sweep-compact.yaml`);
    rows = await runSweep(sweepPoints(file, "sweep-compact.yaml"), { policy: examplePolicyPath, seeds: file.seeds });
  }, 300_000);

  it("prints, per family and point, mitigation, time to it, takeovers, scraping and friction", () => {
    const text = sweepText(rows);
    expect(text).toMatch(/^family +point +attack req\. +mitigated +goal mitig\. +worst seed +req\. to 1st +1st mitig\. +sustained from +taken over +ids scraped +legit req\. +friction/);
    expect(worstPoints(rows).map((r) => r.family)).toEqual(Object.keys(COMPACT));
    expect(sweepMarkdown(rows, { command: "palisade simulate --sweep x", policy: "policy.yaml" })).toContain("| family | worst point |");
    expect(sweepMarkdown(rows, { command: "palisade simulate --sweep x", policy: "policy.yaml" })).toContain("Decided by one replica");
    expect(sweepMarkdown(rows, { command: "palisade simulate --sweep x --replicas 3", policy: "policy.yaml", replicas: 3 })).toContain("Decided by 3 replicas sharing one in-memory store");
  });

  it.each(Object.entries(COMPACT))("%s: detection and friction hold their measured levels", (family, expected) => {
    const row = rows.find((r) => r.family === family)!;
    const today = `measured: ${((row.mitigatedShare ?? 0) * 100).toFixed(1)}% mitigated, ${row.legitFriction} of ${row.legitRequests} legitimate requests with friction`;
    expect(row.legitRequests, today).toBeGreaterThan(400);
    expect(row.frictionShare ?? 0, today).toBeLessThanOrEqual(expected.friction);
    if (expected.mitigated !== undefined) expect(row.mitigatedShare ?? 0, today).toBeGreaterThanOrEqual(expected.mitigated);
  });
});

it("generation is lazy: a sweep point does not build its traffic up front", () => {
  const set = sweepPoints(parseSweepFile(SWEEP, "s.yaml"), "s.yaml")[0]!.set;
  const first = simulate(set).next();
  expect(first.done).toBe(false);
});
