/**
 * Detection at each family's worst point of the full sweep, as a regression test: the point of
 * examples/lab/sweep.yaml where the sweep (`npm run sweep`, docs/detection-sweep.md, "Worst
 * point per family") finds the family least mitigated, or a confounder's shoppers most
 * hindered, generated and replayed through the example policy by the code `palisade simulate
 * --sweep` runs, once per seed of the sweep file.
 *
 * As in regression.test.ts, the floors are the detection goals where a family meets them on
 * both seeds, and otherwise the figure measured on the worse seed, with the goal named beside
 * it: a loss fails, a gain is a visible edit of one line of FLOORS. Accounts taken over and
 * catalogue ids scraped are asserted exactly as measured, or better.
 *
 * Updating: run this file; a failure prints the measured figures of that seed. After a change
 * that moves detection, rerun `npm run sweep`, check that each family's worst point is still
 * the one named here, and write the new figures (the worse seed's) into FLOORS.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadPolicy } from "../../src/policy/loader.js";
import type { CompiledPolicy } from "../../src/policy/compile.js";
import type { ScenarioFigures } from "../../src/lab/replay/stats.js";
import { runPoint } from "../../src/lab/sweep/run.js";
import { loadSweepFile, sweepPoints, type SweepFile, type SweepPoint } from "../../src/lab/sweep/sweep-file.js";
import { examplePolicyPath, repoRoot } from "../support/policies.js";
import type { DetectionFloors } from "./support.js";

type Floors = Omit<DetectionFloors, "falsePositives"> & {
  /**
   * Share of the attack's goal requests denied, at least (its logins, a scraper's catalogue
   * reads: GoalEndpoints in src/lab/replay/stats.ts): where cover traffic (the site's shell, pages
   * shown) keeps the mitigated share low, this says whether what the attack came for was stopped.
   */
  goal?: number;
};

/** The detection goals (those of regression.test.ts), asserted wherever a family meets them. */
const GOAL = { mitigated: 0.9, firstMitigation: 10, sustained: 60, takenOver: 0, friction: 0.001 } as const satisfies Floors;
/** A confounder has no attack: only the friction goal. */
const BENIGN = { friction: GOAL.friction } as const satisfies Floors;

/**
 * Per family of examples/lab/sweep.yaml: its worst point (the sweep's label for it) and the
 * floors there; where the point with the lowest mitigated share is not the one that lets most
 * through (accounts, ids), both. Measured on seeds 1 and 2 (the sweep file's) at commit f18af2a
 * (with the session-reads detector, account device cookies and the sweep's returning accounts;
 * docs/detection-sweep.md of the same code); distributed-stuffing and credential-checking again
 * with session.page_shown and the sweep's client: browsing points (docs/detection.md, first
 * sign-ins during a campaign), whose rows docs/detection-sweep.md does not have yet. Where a goal is not met, the floor is the worse seed's
 * figure (shares rounded down, times and friction up, at the fourth decimal or the tenth of a
 * second) and the comment gives both seeds' figures and the goal. Every point measured again with
 * runPoint when the lab's forks of forks stopped sharing draws (docs/lab.md): that moved every
 * point's traffic (the shoppers: 524 and 516 legitimate requests on seeds 1 and 2 where there were
 * 423 and 842), and the comments say where the floors moved with it.
 */
const FLOORS: Record<string, Record<string, Floors>> = {
  // 98.6% on both seeds, first denial after 3.2–3.3 s, held from 10 s.
  "single-address-burst": { "rate=0.3": GOAL },
  // 98.7% and 99.4%, first denial after 0.4 and 0.2 s, held from then on (before the forks' fix
  // held only from 130 s on seed 2, 94.1%).
  "periodic-bursts": { 'at=0s client=realistic pattern={"on":"10s","off":"2m"}': GOAL },
  "distributed-stuffing": {
    // The lowest share, since the lab's bots can also be shown a product page before the form
    // (client: browsing, which buys session.page_shown): 16.51% and 16.44% mitigated (goal 90%;
    // 1.30% and 1.49% while campaign logins were asked for MFA, before campaign-login-challenge
    // and the campaign's hold while its logins are denied). The login is a sixth of a bot's
    // requests (three shell files, a product, its picture, the form), so that is near the
    // ceiling of answering logins; the floor leaves room for runs that differ by a request or two
    // (keyed hashes differ per run). First denial after 5.1 and 6.4 s (goal 10 s; 37.5 and 90.9 s
    // before), never held (goal 60 s); no account taken
    // over; friction 0 of 423 and 2 of 842 (0.24%; goal 0.1%; 6 of 842 before site.shown_first_logins
    // counted by depth): new accounts' first sign-ins, one on the first page right after the shell
    // and one after a single product page, as the campaign's bots show before each login.
    // With searches counted among the pages shown and campaign-login-challenge reading the early
    // call, held by its denials (simulate --sweep, docs/detection.md, a list whose bots browse):
    // 16.7% pooled and on the worse seed (16.66% on seed 2: every login but the first three),
    // first denial after 2.6 s at the slowest, friction 1 of 842 on seed 2 (0.12%; 0.08% over
    // both seeds): the shopper who signs in on the first page. Measured with runPoint on 85bf8c1
    // (land with takeover, scraping's band of first reads and stuffing) and after a read that
    // its address followed with an asset left cohort.catalogue_walk's band: 16.71% and 16.72%
    // before, 16.67% and 16.66% after (the bots' product reads throttled as that band, 0.05%),
    // first denial after 2.5 and 2.6 s, no account taken over; friction 1 of 423 on seed 1
    // before (0.24%: a shopper's first read of a popular product, 32 s in, beside the first reads
    // of 12 bots' addresses), none after; on seed 2 the same 1 of 842. Since the forks' fix: 16.65%
    // on both seeds, first denial after 2.6 and 2.2 s, friction 2 of 524 (0.38%) and 1 of 516.
    // Of its logins alone (goal: scripts/attack-passes.ts on 20ef015): 1,761 of 1,764 and 1,769
    // of 1,772 denied (99.83% on both seeds); the three let through on each came in the attack's
    // first 2.4 s, before any call of a campaign: on seed 1 one allowed and two asked for MFA
    // (unfamiliar-login, accounts with history from a new device), on seed 2 three asked for MFA.
    // The rest of the attack's requests are its cover: the shell's files, the product page and
    // its picture (7,051 and 7,083 page views, 1,760 and 1,768 product reads), which pass as a
    // shopper's do. The floor leaves room for a few logins more. With sign-ups (the registration
    // endpoint, legit.signUpShare 0.5): friction 1 of 529 on seed 1 (0.19%) and 0 of 520.
    "at=0s duration=whole attemptsPerSource=1 client=browsing": { mitigated: 0.166, goal: 0.997, firstMitigation: 2.7, takenOver: 0, friction: 0.0019 },
    // 24.73% and 24.64% mitigated (2.04% to 2.07% and 2.31% to 2.34% before the challenge and
    // the hold; a quarter of a bot's requests are logins), first denial after 4.3 and 5.2 s
    // (35.9 and 89.3 s before), never held; no account taken
    // over; friction 0 of 423 and 1 of 842 (0.12%; goal 0.1%; 6 of 842 before session.page_shown),
    // a new account signing in on the first page, right after the shell, as the bots do. With the
    // early call challenged and held by its denials: 25.0% pooled, 24.9% on the worse seed, first
    // denial after 1.9 s at the slowest, the same friction. Since the forks' fix: 24.94% on both
    // seeds, first denial after 1.8 and 1.4 s, friction 2 of 524 (0.38%) and 1 of 516.
    // Of its logins alone: 1,760 of 1,764 and 1,768 of 1,772 denied (99.77% on both seeds), the
    // rest of its requests the shell's files (5,292 and 5,316), measured as the browsing point's.
    // With sign-ups: friction 1 of 529 on seed 1 (0.19%) and 0 of 520, as the browsing point's.
    "at=0s duration=whole attemptsPerSource=1 client=session": { mitigated: 0.248, goal: 0.996, firstMitigation: 2.0, takenOver: 0, friction: 0.0019 },
  },
  // First denial after 47.0 and 100.6 s (goal 10 s), held from 2,940 and 3,290 s (goal 60 s); 96.9%
  // and 96.8% (50.2 and 61.3 s, 1,310 and 1,520 s, 96.4% and 96.2% before the forks' fix).
  "low-and-slow": { "attemptsPerSource=6": { ...GOAL, firstMitigation: 100.6, sustained: 3290 } },
  // 98.6% on both seeds, first after 2.7–3.0 s, held from 10 s.
  "password-spray": { "rate=0.3": GOAL },
  "credential-checking": {
    // Measured by npm run sweep on 4218925 (docs/detection-sweep.md; the worse seed's share, the
    // slower seed's times), after campaign-login-challenge and site.campaign_early. The lowest
    // share: 38.0% on the worse seed (goal 90%; 27.70% and 30.95% before the challenge), first
    // denial after 10.1 s (goal 10 s; 50.8 s before), held from 130 s (goal 60 s), no account
    // taken over, no friction. With the early call counting step-ups (takeover) and challenged
    // (stuffing), measured with runPoint on 85bf8c1 and after the catalogue walk's change, the
    // same: 38.58% and 41.12%, first denial after 1.9 and 3.9 s, held from 130 and 120 s.
    // Since the forks' fix: 39.37% and 40.81%, first after 2.0 and 2.6 s, held from 110 s on
    // both, 1 account taken over on seed 1 (goal 0), where 1 of 524 legitimate requests has
    // friction (0.19%; goal 0.1%).
    "client=session": { mitigated: 0.393, firstMitigation: 2.6, sustained: 110, takenOver: 1, friction: 0.002 },
    // At most 1 account taken over in a run (goal 0; 2 before the early call counted step-ups,
    // docs/detection.md, the campaign's first seconds): on seed 2 a hit on a new account 0.3 s
    // after the attack's first login, before any login had failed; 39.4% on the worse seed, first
    // after 10.1 s, held from 130 s, no friction. Measured as client=session's above: 39.65% and
    // 41.03%, first after 1.9 and 4.4 s, held from 130 and 120 s, 0 and 1 taken over.
    // Since the forks' fix: 39.17% and 41.33%, first after 2.0 and 2.6 s, held from 110 s, 1 and 0
    // taken over, friction 1 of 524 on seed 1 (0.19%; goal 0.1%).
    "hitRate=0.5 client=session": { mitigated: 0.391, firstMitigation: 2.6, sustained: 110, takenOver: 1, friction: 0.002 },
    // At most 1 account taken over in a run (goal 0; 4 before campaign.early, docs/detection.md,
    // the campaign's first seconds): bots shown a product page before each login, hits on new
    // accounts in the seconds before any site-wide call; 29.2% on the worse seed, first after
    // 11.1 s, held from 130 s; friction 1 of 842 on one seed (0.12%; goal 0.1%): a new account
    // signing in after one product page, as deep as the bots. With searches counted among the
    // pages shown she is deeper than the bots (no friction), and with the early call challenged
    // (held by its denials) the first denial comes after 3.0 s on seed 1, 7.7 s at the slowest,
    // and the share falls to 28.26% on seed 1 although more of the list is denied (457 -> 474 of
    // its 1,677 logins and pages): the hits of the first seconds, stepped up before, are now
    // challenged, so the takeovers that followed them (54 requests, 48 denied) are never made.
    // With step-ups counted by the early call as well (takeover), measured as client=session's
    // above: 28.26% and 29.63%, first after 3.0 and 5.4 s, held from 130 and 120 s, no account
    // taken over, no friction.
    // Since the forks' fix: 28.26% and 29.91%, first after 6.2 and 2.6 s, held from 120 and 110 s,
    // none taken over, friction 1 of 524 on seed 1 (0.19%; goal 0.1%).
    "hitRate=0.5 client=browsing": { ...GOAL, mitigated: 0.282, firstMitigation: 6.2, sustained: 120, takenOver: 0, friction: 0.002 },
  },
  // The worst point: a token's first use seen is a race (docs/token-binding.md). First denial
  // after 10.9 and 9.5 s (goal 10 s), 1 account taken over on each seed (goal 0), friction 1 of
  // 676 on each (0.15%; goal 0.1%); 93.75% on both, held from 10.9 and 10 s. (Before the forks'
  // fix: 9.1 and 11.3 s, friction 1 of 585 and 1 of 1,003, 93.5% and 93.3%.)
  // Each token replayed every 250 s on average, minutes after its owner's refresh: 100% on seed 1,
  // first denial at the first replay, no friction, since the victims' apps are in use from the
  // window's start (80.0%, first after 31.1 s, 1 taken over and 1 of 536 with friction while the
  // lab started them with the attack, so their first refresh raced the thief's). Since the forks'
  // fix, seed 2 replays the fifth victim's token 4 min 17 s into the window, and
  // token-two-networks allows it: 66.67% (4 of 6), never held, 1 account taken over (goal 0).
  "token-replay": {
    "at=0s stolen=jar sources=1": { ...GOAL, firstMitigation: 11.0, takenOver: 1, friction: 0.0015 },
    "stolen=jar rate=0.02": { mitigated: 0.666, firstMitigation: GOAL.firstMitigation, takenOver: 1 },
  },
  // 99.2% on both seeds, first after 1.7–2.2 s, held from 10 s.
  "header-rotation": { "rate=0.5": GOAL },
  // 90.00% and 90.76% mitigated (goal 90%), first after 24.8 and 21.7 s (goal 10 s), held from
  // 30 s; 12 and 11 catalogue ids served (89.92% and 90.98%, 24.2 and 22.5 s before the forks' fix).
  "sequential-enumeration": { "rate=0.5": { ...GOAL, mitigated: 0.8991, firstMitigation: 24.9, scraped: 12 } },
  // 90.00% and 90.24% (goal 90%), first after 23.3 and 24.1 s (goal 10 s), held from 30 s; 12 and
  // 10 ids served (89.92% and 90.16%, 25.0 and 23.2 s, 12 on each seed before the forks' fix).
  "scattered-enumeration": { "rate=0.5": { ...GOAL, mitigated: 0.8991, firstMitigation: 24.1, scraped: 12 } },
  "distributed-scraping": {
    // The lowest share: 17.9% and 16.9% mitigated (goal 90%), first after 148.1 and 155.2 s
    // (goal 10 s), held from 290 and 270 s (goal 60 s); 308 and 314 ids served, most of them
    // each session's first read: cookie-keeping residential bots from the first minute. Measured
    // with searches after a bare product counted as unfollowed reads (15.42%/14.26%, 165.4 s and
    // 341/349 ids before); the floors leave a little room for runs that differ by a request.
    // With a session's first product checked for a picture ten seconds later (the cohort stands
    // before the sessions come back): 18.40% and 18.25%, first after 145.6 and 139.5 s, held from
    // 290 and 270 s, 303 and 298 ids. With session.pages_skipped (a session's first search
    // asks for a deep results page of a search it never made; its next product carries it):
    // 22.63% and 247 ids on seed 1 (goal 90%; 18.40% and 303 before); the sweep on 46c5ee8 (with
    // the walk's gaps too): 22.2% pooled, 21.7% on the worse seed, first denial after 9.3 s on the
    // slower (goal 10 s), 252 ids at most. The floors leave room for runs that differ a little.
    // That is the ceiling while a session's first product read passes as a shopper's: the shell's
    // files and those reads let through, 22.8% and 21.9% could be denied, and the ids are the
    // first reads' (scripts/attack-passes.ts, docs/cohorts.md).
    // Since the forks' fix: 22.95% and 21.47%, first denial after 12.1 and 1.7 s, held from 140
    // and 160 s, 250 and 227 ids (22.63% and 21.72%, 9.3 and 2.7 s, 247 and 252 ids before).
    "at=0s duration=whole client=session rate=2": { mitigated: 0.2, firstMitigation: 12.2, takenOver: 0, scraped: 265 },
    // The most ids served, 310 and 314: 40.66% and 40.71%, first after 59.3 and 60.8 s, held from
    // 110 and 80 s, with reads after a search that consumed a bare product carrying the session's
    // count and its cohort (37.27%/37.86% and 375/363 ids with each bare product counted once and
    // nothing after the search judged; 36.07%/36.29% and 393/403 before searches counted).
    // With the first-read check: 41.04% and 41.52%, first after 58.3 and 55.8 s, 304 and 301 ids.
    // Since the forks' fix: 45.02% and 43.84%, first after 5.6 and 1.2 s, 250 and 227 ids (44.15%
    // and 44.18%, 4.2 and 1.5 s, 247 and 252 ids before); the floors, older, still hold.
    "client=session": { mitigated: 0.41, firstMitigation: 59, takenOver: 0, scraped: 306 },
  },
  // 97.2% and 97.4% (97.1% and 97.2% before the forks' fix), the first request denied, held from 20 s.
  "vulnerability-scan": { "sources=20": GOAL },
  // Confounders: the sweep's worst point of each (the base where all points tie).
  "mobile-cgnat": { base: BENIGN },
  "corporate-nat": { base: BENIGN },
  "marketing-spike": { base: BENIGN },
  // The worst: stale saved passwords for 60% of shoppers, 0 of 1,609 and 0 of 1,719 (0 of 1,371
  // and 1 of 2,233 before the forks' fix).
  "password-manager": { "legit.stalePasswordShare=0.6": BENIGN },
  "typos": { base: BENIGN },
  // None of 1,001 and 1,047 since an app reopened within its access token's life stopped
  // refreshing it (1 of 1,002 and 2 of 1,049, token-two-networks' handoff, since the forks' fix;
  // none of 856 and 1 of 1,144 before).
  "app-clients": { base: BENIGN },
  "search-crawler": { base: BENIGN },
};

const SWEEP = `${repoRoot}examples/lab/sweep.yaml`;
/** The seeds of examples/lab/sweep.yaml, checked against the file in each run. */
const SEEDS = [1, 2];

let sweep: SweepFile;
let points: SweepPoint[];
let policy: CompiledPolicy;
beforeAll(async () => {
  sweep = await loadSweepFile(SWEEP);
  points = sweepPoints(sweep, SWEEP);
  policy = await loadPolicy(examplePolicyPath);
});

describe("worst sweep points (examples/lab/sweep.yaml, example policy)", () => {
  it("names a worst point for every family of the sweep file, and each is one of the file's points", () => {
    expect(Object.keys(FLOORS).sort()).toEqual(sweep.families.map((f) => f.name).sort());
    for (const [family, named] of Object.entries(FLOORS)) {
      const labels = points.filter((p) => p.family === family).map((p) => p.label);
      for (const point of Object.keys(named)) expect(labels, family).toContain(point);
    }
  });

  // Two seeds: a floor met on one run of one seed could be luck. The sweep file's seeds, so the
  // figures are those of docs/detection-sweep.md.
  const cases = Object.entries(FLOORS).flatMap(([family, named]) =>
    Object.entries(named).flatMap(([point, floors]) => SEEDS.map((seed) => [family, point, seed, floors] as const)),
  );
  it.each(cases)("%s (%s), seed %i, holds its floors", async (family, label, seed, floors) => {
    expect(sweep.seeds).toEqual(SEEDS);
    const point = points.find((p) => p.family === family && p.label === label);
    if (!point) throw new Error(`examples/lab/sweep.yaml has no point ${label} in family ${family}`);
    const f = await runPoint(point, seed, { policy: examplePolicyPath, compiled: policy });
    const today = measured(f);
    expect.soft(f.legit.requests, today).toBeGreaterThan(300);
    expect.soft(f.legit.frictionShare ?? 0, today).toBeLessThanOrEqual(floors.friction ?? GOAL.friction);
    if (!point.attack) return;
    expect.soft(f.attack.requests, today).toBeGreaterThan(0);
    if (floors.mitigated !== undefined) expect.soft(f.attack.mitigatedShare ?? 0, today).toBeGreaterThanOrEqual(floors.mitigated);
    if (floors.goal !== undefined) expect.soft(f.attack.goal.mitigatedShare ?? 0, today).toBeGreaterThanOrEqual(floors.goal);
    if (floors.firstMitigation !== undefined) expect.soft(f.firstMitigationSeconds ?? Infinity, today).toBeLessThanOrEqual(floors.firstMitigation);
    if (floors.sustained !== undefined) expect.soft(f.sustainedMitigationSeconds ?? Infinity, today).toBeLessThanOrEqual(floors.sustained);
    expect.soft(f.accountsTakenOver, today).toBeLessThanOrEqual(floors.takenOver ?? 0);
    expect.soft(f.resourcesScraped, today).toBeLessThanOrEqual(floors.scraped ?? 0);
  }, 300_000); // a few seconds of CPU per run; far more wall time on a loaded machine. Speed belongs in bench/.
});

/** The measured figures, printed with any failure so updating FLOORS needs no second run. */
function measured(f: ScenarioFigures): string {
  const goal = f.attack.goal.mitigatedShare === null ? "" : ` (${(f.attack.goal.mitigatedShare * 100).toFixed(2)}% of ${f.attack.goal.requests} goal requests)`;
  const share = f.attack.mitigatedShare === null ? "no attack" : `${(f.attack.mitigatedShare * 100).toFixed(2)}% mitigated${goal}`;
  return `measured: ${share}, first ${f.firstMitigationSeconds ?? "never"} s, sustained ${f.sustainedMitigationSeconds ?? "never"} s, ` +
    `${f.accountsTakenOver} taken over, ${f.resourcesScraped} scraped, friction ${f.legit.friction} of ${f.legit.requests} legitimate requests`;
}
