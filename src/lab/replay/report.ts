import type { Problem } from "./events.js";
import type { ReplayResult } from "./engine.js";
import type { ScenarioFigures } from "./stats.js";

/** Problems listed one by one; the rest are only counted, so a broken file cannot flood the terminal. */
const PROBLEMS_LISTED = 20;

export interface ReportContext {
  target: string;
  input: string;
}

/** The report as JSON (`--json`): every figure, every problem, the speed. */
export function jsonReport(result: ReplayResult, context: ReportContext): string {
  return JSON.stringify(
    {
      target: context.target,
      input: context.input,
      events: result.events,
      elapsedSeconds: round(result.elapsedMs / 1000, 3),
      eventsPerSecond: Math.round(eventsPerSecond(result)),
      scenarios: result.scenarios,
      problems: result.problems,
      notes: result.notes,
    },
    null,
    2,
  );
}

/** The report as a table for people. */
export function textReport(result: ReplayResult, context: ReportContext): string {
  const rows = result.scenarios.map(row);
  const header = ["scenario", "requests", "attack", "mitigated", "legit", "false pos.", "1st mitig.", "sustained", "taken over", "scraped"];
  const lines = [
    `replayed ${context.input} through ${context.target}`,
    "",
    ...table([header, ...rows]),
    "",
    `${result.events.checks} checks and ${result.events.accessLogs} access-log entries in ${(result.elapsedMs / 1000).toFixed(2)} s ` +
      `(${Math.round(eventsPerSecond(result)).toLocaleString("en-US")} events/s)`,
    ...problemLines(result.problems),
    ...result.notes.map((note) => `note: ${note}`),
  ];
  return lines.join("\n");
}

function row(figures: ScenarioFigures): string[] {
  const { attack, legit, unlabelled } = figures;
  const labelled = attack.requests + legit.requests > 0;
  return [
    figures.scenario,
    String(figures.requests),
    labelled ? String(attack.requests) : "-",
    labelled ? percent(attack.mitigatedShare) : `${percent(unlabelled.requests ? unlabelled.denied / unlabelled.requests : null)} denied`,
    labelled ? String(legit.requests) : "-",
    labelled ? `${legit.falsePositives} (${percent(legit.falsePositiveShare)})` : "-",
    attack.requests ? seconds(figures.firstMitigationSeconds) : "-",
    attack.requests ? seconds(figures.sustainedMitigationSeconds) : "-",
    attack.requests ? String(figures.accountsTakenOver) : "-",
    attack.byKind.scraping ? String(figures.resourcesScraped) : "-",
  ];
}

function problemLines(problems: Problem[]): string[] {
  if (problems.length === 0) return [];
  const skipped = problems.filter((p) => p.skipped).length;
  const lines = [`${problems.length} input problems; ${skipped > 0 ? `${skipped} lines skipped` : "nothing skipped"}:`];
  for (const p of problems.slice(0, PROBLEMS_LISTED)) lines.push(`  ${p.line > 0 ? `line ${p.line}` : "input"}: ${p.kind}: ${p.message}`);
  if (problems.length > PROBLEMS_LISTED) lines.push(`  … and ${problems.length - PROBLEMS_LISTED} more (all of them with --json)`);
  return lines;
}

export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((r) => (r[column] ?? "").length)));
  const format = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd();
  return [format(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(format)];
}

function eventsPerSecond(result: ReplayResult): number {
  const events = result.events.checks + result.events.accessLogs;
  return result.elapsedMs > 0 ? events / (result.elapsedMs / 1000) : 0;
}

function percent(share: number | null): string {
  return share === null ? "-" : `${(share * 100).toFixed(1)}%`;
}

function seconds(value: number | null): string {
  return value === null ? "never" : `${value.toFixed(1)} s`;
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}
