/**
 * Detection at each family's worst point of the full sweep, as a regression test: the point of
 * examples/lab/sweep.yaml where the sweep (docs/detection-sweep.md, "Worst point per family")
 * found the family least mitigated, or a confounder's shoppers most hindered, generated and
 * replayed through the example policy by the code `palisade simulate --sweep` runs, once per
 * seed of the sweep file.
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

type Floors = Omit<DetectionFloors, "falsePositives">;

/** The detection goals (those of regression.test.ts), asserted wherever a family meets them. */
const GOAL = { mitigated: 0.9, firstMitigation: 10, sustained: 60, takenOver: 0, friction: 0.001 } as const satisfies Floors;
/** A confounder has no attack: only the friction goal. */
const BENIGN = { friction: GOAL.friction } as const satisfies Floors;

/**
 * Per family of examples/lab/sweep.yaml: its worst point (the sweep's label for it) and the
 * floors there. Measured on seeds 1 and 2 (the sweep file's) at commit f080ca1, the figures of
 * docs/detection-sweep.md. Where a goal is not met, the floor is the worse seed's figure (shares
 * rounded down, times and friction up, at the fourth decimal or the tenth of a second) and the
 * comment gives both seeds' figures and the goal.
 */
const FLOORS: Record<string, { point: string; floors: Floors }> = {
  // 98.6% and 98.7%, first denial after 3.8–3.9 s, held from 10 s.
  "single-address-burst": { point: "rate=0.3", floors: GOAL },
  // Held only from 130 s on seed 2 (goal 60 s; seed 1 from 0.2 s); 99.3% and 94.1%, first after 0.2–1.9 s.
  "periodic-bursts": { point: 'at=0s client=realistic pattern={"on":"10s","off":"2m"}', floors: { ...GOAL, sustained: 130 } },
  // Far below every goal: 0.08% and 0.14% mitigated (goal 90%), first denial after 35.9 and
  // 89.3 s (goal 10 s), never held (goal 60 s), 1 and 0 accounts taken over (goal 0), friction
  // 13 of 454 and 20 of 869 legitimate requests, 2.86% and 2.30% (goal 0.1%): bots that load
  // the site and keep its cookie, each residential address trying once.
  "distributed-stuffing": {
    point: "at=0s duration=whole attemptsPerSource=1 client=session",
    floors: { mitigated: 0.0008, firstMitigation: 89.3, takenOver: 1, friction: 0.0287 },
  },
  // First denial after 50.2 and 61.3 s (goal 10 s), held from 1,310 and 1,520 s (goal 60 s); 96.4% and 96.2%.
  "low-and-slow": { point: "attemptsPerSource=6", floors: { ...GOAL, firstMitigation: 61.3, sustained: 1520 } },
  // 98.6% and 98.7%, first after 2.8–3.2 s, held from 10 s.
  "password-spray": { point: "rate=0.3", floors: GOAL },
  // Below every goal: 12.45% and 13.91% mitigated (goal 90%), first after 111.6 and 112.4 s
  // (goal 10 s), held from 220 s (goal 60 s), 11 and 9 accounts taken over (goal 0), friction
  // 7 of 454 and 11 of 869, 1.54% and 1.27% (goal 0.1%).
  "credential-checking": {
    point: "hitRate=0.5 client=session",
    floors: { mitigated: 0.1245, firstMitigation: 112.4, sustained: 220, takenOver: 11, friction: 0.0155 },
  },
  // First denial after 9.1 and 11.3 s (goal 10 s), 1 account taken over on each seed (goal 0),
  // friction 1 of 616 (0.16%; goal 0.1%) and 1 of 1,030; 93.5% and 93.3%, held from 20 and 11.3 s.
  "token-replay": { point: "at=0s stolen=jar sources=1", floors: { ...GOAL, firstMitigation: 11.4, takenOver: 1, friction: 0.0017 } },
  // 99.2% on both seeds, first after 2.2–2.3 s, held from 10 s.
  "header-rotation": { point: "rate=0.5", floors: GOAL },
  // 89.92% and 90.98% mitigated (goal 90%), first after 24.2 and 22.5 s (goal 10 s), held from
  // 30 s; 12 and 11 catalogue ids served.
  "sequential-enumeration": { point: "rate=0.5", floors: { ...GOAL, mitigated: 0.8991, firstMitigation: 24.3, scraped: 12 } },
  // 89.92% and 90.16% (goal 90%), first after 25.0 and 23.2 s (goal 10 s), held from 30 s; 12 ids served on each seed.
  "scattered-enumeration": { point: "rate=0.5", floors: { ...GOAL, mitigated: 0.8991, firstMitigation: 25.1, scraped: 12 } },
  // Not detected at all: 0% mitigated on both seeds (goal 90%), never denied (goals 10 s and
  // 60 s), 1,003 and 1,027 catalogue ids served: hundreds of cookie-keeping residential bots.
  "distributed-scraping": { point: "client=session", floors: { mitigated: 0, takenOver: 0, scraped: 1027 } },
  // 97.1% and 97.2%, the first request denied, held from 20 s.
  "vulnerability-scan": { point: "sources=20", floors: GOAL },
  // Confounders: every point without friction in the sweep, so the base is the worst (the sweep's tie rule).
  "mobile-cgnat": { point: "base", floors: BENIGN },
  "corporate-nat": { point: "base", floors: BENIGN },
  "marketing-spike": { point: "base", floors: BENIGN },
  "password-manager": { point: "base", floors: BENIGN },
  "typos": { point: "base", floors: BENIGN },
  // 1 of 1,144 legitimate requests on seed 2 (0.09%), none of 856 on seed 1.
  "app-clients": { point: "base", floors: BENIGN },
  "search-crawler": { point: "base", floors: BENIGN },
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
    for (const [family, { point }] of Object.entries(FLOORS)) {
      expect(points.filter((p) => p.family === family).map((p) => p.label), family).toContain(point);
    }
  });

  // Two seeds: a floor met on one run of one seed could be luck. The sweep file's seeds, so the
  // figures are those of docs/detection-sweep.md.
  const cases = Object.entries(FLOORS).flatMap(([family, entry]) => SEEDS.map((seed) => [family, entry.point, seed, entry.floors] as const));
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
    if (floors.firstMitigation !== undefined) expect.soft(f.firstMitigationSeconds ?? Infinity, today).toBeLessThanOrEqual(floors.firstMitigation);
    if (floors.sustained !== undefined) expect.soft(f.sustainedMitigationSeconds ?? Infinity, today).toBeLessThanOrEqual(floors.sustained);
    expect.soft(f.accountsTakenOver, today).toBeLessThanOrEqual(floors.takenOver ?? 0);
    expect.soft(f.resourcesScraped, today).toBeLessThanOrEqual(floors.scraped ?? 0);
  }, 300_000); // a few seconds of CPU per run; far more wall time on a loaded machine. Speed belongs in bench/.
});

/** The measured figures, printed with any failure so updating FLOORS needs no second run. */
function measured(f: ScenarioFigures): string {
  const share = f.attack.mitigatedShare === null ? "no attack" : `${(f.attack.mitigatedShare * 100).toFixed(2)}% mitigated`;
  return `measured: ${share}, first ${f.firstMitigationSeconds ?? "never"} s, sustained ${f.sustainedMitigationSeconds ?? "never"} s, ` +
    `${f.accountsTakenOver} taken over, ${f.resourcesScraped} scraped, friction ${f.legit.friction} of ${f.legit.requests} legitimate requests`;
}
