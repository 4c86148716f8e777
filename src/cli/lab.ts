import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { finished } from "node:stream/promises";
import { promisify } from "node:util";
import { Command, Option } from "commander";
import { parseDuration } from "../config/duration.js";
import { FORMATS, type Format } from "../lab/replay/formats.js";
import { runReplay } from "../lab/replay/run.js";
import { loadScenarioSet, selectScenarios } from "../lab/simulate/scenario.js";
import { simulate } from "../lab/simulate/simulate.js";
import { writeLines } from "../lab/simulate/write.js";
import { configuredPseudonymiser, PSEUDONYM_KEY_HELP } from "./pseudonyms.js";
import { sweepMarkdown, sweepText } from "../lab/sweep/report.js";
import { runSweep, type SweepRow } from "../lab/sweep/run.js";
import { loadSweepFile, sweepPoints, type SweepPoint } from "../lab/sweep/sweep-file.js";

/** `palisade simulate` and `palisade replay`: the abuse-scenario lab (issue 3). */
export function registerLabCommands(program: Command, examples: { policy: string; scenarios: string; sweep: string }): void {
  program
    .command("simulate")
    .description("Generate labelled storefront traffic (legitimate shoppers and attacks) as JSON lines, or sweep attack families")
    .option("--scenarios <file>", "scenario set, YAML or JSON", examples.scenarios)
    .option("--seed <n>", "random seed (default: the file's); the same seed gives the same bytes", integer)
    .option("--only <names>", "comma-separated scenario names to generate (family names with --sweep)", list)
    .option("--output <file>", "write to a file instead of standard output")
    .option("--print-scenarios", "print the scenario file to start editing from, and exit")
    .option("--sweep [file]", `run every attack family's parameter sweep through the policy and print the figures (default ${path.basename(examples.sweep)})`)
    .option("--policy <path>", "policy the sweep decides with", examples.policy)
    .option("--seeds <list>", "with --sweep: comma-separated seeds (default: the sweep file's)", (value: string) => list(value).map(integer))
    .option("--markdown <file>", "with --sweep: also write the table as Markdown (docs/detection-sweep.md)")
    .option("--json", "with --sweep: print the rows as JSON")
    .option("--jobs <n>", "with --sweep: run the families in this many processes", integer, 1)
    .option("--replicas <n>", "with --sweep: decide with this many replicas sharing one in-memory store, Checks and access logs handed to each in turn", integer, 1)
    .action(async (flags: SimulateFlags) => {
      if (flags.sweep !== undefined) {
        await sweep(typeof flags.sweep === "string" ? flags.sweep : examples.sweep, flags);
        return;
      }
      if (flags.printScenarios) {
        process.stdout.write(await readFile(flags.scenarios, "utf8"));
        return;
      }
      const set = selectScenarios(await loadScenarioSet(flags.scenarios), flags.only);
      const out = flags.output ? createWriteStream(flags.output) : process.stdout;
      await writeLines(simulate(set, flags.seed ?? set.seed), out);
      if (flags.output) {
        out.end();
        await finished(out);
      }
    });

  program
    .command("replay")
    .description("Replay traffic through the decision pipeline on the events' own clock and report detection per scenario")
    .argument("<file>", "lab JSON lines, an Envoy JSON access log or an Apache log (gzip too); - for standard input")
    .option("--policy <path>", "policy to decide with", examples.policy)
    .option("--compare <current>", "also replay with this (current) policy and show which decisions --policy changes")
    .option("--target <host:port>", "replay against a running palisade serve --trust-event-time over gRPC")
    .option("--json", "print the report as JSON")
    .addOption(new Option("--format <format>", "input format").choices([...FORMATS]).default("auto"))
    .option("--scenario <name>", "scenario name for imported (unlabelled) traffic", "")
    .option("--max-disorder <duration>", "skip events this much older than the newest seen", duration, 60_000)
    .option("--examples <n>", "examples listed per changed decision with --compare", integer, 5)
    .option("--no-progress", "no progress bar (it is drawn on standard error, and only on a terminal)")
    .option("--clients <file>", "write one JSON line per client (IP pseudonym, requests, mitigated, first mitigated, actions)")
    .option("--settings <file>", "YAML settings file, for the pseudonymisation key [PALISADE_SETTINGS]")
    .addHelpText("after", `\n${PSEUDONYM_KEY_HELP}`)
    .action(async (file: string, flags: ReplayFlags) => {
      // The configured key, so pseudonyms match the server's; a key for this run when none is set.
      const { pseudonymiser } = await configuredPseudonymiser(flags.settings, process.env);
      const { text } = await runReplay({
        input: file,
        policy: flags.policy,
        compare: flags.compare,
        target: flags.target,
        json: flags.json ?? false,
        format: flags.format,
        scenario: flags.scenario || (file === "-" ? "stdin" : path.basename(file)),
        maxDisorderMs: flags.maxDisorder,
        examples: flags.examples,
        progress: flags.progress,
        clients: flags.clients,
        pseudonymiser,
      });
      process.stdout.write(`${text}\n`);
    });
}

interface SimulateFlags {
  scenarios: string;
  seed?: number;
  only?: string[];
  output?: string;
  printScenarios?: boolean;
  sweep?: string | true;
  policy: string;
  seeds?: number[];
  markdown?: string;
  json?: boolean;
  jobs: number;
  replicas: number;
}

/** `simulate --sweep`: every family's points, each on fresh state, with progress on standard error. */
async function sweep(file: string, flags: SimulateFlags): Promise<void> {
  const sweepFile = await loadSweepFile(file);
  const points = sweepPoints(sweepFile, file, flags.only);
  const seeds = flags.seeds ?? sweepFile.seeds;
  const rows = flags.jobs > 1 ? await sweepInProcesses(file, points, seeds, flags) : await runSweep(points, {
    policy: flags.policy,
    seeds,
    replicas: flags.replicas,
    onRun: (point, seed, index, total) => process.stderr.write(`[${index + 1}/${total}] ${point.family} ${point.label} seed ${seed}\n`),
  });
  process.stdout.write(`${flags.json ? JSON.stringify(rows, null, 2) : sweepText(rows)}\n`);
  if (flags.markdown) {
    const args = process.argv.slice(2).filter((arg) => !arg.startsWith("--markdown") && arg !== flags.markdown);
    await writeFile(flags.markdown, sweepMarkdown(rows, { command: `palisade ${args.join(" ")}`, policy: path.basename(flags.policy), replicas: flags.replicas }));
  }
}

/**
 * The families shared out over `jobs` copies of this command (each prints its rows as JSON),
 * the rows put back in the file's order. Runs are independent, so the figures are the same.
 */
async function sweepInProcesses(file: string, points: readonly SweepPoint[], seeds: readonly number[], flags: SimulateFlags): Promise<SweepRow[]> {
  const families = [...new Set(points.map((p) => p.family))];
  const groups = Array.from({ length: Math.min(flags.jobs, families.length) }, (_, job) => families.filter((_, i) => i % flags.jobs === job));
  const outputs = await Promise.all(
    groups.map(async (group) => {
      const args = [...process.execArgv, process.argv[1]!, "simulate", "--sweep", file, "--policy", flags.policy, "--seeds", seeds.join(","), "--replicas", String(flags.replicas), "--only", group.join(","), "--json"];
      const { stdout } = await execFileAsync(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 });
      return JSON.parse(stdout) as SweepRow[];
    }),
  );
  const order = (row: SweepRow) => points.findIndex((p) => p.family === row.family && p.label === row.point);
  return outputs.flat().sort((a, b) => order(a) - order(b));
}

interface ReplayFlags {
  policy: string;
  compare?: string;
  target?: string;
  json?: boolean;
  format: Format;
  scenario: string;
  maxDisorder: number;
  examples: number;
  progress: boolean;
  clients?: string;
  settings?: string;
}

const execFileAsync = promisify(execFile);

function integer(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new Error(`not an integer: ${value}`);
  return number;
}

function list(value: string): string[] {
  return value.split(",").map((item) => item.trim()).filter(Boolean);
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new Error(`not a duration: ${value} (use e.g. 30s, 5m)`);
  return ms;
}
