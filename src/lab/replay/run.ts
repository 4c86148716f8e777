import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import type { CompiledPolicy } from "../../policy/compile.js";
import { HmacPseudonymiser, type Pseudonymiser } from "../../privacy/pseudonymiser.js";
import { ClientTally, type ClientLine } from "./clients.js";
import { loadPolicy } from "../../policy/loader.js";
import { DecisionDiff } from "./compare.js";
import { replay, type ReplayResult } from "./engine.js";
import { readEvents, type Format } from "./formats.js";
import { openInput } from "./input.js";
import { offlineTarget, type OfflineWiring } from "./offline.js";
import { progressBar } from "./progress.js";
import { jsonReport, textReport } from "./report.js";
import type { ReplayTarget } from "./target.js";

export interface ReplayCommand {
  input: string;
  policy: string;
  /** The policy in force today: report which decisions `policy` would change. */
  compare?: string;
  /** host:port of a running Palisade (started with --trust-event-time). */
  target?: string;
  json: boolean;
  format: Format;
  /** Scenario name for imported, unlabelled traffic. */
  scenario: string;
  maxDisorderMs: number;
  examples: number;
  progress: boolean;
  wiring?: OfflineWiring;
  /** Keyed like the server (the configured key); a key for this run when absent. */
  pseudonymiser?: Pseudonymiser;
  /** Where to write one JSON line per client (`--clients`); "" to only return them. */
  clients?: string;
}

export interface ReplayOutput {
  result: ReplayResult;
  text: string;
  /** Per-client figures, when `clients` was asked for. */
  clients?: ClientLine[];
}

/** `palisade replay`: opens the input, builds the targets, replays, and writes the report. */
export async function runReplay(command: ReplayCommand): Promise<ReplayOutput> {
  if (command.target && command.compare) throw new Error("--compare replays two policies offline; it cannot be combined with --target");
  const policy = await loadPolicy(command.policy);
  const pseudonymiser = command.pseudonymiser ?? new HmacPseudonymiser({ current: randomBytes(32) });
  const targets = [await primaryTarget(command, policy, pseudonymiser)];
  const diff = command.compare ? new DecisionDiff(command.examples) : undefined;
  const tally = command.clients !== undefined ? new ClientTally(policy, pseudonymiser) : undefined;
  if (command.compare) targets.push(offlineTarget(await loadPolicy(command.compare), command.wiring, pseudonymiser));
  const input = await openInput(command.input);
  const progress = command.progress ? progressBar(input.size) : undefined;
  const result = await replay(readEvents(input, command.format, command.scenario), {
    targets,
    loginEndpoints: new Set(policy.endpoints.filter((e) => e.authentication).map((e) => e.name)),
    maxDisorderMs: command.maxDisorderMs,
    onEvent: progress && ((done) => progress.update(done, input.bytesRead())),
    onDecided: (event, verdicts) => {
      diff?.record(event, verdicts);
      tally?.record(event.request, verdicts[0]!);
    },
  }).finally(() => progress?.stop());
  if (tally && command.clients) await writeFile(command.clients, tally.text());
  const context = { target: targets[0]!.name, input: command.input === "-" ? "standard input" : command.input };
  const text = command.json
    ? jsonWithDiff(jsonReport(result, context), diff)
    : [textReport(result, context), ...(diff ? ["", diff.text(command.compare!, command.policy)] : [])].join("\n");
  return { result, text, clients: tally?.lines() };
}

async function primaryTarget(command: ReplayCommand, policy: CompiledPolicy, pseudonymiser: Pseudonymiser): Promise<ReplayTarget> {
  if (!command.target) return offlineTarget(policy, command.wiring, pseudonymiser);
  // Loaded lazily: offline replay never needs a gRPC client.
  const { grpcTarget } = await import("./grpc-target.js");
  return grpcTarget(command.target);
}

function jsonWithDiff(report: string, diff: DecisionDiff | undefined): string {
  if (!diff) return report;
  return JSON.stringify({ ...(JSON.parse(report) as object), comparison: diff.summary() }, null, 2);
}
