import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AccessLogRecord } from "../../src/domain/access-log.js";
import { replay, type ReplayResult } from "../../src/lab/replay/engine.js";
import { readEvents, type Format } from "../../src/lab/replay/formats.js";
import { openInput } from "../../src/lab/replay/input.js";
import { offlineTarget } from "../../src/lab/replay/offline.js";
import { loadPolicy } from "../../src/policy/loader.js";
import type { LabLine } from "../../src/lab/lines.js";
import type { ScenarioFigures } from "../../src/lab/replay/stats.js";
import { parseScenarioSet } from "../../src/lab/simulate/scenario.js";
import { simulate } from "../../src/lab/simulate/simulate.js";
import { readFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import { examplePolicyPath } from "../support/policies.js";

const dir = mkdtempSync(path.join(tmpdir(), "palisade-lab-"));
let files = 0;

/** Writes text (or bytes) to a fresh temporary file and returns its path. */
export function tempFile(content: string | Buffer, name = `input-${++files}.jsonl`): string {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

export function linesText(lines: Iterable<LabLine>): string {
  return [...lines].map((line) => `${JSON.stringify(line)}\n`).join("");
}

/** Four minutes of shoppers with credential stuffing, scraping and a vulnerability scan. */
export const MIXED = `
site: { users: 300, products: 400 }
legit: { sessionsPerMinute: 30 }
scenarios:
  - name: mixed
    duration: 4m
    attacks:
      - { kind: credential_stuffing, at: 20s, duration: 2m, rate: 4, hitRate: 0.2, knownUserShare: 1, sources: 40 }
      - { kind: scraping, at: 40s, duration: 2m, rate: 5 }
      - { kind: vulnerability_scan, at: 60s, duration: 1m, rate: 3 }
`;

export function generate(yaml: string, seed?: number): LabLine[] {
  return [...simulate(parseScenarioSet(yaml, "test.yaml"), seed)];
}

export interface OfflineRun {
  result: ReplayResult;
  /** What the outcome path was handed, in order. */
  outcomes: AccessLogRecord[];
}

/** Replays a file offline with the policy at `policy` (the example by default), recording what the outcome path saw. */
export async function replayFile(file: string, options: { policy?: string; format?: Format; maxDisorderMs?: number } = {}): Promise<OfflineRun> {
  const policyPath = options.policy ?? examplePolicyPath;
  const policy = await loadPolicy(policyPath);
  const outcomes: AccessLogRecord[] = [];
  const target = await offlineTarget(policyPath, { onAccessLog: (record) => outcomes.push(record) });
  const result = await replay(readEvents(await openInput(file), options.format ?? "auto", "imported"), {
    targets: [target],
    loginEndpoints: new Set(policy.endpoints.filter((e) => e.authentication).map((e) => e.name)),
    maxDisorderMs: options.maxDisorderMs ?? 60_000,
  });
  return { result, outcomes };
}

export function figuresOf(result: ReplayResult, scenario: string): ScenarioFigures {
  const figures = result.scenarios.find((s) => s.scenario === scenario);
  if (!figures) throw new Error(`no scenario ${scenario} in ${result.scenarios.map((s) => s.scenario).join(", ")}`);
  return figures;
}

/** The bundled example policy with its spec edited, written to a temporary file; returns its path. */
export function examplePolicyWith(edit: (spec: any) => void): string {
  const document = parse(readFileSync(examplePolicyPath, "utf8"));
  edit(document.spec);
  return tempFile(stringify(document), `policy-${++files}.yaml`);
}

/**
 * Floors of a detection regression test (regression.test.ts, worst-points.test.ts): what an
 * attack scenario must at least reach and its shoppers at most suffer, per seed.
 */
export interface DetectionFloors {
  /** Share of attack requests denied: at least this. */
  mitigated?: number;
  /** Seconds from the first attack request to the first denial: at most this. */
  firstMitigation?: number;
  /** Seconds to mitigation that holds to the end of the attack: at most this. */
  sustained?: number;
  /** Accounts taken over: at most this. */
  takenOver?: number;
  /** Catalogue resources served to scrapers: at most this. */
  scraped?: number;
  /** Share of legitimate requests denied: at most this. */
  falsePositives?: number;
  /** Share of legitimate requests given anything but allow (friction, as the sweep counts it): at most this. */
  friction?: number;
}
