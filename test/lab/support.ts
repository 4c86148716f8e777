import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { CompiledPolicy } from "../../src/policy/compile.js";
import type { AccessLogRecord } from "../../src/domain/access-log.js";
import { replay, type ReplayResult } from "../../src/lab/replay/engine.js";
import { readEvents, type Format } from "../../src/lab/replay/formats.js";
import { openInput } from "../../src/lab/replay/input.js";
import { defaultWiring, offlineTarget } from "../../src/lab/replay/offline.js";
import type { LabLine } from "../../src/lab/lines.js";
import type { ScenarioFigures } from "../../src/lab/replay/stats.js";
import { parseScenarioSet } from "../../src/lab/simulate/scenario.js";
import { simulate } from "../../src/lab/simulate/simulate.js";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { examplePolicy, examplePolicyPath, policyFrom } from "../support/policies.js";

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

export function generate(yaml: string, seed?: number): LabLine[] {
  return [...simulate(parseScenarioSet(yaml, "test.yaml"), seed)];
}

export interface OfflineRun {
  result: ReplayResult;
  /** What the outcome path was handed, in order. */
  outcomes: AccessLogRecord[];
}

/** Replays a file offline with `policy` (the example by default), recording what the outcome path saw. */
export async function replayFile(file: string, options: { policy?: CompiledPolicy; format?: Format; maxDisorderMs?: number } = {}): Promise<OfflineRun> {
  const policy = options.policy ?? examplePolicy();
  const outcomes: AccessLogRecord[] = [];
  const target = offlineTarget(policy, (deps) => {
    const parts = defaultWiring(deps);
    return { ...parts, outcomes: { record: async (r) => (outcomes.push(r), parts.outcomes?.record(r)) } };
  });
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

/** The bundled example policy with its spec edited, compiled. */
export function examplePolicyWith(edit: (spec: any) => void): CompiledPolicy {
  const document = parse(readFileSync(examplePolicyPath, "utf8"));
  edit(document.spec);
  return policyFrom(document);
}
