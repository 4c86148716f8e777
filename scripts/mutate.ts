/**
 * `npm run mutate`: StrykerJS over the decision core, one folder or group of files at a time,
 * and a table of the scores (docs/mutation-testing.md).
 *
 *   npm run mutate                               every folder of the core (src/response group by group)
 *   npm run mutate -- ratelimit pipeline         only these folders
 *   npm run mutate -- response                   every group of src/response, one after another
 *   npm run mutate -- response:throttle          one group (see GROUPS)
 *   npm run mutate -- response --force           any other option goes to Stryker
 *   npm run mutate -- --groups                   list the groups and their files and tests
 *
 * Each unit (a folder, or a group of a folder) keeps its own incremental file
 * (reports/mutation/incremental-<unit>.json), so a rerun tests only the mutants whose code or
 * covering tests changed, and its own report (reports/mutation/<unit>.json), from which the
 * table is printed. `--summary` prints the table of the reports already there without running
 * anything.
 *
 * Written by hand: Stryker reports per file, and the per-folder figures and timings are ours.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CORE = ["pipeline", "detection", "policy", "ratelimit", "response"];

/**
 * The tests each folder is judged by: its own, colocated (src/<folder>/*.test.ts) or under
 * test/<folder>/. The pipeline's suites run the example policy through every detector on each
 * request, so with the whole mutate set they covered nearly every mutant of every folder and a
 * surviving mutant cost tens of seconds of tests that were never meant to check it.
 */
function testFilesOf(folder: string): string[] {
  return [`src/${folder}/**/*.test.ts`, ...(existsSync(`${ROOT}test/${folder}`) ? [`test/${folder}/**/*.test.ts`] : [])];
}
const REPORTS = `${ROOT}reports/mutation`;

/** A Stryker run: the files it mutates and the tests each mutant is run against. */
interface Unit {
  name: string;
  mutate: string[];
  tests: string[];
}

/**
 * Folders too big for one run, split into groups of files judged by the unit tests that reach
 * them. The whole of src/response (2,600 mutants) against all its suites was an estimated three
 * hours on the shared machine; each group here is minutes to well under an hour. Every file of a
 * grouped folder must be in exactly one group (checked before running), so a new file is not
 * silently left out.
 */
const GROUPS: Record<string, Record<string, { files: string[]; tests: string[] }>> = {
  response: {
    throttle: { files: ["throttle.ts", "store-reads.ts"], tests: ["throttle.test.ts"] },
    records: { files: ["decision-records.ts", "intel.ts"], tests: ["decision-records.test.ts", "intel.test.ts"] },
    stats: { files: ["decision-stats.ts", "periodic-flush.ts", "document-paths.ts"], tests: ["decision-stats.test.ts", "document-paths.test.ts"] },
    controls: { files: ["controls.ts"], tests: ["controls.test.ts"] },
    "effective-policy": { files: ["effective-policy.ts", "codec.ts", "errors.ts"], tests: ["effective-policy.test.ts"] },
    audit: {
      files: ["audit.ts", "policy-history.ts", "quarantine-record.ts", "relief.ts"],
      tests: ["audit.test.ts", "policy-history.test.ts", "quarantine-record.test.ts", "relief.test.ts"],
    },
    quarantines: { files: ["quarantines.ts"], tests: ["quarantines*.test.ts"] },
    responder: { files: ["responder.ts", "anomalies.ts", "flagged.ts", "events.ts"], tests: ["responder*.test.ts", "anomalies.test.ts", "flagged.test.ts", "events.test.ts"] },
    // The engine is assembled over memory backends by test/support/response.ts's harness.
    engine: { files: ["engine.ts"], tests: ["engine*.test.ts", "responder*.test.ts", "controls.test.ts", "audit.test.ts", "quarantines*.test.ts"] },
    webhooks: { files: ["webhooks.ts"], tests: ["webhooks.test.ts"] },
    "posture-report": { files: ["posture-report.ts"], tests: ["posture-report.test.ts"] },
  },
};

/** A folder's whole run, or its groups' runs. */
function unitsOf(folder: string): Unit[] {
  const groups = GROUPS[folder];
  if (!groups) {
    return [{ name: folder, mutate: [`src/${folder}/**/*.ts`, "!src/**/*.test.ts", "!src/policy/validate-worker.ts"], tests: testFilesOf(folder) }];
  }
  return Object.entries(groups).map(([group, { files, tests }]) => ({
    name: `${folder}-${group}`,
    mutate: files.map((file) => `src/${folder}/${file}`),
    // A group's test files that are not there yet are left out; a glob is kept as it is.
    tests: tests.map((file) => `src/${folder}/${file}`).filter((file) => file.includes("*") || existsSync(`${ROOT}${file}`)),
  }));
}

/** The source files of a grouped folder that no group mutates, or that two groups do. */
function ungrouped(folder: string): string[] {
  const groups = GROUPS[folder];
  if (!groups) return [];
  const listed = Object.values(groups).flatMap(({ files }) => files);
  const sources = readdirSync(`${ROOT}src/${folder}`).filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"));
  return [...sources.filter((file) => !listed.includes(file)), ...listed.filter((file, i) => listed.indexOf(file) !== i || !sources.includes(file))];
}

const args = process.argv.slice(2);
const summaryOnly = args.includes("--summary");
const isUnitArg = (arg: string) => CORE.includes(arg) || (arg.includes(":") && CORE.includes(arg.split(":")[0]!));
const strykerArgs = args.filter((arg) => !isUnitArg(arg) && arg !== "--summary" && arg !== "--groups");
const picked = args.filter(isUnitArg);
const chosen: Unit[] = (picked.length > 0 ? picked : CORE).flatMap((arg) => {
  const [folder, group] = arg.split(":") as [string, string | undefined];
  const units = unitsOf(folder);
  if (group === undefined) return units;
  const unit = units.find((u) => u.name === `${folder}-${group}`);
  if (!unit) {
    process.stderr.write(`no group ${group} in src/${folder}; groups: ${Object.keys(GROUPS[folder] ?? {}).join(", ") || "none"}\n`);
    process.exit(2);
  }
  return [unit];
});

const misplaced = Object.keys(GROUPS).flatMap((folder) => ungrouped(folder).map((file) => `src/${folder}/${file}`));
if (misplaced.length > 0) {
  process.stderr.write(`scripts/mutate.ts GROUPS: each file must be in exactly one group; not so for ${misplaced.join(", ")}\n`);
  process.exit(2);
}

if (args.includes("--groups")) {
  for (const unit of chosen) process.stdout.write(`${unit.name}\n  mutate: ${unit.mutate.join(" ")}\n  tests:  ${unit.tests.join(" ")}\n`);
  process.exit(0);
}

interface Timing {
  wallSeconds: number;
  cpuSeconds?: number;
}
const timings = new Map<string, Timing>();

if (!summaryOnly) {
  mkdirSync(REPORTS, { recursive: true });
  for (const unit of chosen) {
    const cpuBefore = childCpuSeconds();
    const started = performance.now();
    if (unit.tests.length === 0) {
      process.stderr.write(`${unit.name}: no unit tests to judge ${unit.mutate.join(", ")} by; skipped\n`);
      continue;
    }
    // Each unit's own config (stryker.config.json with the unit's report file), so units can run
    // side by side in one checkout without writing over each other's report.
    const config = `reports/mutation/stryker-${unit.name}.json`;
    const base = JSON.parse(readFileSync(`${ROOT}stryker.config.json`, "utf8")) as Record<string, unknown>;
    writeFileSync(`${ROOT}${config}`, JSON.stringify({ ...base, $schema: undefined, jsonReporter: { fileName: `reports/mutation/${unit.name}.json` } }, null, 2));
    const run = spawnSync(
      "npx",
      [
        "stryker",
        "run",
        config,
        "--mutate",
        unit.mutate.join(","),
        "--incrementalFile",
        `reports/mutation/incremental-${unit.name}.json`,
        "--testFiles",
        unit.tests.join(","),
        ...strykerArgs,
      ],
      { cwd: ROOT, stdio: "inherit" },
    );
    const cpuAfter = childCpuSeconds();
    timings.set(unit.name, {
      wallSeconds: (performance.now() - started) / 1000,
      ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuSeconds: cpuAfter - cpuBefore } : {}),
    });
    if (run.status !== 0) {
      process.stderr.write(`stryker failed on ${unit.name} (exit ${run.status ?? run.signal})\n`);
      process.exit(1);
    }
  }
}

process.stdout.write(`\n${table(chosen.map((unit) => unit.name))}\n`);

/** The table of the units (folders or groups), from each one's last report. */
function table(names: string[]): string {
  const rows = ["| run | mutants | killed | timeout | survived | no coverage | static (ignored) | score | wall | CPU |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"];
  const total = { mutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0 };
  for (const folder of names) {
    const file = `${REPORTS}/${folder}.json`;
    if (!existsSync(file)) {
      rows.push(`| ${folder} | not run yet | | | | | | | | |`);
      continue;
    }
    const counts = countsOf(JSON.parse(readFileSync(file, "utf8")) as Report);
    for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += counts[key];
    const timing = timings.get(folder);
    rows.push(
      `| ${folder} | ${counts.mutants} | ${counts.killed} | ${counts.timeout} | ${counts.survived} | ${counts.noCoverage} | ${counts.ignored} | ${score(counts)} | ` +
        `${timing ? minutes(timing.wallSeconds) : "—"} | ${timing?.cpuSeconds !== undefined ? minutes(timing.cpuSeconds) : "—"} |`,
    );
  }
  const wall = [...timings.values()].reduce((sum, t) => sum + t.wallSeconds, 0);
  const reported = names.filter((folder) => existsSync(`${REPORTS}/${folder}.json`)).length;
  const label = reported === names.length ? "**all**" : `**${reported} of ${names.length} runs**`;
  rows.push(`| ${label} | ${total.mutants} | ${total.killed} | ${total.timeout} | ${total.survived} | ${total.noCoverage} | ${total.ignored} | ${score(total)} | ${timings.size > 0 ? minutes(wall) : "—"} | |`);
  return rows.join("\n");
}

interface Report {
  files: Record<string, { mutants: { status: string }[] }>;
}

/** Counts as Stryker's clear-text report gives them; compile and runtime errors are left out of the score, as Stryker does. */
function countsOf(report: Report) {
  const counts = { mutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0 };
  for (const file of Object.values(report.files)) {
    for (const { status } of file.mutants) {
      counts.mutants++;
      if (status === "Killed") counts.killed++;
      else if (status === "Timeout") counts.timeout++;
      else if (status === "Survived") counts.survived++;
      else if (status === "NoCoverage") counts.noCoverage++;
      else if (status === "Ignored") counts.ignored++;
    }
  }
  return counts;
}

function score(c: { killed: number; timeout: number; survived: number; noCoverage: number }): string {
  const valid = c.killed + c.timeout + c.survived + c.noCoverage;
  return valid === 0 ? "—" : `${((100 * (c.killed + c.timeout)) / valid).toFixed(1)}%`;
}

function minutes(seconds: number): string {
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** CPU time of the children this process has waited for (Linux only; undefined elsewhere). */
function childCpuSeconds(): number | undefined {
  try {
    const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    // After the command name: field 16 (cutime) and 17 (cstime) of proc(5) are at 13 and 14.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}
