/**
 * `npm run mutate`: StrykerJS over the decision core, one folder at a time, and a table of the
 * scores per folder (docs/mutation-testing.md).
 *
 *   npm run mutate                         every folder of the core
 *   npm run mutate -- ratelimit pipeline   only these folders
 *   npm run mutate -- response --force     any option after the folders goes to Stryker
 *
 * Each folder keeps its own incremental file (reports/mutation/incremental-<folder>.json), so
 * a rerun tests only the mutants whose code or covering tests changed, and its own report
 * (reports/mutation/<folder>.json), from which the table is printed. `--summary` prints the
 * table of the reports already there without running anything.
 *
 * Written by hand: Stryker reports per file, and the per-folder figures and timings are ours.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
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

const args = process.argv.slice(2);
const summaryOnly = args.includes("--summary");
const folders = args.filter((arg) => CORE.includes(arg));
const strykerArgs = args.filter((arg) => !CORE.includes(arg) && arg !== "--summary");
const chosen = folders.length > 0 ? folders : CORE;

interface Timing {
  wallSeconds: number;
  cpuSeconds?: number;
}
const timings = new Map<string, Timing>();

if (!summaryOnly) {
  mkdirSync(REPORTS, { recursive: true });
  for (const folder of chosen) {
    const cpuBefore = childCpuSeconds();
    const started = performance.now();
    const run = spawnSync(
      "npx",
      [
        "stryker",
        "run",
        "--mutate",
        `src/${folder}/**/*.ts,!src/**/*.test.ts,!src/policy/validate-worker.ts`,
        "--incrementalFile",
        `reports/mutation/incremental-${folder}.json`,
        ...(testFilesOf(folder).length > 0 ? ["--testFiles", testFilesOf(folder).join(",")] : []),
        ...strykerArgs,
      ],
      { cwd: ROOT, stdio: "inherit" },
    );
    const cpuAfter = childCpuSeconds();
    timings.set(folder, {
      wallSeconds: (performance.now() - started) / 1000,
      ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuSeconds: cpuAfter - cpuBefore } : {}),
    });
    if (run.status !== 0) {
      process.stderr.write(`stryker failed on src/${folder} (exit ${run.status ?? run.signal})\n`);
      process.exit(1);
    }
    copyFileSync(`${REPORTS}/mutation.json`, `${REPORTS}/${folder}.json`);
  }
}

process.stdout.write(`\n${table(chosen)}\n`);

/** The per-folder table, from each folder's last report. */
function table(names: string[]): string {
  const rows = ["| folder | mutants | killed | timeout | survived | no coverage | static (ignored) | score | wall | CPU |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"];
  const total = { mutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0 };
  for (const folder of names) {
    const file = `${REPORTS}/${folder}.json`;
    if (!existsSync(file)) {
      rows.push(`| src/${folder} | not run yet | | | | | | | | |`);
      continue;
    }
    const counts = countsOf(JSON.parse(readFileSync(file, "utf8")) as Report);
    for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += counts[key];
    const timing = timings.get(folder);
    rows.push(
      `| src/${folder} | ${counts.mutants} | ${counts.killed} | ${counts.timeout} | ${counts.survived} | ${counts.noCoverage} | ${counts.ignored} | ${score(counts)} | ` +
        `${timing ? minutes(timing.wallSeconds) : "—"} | ${timing?.cpuSeconds !== undefined ? minutes(timing.cpuSeconds) : "—"} |`,
    );
  }
  const wall = [...timings.values()].reduce((sum, t) => sum + t.wallSeconds, 0);
  const reported = names.filter((folder) => existsSync(`${REPORTS}/${folder}.json`)).length;
  const label = reported === names.length ? "**all**" : `**${reported} of ${names.length} folders**`;
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
