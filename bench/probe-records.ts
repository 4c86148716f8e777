/**
 * Reading what bench/loop-probe.ts wrote inside a server (JSON lines in BENCH_LOOP_PROBE_FILE),
 * for the benches that carry it (live-tail.ts, tail.ts), and naming what ran in a stall from a
 * `--cpu-prof` profile of the same process.
 */
import { readFileSync } from "node:fs";
import { round } from "./load.js";

/** An event-loop stall over the probe's threshold; `mono` is its start in µs on the monotonic clock. */
export interface Stall {
  at: number;
  mono: number;
  ms: number;
  cpuMs: number;
  waitMs: number;
}
export interface Gc {
  at: number;
  ms: number;
  kind: string;
}
export interface Second {
  at: number;
  cpuMs: number;
  mainCpuMs: number;
  mainWaitMs: number;
  gcMs: number;
  elu: number;
  heapMiB: number;
  /** Absent in files written before it was recorded. */
  rssMiB?: number;
}

/** The records of one kind (`stall`, `gc`, `second`) in a probe file; none when it is absent. */
export function readProbe<T>(path: string, key: "stall" | "gc" | "second"): T[] {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const out: T[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(`{"${key}"`)) continue;
    out.push((JSON.parse(line) as Record<string, T>)[key]!);
  }
  return out;
}

/**
 * A stall is the server's own when its main thread was on a CPU for most of it (our code or
 * GC); descheduled when it was mostly runnable but waiting; otherwise the thread slept past its
 * timer (the kernel woke it late).
 */
export function stallKind(s: { ms: number; cpuMs: number; waitMs: number }): "own" | "descheduled" | "late wake-up" {
  if (s.cpuMs >= s.waitMs && s.cpuMs >= s.ms / 3) return "own";
  if (s.waitMs > s.cpuMs) return "descheduled";
  return "late wake-up";
}

/** Self time by function of the profile's samples that fall in [startUs, endUs) on the monotonic clock. */
export function profileFunctions(profile: IndexedProfile, startUs: number, endUs: number): { name: string; ms: number }[] {
  const self = new Map<string, number>();
  // The first sample at or after startUs (sample times ascend).
  let low = 0;
  let high = profile.times.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (profile.times[mid]! < startUs) low = mid + 1;
    else high = mid;
  }
  for (let i = low; i < profile.times.length && profile.times[i]! < endUs; i++) {
    const name = profile.names.get(profile.samples[i]!);
    if (!name) continue;
    const ms = ((profile.times[i + 1] ?? profile.times[i]!) - profile.times[i]!) / 1000;
    self.set(name, (self.get(name) ?? 0) + ms);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([name, ms]) => ({ name, ms: round(ms, 1) }));
}

export interface IndexedProfile {
  samples: number[];
  /** Each sample's time, µs on the monotonic clock. */
  times: number[];
  names: Map<number, string>;
}

export function indexProfile(profile: CpuProfile): IndexedProfile {
  const names = new Map<number, string>();
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    names.set(node.id, `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*\/(src|node_modules)\//, "$1/")}:${frame.lineNumber + 1}`);
  }
  const times: number[] = [];
  let t = profile.startTime;
  for (const delta of profile.timeDeltas) times.push((t += delta));
  return { samples: profile.samples, times, names };
}

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
