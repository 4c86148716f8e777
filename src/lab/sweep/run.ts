import type { CompiledPolicy } from "../../policy/compile.js";
import { loadPolicy } from "../../policy/loader.js";
import type { LabLine } from "../lines.js";
import { replay, type ReplayOptions } from "../replay/engine.js";
import type { Problem, ReplayEvent } from "../replay/events.js";
import { offlineTarget } from "../replay/offline.js";
import { parseLabLine } from "../replay/parse-lab.js";
import type { ScenarioFigures } from "../replay/stats.js";
import type { ReplayTarget } from "../replay/target.js";
import { simulate } from "../simulate/simulate.js";
import type { SweepPoint } from "./sweep-file.js";

/** One sweep point's figures, pooled over its seeds. Shares in 0..1, times in seconds. */
export interface SweepRow {
  family: string;
  point: string;
  attack: boolean;
  seeds: number[];
  attackRequests: number;
  mitigated: number;
  /** Pooled over the seeds. */
  mitigatedShare: number | null;
  /** The attack's goal requests (logins, or catalogue reads for scraping; GoalEndpoints), pooled; its cover traffic left out. */
  goalRequests: number;
  goalMitigated: number;
  /** Null when the family's attack has no goal requests counted (a scan, token replay). */
  goalMitigatedShare: number | null;
  /** The lowest of the seeds' shares: what an unlucky run gives. */
  worstSeedShare: number | null;
  /** The most attack requests any seed let through before its first denial. */
  requestsBeforeFirstMitigation: number;
  /** The slowest seed; null when some seed was never mitigated. */
  firstMitigationSeconds: number | null;
  sustainedFromSeconds: number | null;
  /** Per run, the most accounts taken over (distinct subjects an attacker signed in as). */
  accountsTakenOver: number;
  /** Per run, the most catalogue ids served to scrapers. */
  idsScraped: number;
  legitRequests: number;
  /** Legitimate requests given any action but allow. */
  legitFriction: number;
  /** Of those, requests of shoppers whose account never signed in before (where the lab models returning accounts). */
  newAccountFriction: number;
  frictionShare: number | null;
}

export interface SweepOptions {
  /** The policy file every run decides with. */
  policy: string;
  seeds: readonly number[];
  /** Where each run goes (a live server over gRPC, say); a fresh offline target when absent. */
  target?: () => ReplayTarget;
  /** The offline target's replicas sharing one store (see OfflineOptions.replicas); 1 when absent. */
  replicas?: number;
  /** Told when each run starts (for progress on standard error). */
  onRun?: (point: SweepPoint, seed: number, index: number, total: number) => void;
}

/** Runs every point once per seed, each on fresh state, and pools each point's runs. */
export async function runSweep(points: readonly SweepPoint[], options: SweepOptions): Promise<SweepRow[]> {
  const rows: SweepRow[] = [];
  const total = points.length * options.seeds.length;
  let index = 0;
  const policy = await loadPolicy(options.policy);
  for (const point of points) {
    const runs: ScenarioFigures[] = [];
    for (const seed of options.seeds) {
      options.onRun?.(point, seed, index++, total);
      runs.push(await runPoint(point, seed, { ...options, compiled: policy }));
    }
    rows.push(pool(point, options.seeds, runs));
  }
  return rows;
}

/** One point, one seed: generated in this process and replayed through a fresh target. */
export async function runPoint(
  point: SweepPoint,
  seed: number,
  options: Pick<SweepOptions, "policy" | "target" | "replicas"> & Pick<ReplayOptions, "onDecided"> & { compiled: CompiledPolicy },
): Promise<ScenarioFigures> {
  const policy = options.compiled;
  const result = await replay(labEvents(simulate(point.set, seed)), {
    targets: [options.target?.() ?? (await offlineTarget(options.policy, { replicas: options.replicas }))],
    loginEndpoints: new Set(policy.endpoints.filter((e) => e.authentication).map((e) => e.name)),
    resourceEndpoints: new Set(policy.endpoints.filter((e) => e.resourceSegment !== undefined).map((e) => e.name)),
    maxDisorderMs: 60_000,
    onDecided: options.onDecided,
  });
  const trouble = result.problems.find((p) => p.skipped || p.kind !== "unmatched");
  if (trouble) throw new Error(`${point.family} (${point.label}), seed ${seed}: generated traffic did not replay cleanly: ${trouble.message}`);
  const figures = result.scenarios.find((s) => s.scenario === point.family);
  if (!figures) throw new Error(`${point.family} (${point.label}), seed ${seed}: no traffic generated`);
  return figures;
}

/** Generated lines as replay events, through the same parser a lab file goes through. */
export async function* labEvents(lines: Iterable<LabLine>): AsyncGenerator<ReplayEvent | Problem> {
  let number = 0;
  for (const line of lines) {
    const parsed = parseLabLine({ number: ++number, text: JSON.stringify(line), terminated: true });
    if (parsed === undefined) continue;
    if (Array.isArray(parsed)) yield* parsed;
    else yield parsed;
  }
}

function pool(point: SweepPoint, seeds: readonly number[], runs: ScenarioFigures[]): SweepRow {
  const sum = (pick: (f: ScenarioFigures) => number) => runs.reduce((total, f) => total + pick(f), 0);
  const slowest = (pick: (f: ScenarioFigures) => number | null) =>
    runs.some((f) => pick(f) === null) ? null : Math.max(...runs.map((f) => pick(f)!));
  const attackRequests = sum((f) => f.attack.requests);
  const mitigated = sum((f) => f.attack.mitigated);
  const goalRequests = sum((f) => f.attack.goal.requests);
  const goalMitigated = sum((f) => f.attack.goal.mitigated);
  const legitRequests = sum((f) => f.legit.requests);
  const legitFriction = sum((f) => f.legit.friction);
  const newAccountFriction = sum((f) => f.legit.newAccounts.friction);
  const shares = runs.map((f) => f.attack.mitigatedShare).filter((s): s is number => s !== null);
  return {
    family: point.family,
    point: point.label,
    attack: point.attack,
    seeds: [...seeds],
    attackRequests,
    mitigated,
    mitigatedShare: attackRequests === 0 ? null : mitigated / attackRequests,
    goalRequests,
    goalMitigated,
    goalMitigatedShare: goalRequests === 0 ? null : goalMitigated / goalRequests,
    worstSeedShare: shares.length === 0 ? null : Math.min(...shares),
    requestsBeforeFirstMitigation: Math.max(...runs.map((f) => f.requestsBeforeFirstMitigation)),
    firstMitigationSeconds: slowest((f) => f.firstMitigationSeconds),
    sustainedFromSeconds: slowest((f) => f.sustainedMitigationSeconds),
    accountsTakenOver: Math.max(...runs.map((f) => f.accountsTakenOver)),
    idsScraped: Math.max(...runs.map((f) => f.resourcesScraped)),
    legitRequests,
    legitFriction,
    newAccountFriction,
    frictionShare: legitRequests === 0 ? null : legitFriction / legitRequests,
  };
}

