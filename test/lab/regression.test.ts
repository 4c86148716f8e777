/**
 * Detection quality as a regression test: the compact scenario set replayed offline through the
 * bundled example policy, over two seeds of the generator, with floors on what is detected and
 * ceilings on what gets through.
 *
 * The floors are the goals of the detection work, not whatever the code last produced: every
 * attack family at least 90% of its requests denied, the first denial within 10 s, held from
 * 60 s on, no account taken over, at most 0.1% of legitimate requests denied. Where a family
 * meets a goal, the goal is asserted; where it does not yet, the figure measured on both seeds
 * is, with the goal named beside it, so that a loss fails and a gain is a visible edit. Counts
 * (accounts taken over, resources scraped) are asserted exactly as measured or better.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ReplayResult } from "../../src/lab/replay/engine.js";
import type { ScenarioFigures } from "../../src/lab/replay/stats.js";
import { loadScenarioSet } from "../../src/lab/simulate/scenario.js";
import { simulate } from "../../src/lab/simulate/simulate.js";
import { repoRoot } from "../support/policies.js";
import { figuresOf, linesText, replayFile, tempFile, type DetectionFloors } from "./support.js";

/**
 * False positives: at most 0.1% of a scenario's legitimate requests denied, unless a scenario
 * says otherwise below. A detector that costs fewer than one legitimate request in a thousand
 * may land; one that costs more must be tuned first.
 */
const MAX_FALSE_POSITIVE_SHARE = 0.001;

/** The detection goals, asserted for every family that meets them. */
const GOAL: DetectionFloors = { mitigated: 0.9, firstMitigation: 10, sustained: 60, takenOver: 0 };

/**
 * Per scenario; measured on seeds 3 and 7 at the commit that set them, last all at once when the
 * lab's forks of forks stopped sharing draws (docs/lab.md), which moved every scenario's traffic.
 */
const FLOORS: Record<string, DetectionFloors> = {
  // No attack: only the false-positive ceiling (measured: none denied; 1 of 6,981 and 0 of 6,942
  // with friction, 1 of 7,228 and 2 of 7,044 before the forks' fix).
  "marketing-spike": {},
  // 99.7% on both seeds, first denial after 0.34–0.43 s, held from then on.
  "stuffing-burst": GOAL,
  // 98.9%, first after 0.7–1.0 s, held after 10 s.
  "stuffing-distributed": GOAL,
  // Below the goal (90%, 10 s, 60 s): 72.3% on seed 3 (first 34.5 s, held after 100 s) and 76.0%
  // on seed 7 (24.7 s, 80 s). Each address tries one or two accounts, so the address's own long
  // memory (ip.slow_stuffing) catches at most its second; the first is caught by its header set's
  // (fingerprint.slow_stuffing: three accounts failed or challenged from sessionless clients
  // sending it, none got in), and a challenged login from a client that kept no session counts as
  // a failure for both. What is left is each header set's first accounts. History: 47.3% on seed 3
  // once campaign-login-challenge kept challenged logins from the password check; 40.4% and 48.0%
  // on the lab's streams after the forks' fix, before the header set's memory. On seed 7, 3 of
  // 1,554 legitimate requests denied (0.19%; ceiling 0.1%): app token grants challenged by
  // campaign-login-challenge while the campaign is called (5 before the header set's memory):
  // new accounts' first password grants in the scenario's first 2 s, before its attack starts
  // (20 s), under stuffing-distributed's call (site.campaign and site.failure_ratio still in force
  // after the 6 min gap); each carries the app's device cookie, fresh, so no device is known.
  "stuffing-low-and-slow": { mitigated: 0.72, firstMitigation: 34.6, sustained: 100, takenOver: 0, falsePositives: 0.002 },
  // 98.3%, first after 1.6–2.5 s, held after 10 s.
  "account-takeover": GOAL,
  // 99.0%, first after 1.5 s, held after 10 s; 12 resources served before that on both seeds.
  "scraping-fast": { ...GOAL, scraped: 12 },
  // 97.8–97.9%, first after 0.8–2.4 s, held after 10 s; 15 resources served on both seeds.
  "scraping-distributed": { ...GOAL, scraped: 15 },
  // 100%, the first request denied. No legitimate request denied on either seed since the lab's
  // app keeps its header set across scenarios (seed 7 before: 1 of 898, an app's refresh blocked
  // by token-foreign-client, its token seen in an earlier scenario from another header set).
  "vulnerability-scan": GOAL,
};

/** Two seeds of the generator: a floor met on one run of one seed could be luck. */
const SEEDS = [3, 7];

const SCENARIOS = `${repoRoot}test/lab/fixtures/regression-scenarios.yaml`;

describe.each(SEEDS)("detection regression (compact scenario set, example policy, seed %i)", (seed) => {
  let result: ReplayResult;
  beforeAll(async () => {
    const set = { ...(await loadScenarioSet(SCENARIOS)), seed };
    ({ result } = await replayFile(tempFile(linesText(simulate(set)), `regression-${seed}.jsonl`)));
  }, 300_000); // half a minute on an idle machine, far more on a loaded one; speed belongs in bench/

  it("replays cleanly", () => {
    expect(result.problems).toEqual([]);
    expect(result.scenarios.map((s) => s.scenario)).toEqual(Object.keys(FLOORS));
  });

  it.each(Object.entries(FLOORS))("%s: false positives stay under their ceiling", (scenario, floors) => {
    const { legit } = figuresOf(result, scenario);
    expect(legit.requests).toBeGreaterThan(500);
    expect(legit.falsePositiveShare, `measured: ${legit.falsePositives} of ${legit.requests} legitimate requests denied`).toBeLessThanOrEqual(
      floors.falsePositives ?? MAX_FALSE_POSITIVE_SHARE,
    );
  });

  it.each(Object.entries(FLOORS).filter(([, floors]) => floors.mitigated !== undefined))("%s: detection does not fall below its floor", (scenario, floors) => {
    const figures = figuresOf(result, scenario);
    const today = measured(figures);
    expect(figures.attack.mitigatedShare ?? 0, today).toBeGreaterThanOrEqual(floors.mitigated!);
    if (floors.firstMitigation !== undefined) expect(figures.firstMitigationSeconds ?? Infinity, today).toBeLessThanOrEqual(floors.firstMitigation);
    if (floors.sustained !== undefined) expect(figures.sustainedMitigationSeconds ?? Infinity, today).toBeLessThanOrEqual(floors.sustained);
    if (floors.takenOver !== undefined) expect(figures.accountsTakenOver, today).toBeLessThanOrEqual(floors.takenOver);
    if (floors.scraped !== undefined) expect(figures.resourcesScraped, today).toBeLessThanOrEqual(floors.scraped);
  });
});

/** The measured figures, printed with any failure so raising a floor needs no second run. */
function measured(f: ScenarioFigures): string {
  const share = ((f.attack.mitigatedShare ?? 0) * 100).toFixed(1);
  return `measured: ${share}% mitigated, first ${f.firstMitigationSeconds ?? "never"} s, sustained ${f.sustainedMitigationSeconds ?? "never"} s, ` +
    `${f.accountsTakenOver} taken over, ${f.resourcesScraped} scraped`;
}
