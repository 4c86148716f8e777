import { readFile } from "node:fs/promises";
import { z } from "zod";
import { parseDuration } from "../../config/duration.js";
import { parseLabYaml, scenarioSetFrom, ScenarioError, validated, type ScenarioSet } from "../simulate/scenario.js";

/**
 * A sweep file: attack families, each a base scenario and the parameters to vary around it.
 * Every point is its own scenario set, replayed on fresh state, so "the first minute" is the
 * first minute after Palisade started. Values are written as in a scenario file; two more:
 *
 *   duration: whole          the attack lasts from its start to the end of the window
 *   attemptsPerSource: n     sources = ⌈rate × duration / n⌉ (each address tries n times)
 *
 * `sweep` varies one parameter at a time around the base; `points` lists combinations. Keys are
 * the attack's fields, or `legit.<field>` and `spike.<field>` for the shoppers around it.
 */
const values = z.array(z.unknown()).min(1);

const family = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "lower-case letters, digits, '-' and '_'"),
    description: z.string().optional(),
    /** How long Palisade observes this family's points (default: the file's). */
    window: z.string().optional(),
    legit: z.record(z.string(), z.unknown()).default({}),
    spike: z.record(z.string(), z.unknown()).optional(),
    /** The attack as in a scenario file; absent for a benign confounder (shoppers only). */
    attack: z.record(z.string(), z.unknown()).optional(),
    sweep: z.record(z.string(), values).default({}),
    points: z.array(z.record(z.string(), z.unknown())).default([]),
  })
  .strict();

const sweepFileSchema = z
  .object({
    /** Every point is run once per seed; the figures pool the runs. */
    seeds: z.array(z.number().int()).min(1).default([1]),
    window: z.string().default("15m"),
    start: z.string().optional(),
    site: z.record(z.string(), z.unknown()).optional(),
    addresses: z.record(z.string(), z.unknown()).optional(),
    legit: z.record(z.string(), z.unknown()).default({}),
    families: z.array(family).min(1),
  })
  .strict();

export type SweepFile = z.output<typeof sweepFileSchema>;
type Family = z.output<typeof family>;
type Overrides = Record<string, unknown>;

/** One sweep point of one family: what was changed from the base, and the scenario set to run. */
export interface SweepPoint {
  family: string;
  /** `base`, or the changed parameters (`rate=20`, `at=0s duration=whole`). */
  label: string;
  set: ScenarioSet;
  /** Whether the family has an attack (a confounder has only shoppers). */
  attack: boolean;
}

export async function loadSweepFile(path: string): Promise<SweepFile> {
  return parseSweepFile(await readFile(path, "utf8"), path);
}

export function parseSweepFile(text: string, source: string): SweepFile {
  return validated(sweepFileSchema, parseLabYaml(text, source), source, "sweep file");
}

/** One family's point by its label, as a script that reproduces a sweep row asks for it. */
export async function loadSweepPoint(path: string, family: string, label: string): Promise<SweepPoint> {
  const point = sweepPoints(await loadSweepFile(path), path, [family]).find((p) => p.label === label);
  if (!point) throw new ScenarioError(`${family} has no point ${label}`);
  return point;
}

/** Every point of every family (or of the named ones), each validated as a scenario set. */
export function sweepPoints(file: SweepFile, source: string, only?: readonly string[]): SweepPoint[] {
  const unknown = (only ?? []).filter((name) => !file.families.some((f) => f.name === name));
  if (unknown.length > 0) throw new ScenarioError(`no family named ${unknown.join(", ")}`);
  const families = only && only.length > 0 ? file.families.filter((f) => only.includes(f.name)) : file.families;
  return families.flatMap((f) => pointsOf(f).map((overrides) => pointOf(file, f, overrides, source)));
}

/** The base, each swept value on its own (but the base's own), then the listed combinations; duplicates once. */
function pointsOf(f: Family): Overrides[] {
  const points: Overrides[] = [{}];
  for (const [key, list] of Object.entries(f.sweep)) {
    for (const value of list) if (JSON.stringify(value) !== JSON.stringify(baseValue(f, key))) points.push({ [key]: value });
  }
  points.push(...f.points);
  const seen = new Set<string>();
  return points.filter((p) => {
    const label = labelOf(p);
    if (seen.has(label)) return false;
    seen.add(label);
    return true;
  });
}

function baseValue(f: Family, key: string): unknown {
  if (key.startsWith("legit.")) return f.legit[key.slice("legit.".length)];
  if (key.startsWith("spike.")) return f.spike?.[key.slice("spike.".length)];
  return f.attack?.[key];
}

function labelOf(overrides: Overrides): string {
  const parts = Object.entries(overrides).map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : String(value)}`);
  return parts.length === 0 ? "base" : parts.join(" ");
}

function pointOf(file: SweepFile, f: Family, overrides: Overrides, source: string): SweepPoint {
  const label = labelOf(overrides);
  const where = `${source}: ${f.name} (${label})`;
  const window = f.window ?? file.window;
  const windowMs = msOf(window, where, "window");
  const legit: Overrides = { ...file.legit, ...f.legit };
  const spike: Overrides | undefined = f.spike ? { ...f.spike } : undefined;
  const attack: Overrides | undefined = f.attack ? { ...f.attack } : undefined;
  for (const [key, value] of Object.entries(overrides)) {
    if (key.startsWith("legit.")) legit[key.slice("legit.".length)] = value;
    else if (key.startsWith("spike.")) {
      if (!spike) throw new ScenarioError(`${where}: ${key} swept, but the family has no spike`);
      spike[key.slice("spike.".length)] = value;
    } else if (!attack) throw new ScenarioError(`${where}: ${key} swept, but the family has no attack`);
    else attack[key] = value;
  }
  if (attack) resolveAttack(attack, windowMs, where);
  const document = {
    seed: file.seeds[0],
    ...(file.start ? { start: file.start } : {}),
    ...(file.site ? { site: file.site } : {}),
    ...(file.addresses ? { addresses: file.addresses } : {}),
    legit,
    scenarios: [{ name: f.name, duration: window, ...(spike ? { spike } : {}), attacks: attack ? [attack] : [] }],
  };
  return { family: f.name, label, set: scenarioSetFrom(document, where), attack: attack !== undefined };
}

/** Turns the sweep's own words (`whole`, `attemptsPerSource`) into scenario fields. */
function resolveAttack(attack: Overrides, windowMs: number, where: string): void {
  const atMs = attack.at === undefined ? 0 : msOf(attack.at, where, "at");
  if (atMs >= windowMs) throw new ScenarioError(`${where}: the attack starts after the window ends`);
  if (attack.duration === "whole") attack.duration = `${windowMs - atMs}ms`;
  const perSource = attack.attemptsPerSource;
  delete attack.attemptsPerSource;
  if (perSource !== undefined) {
    if (typeof perSource !== "number" || !(perSource > 0)) throw new ScenarioError(`${where}: attemptsPerSource must be a positive number`);
    const durationMs = Math.min(msOf(attack.duration, where, "duration"), windowMs - atMs);
    const rate = typeof attack.rate === "number" ? attack.rate : NaN;
    attack.sources = Math.max(1, Math.ceil((rate * durationMs) / 1000 / perSource));
  }
}

function msOf(value: unknown, where: string, field: string): number {
  if (typeof value === "string" && /^0+(ms|s|m|h)?$/.test(value.trim())) return 0;
  const ms = typeof value === "string" ? parseDuration(value) : undefined;
  if (ms === undefined) throw new ScenarioError(`${where}: ${field}: not a duration: ${JSON.stringify(value)}`);
  return ms;
}
