import { Counter, Histogram, type Registry } from "prom-client";
import type { ChallengeObserver } from "../challenge/challenges.js";

/** From a trivial solve to the widget's 90 s give-up time. */
const SOLVE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 90];

/** Metrics of the built-in challenge; labels are levels, reasons and outcomes, never identifiers. */
export function createChallengeMetrics(registry: Registry): ChallengeObserver {
  const registers = [registry];
  const issued = new Counter({ name: "palisade_challenges_issued_total", help: "Proof-of-work challenges issued with a denial, by level", labelNames: ["level"], registers });
  const solved = new Counter({ name: "palisade_challenges_solved_total", help: "Challenges solved and exchanged for a pass, by level", labelNames: ["level"], registers });
  const failed = new Counter({
    name: "palisade_challenges_failed_total",
    help: "Solutions refused, by reason (malformed, forged, expired, wrong_answer, replayed, foreign_network)",
    labelNames: ["reason"],
    registers,
  });
  const solveTime = new Histogram({
    name: "palisade_challenge_solve_seconds",
    help: "Solve time the client's widget reported, by level",
    labelNames: ["level"],
    buckets: SOLVE_BUCKETS,
    registers,
  });
  const passes = new Counter({
    name: "palisade_challenge_passes_total",
    help: "Pass tokens checked at Check time, by outcome (valid, expired, forged, other_client, foreign_network, other_endpoint)",
    labelNames: ["outcome"],
    registers,
  });
  return {
    issued: (level) => issued.inc({ level: String(level) }),
    solved: ({ level, solveMs }) => {
      solved.inc({ level: String(level) });
      if (solveMs !== undefined) solveTime.observe({ level: String(level) }, solveMs / 1000);
    },
    failed: ({ reason }) => failed.inc({ reason }),
    pass: (outcome) => passes.inc({ outcome }),
  };
}
