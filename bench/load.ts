import { processCpuSeconds } from "./pin.js";

/** Closed-loop load: `concurrency` callers each send a request as soon as their last one answered. */
export interface LoadResult {
  requests: number;
  errors: number;
  /** Error messages seen, with their counts (the first few kinds). */
  errorKinds: Record<string, number>;
  seconds: number;
  perSecond: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /**
   * CPU time per request in microseconds over the measured window, by process: the server's
   * own figures (user + system), Redis's where it took part, and the load generator's.
   */
  cpuMicrosPerRequest: Record<string, number>;
  /** CPU seconds per wall second of each process: 1 means it had its core to itself and used it all. */
  cpuShare: Record<string, number>;
}

export interface LoadOptions {
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
  /** Processes whose CPU time is measured, by name (the load generator is always measured). */
  processes?: Record<string, number>;
}

export async function closedLoop(call: (index: number) => Promise<unknown>, options: LoadOptions): Promise<LoadResult> {
  await runFor(call, options.concurrency, options.warmupSeconds * 1000, () => {});
  const latencies: number[] = [];
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  const processes = options.processes ?? {};
  const cpuBefore = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, processCpuSeconds(pid)]));
  const clientBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await runFor(call, options.concurrency, options.seconds * 1000, (ns, failure) => {
    latencies.push(ns / 1e6);
    if (failure === undefined) return;
    errors += 1;
    if (failure in errorKinds || Object.keys(errorKinds).length < 5) errorKinds[failure] = (errorKinds[failure] ?? 0) + 1;
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const client = process.cpuUsage(clientBefore);
  const cpu: Record<string, number> = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, processCpuSeconds(pid) - cpuBefore[name]!]));
  cpu.loadGenerator = (client.user + client.system) / 1e6;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const requests = Math.max(1, latencies.length);
  return {
    requests: latencies.length,
    errors,
    errorKinds,
    seconds: round(seconds),
    perSecond: Math.round(latencies.length / seconds),
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: round(latencies.at(-1) ?? 0),
    cpuMicrosPerRequest: Object.fromEntries(Object.entries(cpu).map(([name, s]) => [name, Math.round((s * 1e6) / requests)])),
    cpuShare: Object.fromEntries(Object.entries(cpu).map(([name, s]) => [name, round(s / seconds, 2)])),
  };
}

export interface InterleavedOptions {
  concurrency: number;
  rounds: number;
  secondsPerRound: number;
  /** Each server is loaded at least this long before the measured windows… */
  warmupSeconds: number;
  /**
   * …and until it has answered this many requests (or `warmupMaxSeconds` passed). A Node server
   * keeps compiling its hot code for thousands of requests: measured after a fixed two seconds on
   * a slow machine, CPU per request was mostly the JIT's (1,431 µs per Check in the first 475
   * Checks of a fresh Palisade, ~400 µs after 10,000, on the same loaded machine).
   */
  warmupRequests?: number;
  warmupMaxSeconds?: number;
  /** Told when every server is warm, before the first measured window (benches that read a probe's records from then on); awaited. */
  onWarm?: () => unknown;
}

export interface Target {
  name: string;
  call: (index: number) => Promise<unknown>;
  /** Processes whose CPU time is measured while this target is loaded, by name. */
  processes: Record<string, number>;
}

/**
 * Several servers measured in alternating windows (A, B, C, A, B, C…) rather than one after
 * the other: on a shared machine the background load drifts, and interleaving spreads that
 * drift over every server alike, so their ratios hold better than their absolute figures.
 */
export async function interleaved(targets: readonly Target[], options: InterleavedOptions): Promise<{ name: string; result: LoadResult }[]> {
  await warmUp(targets, options);
  await options.onWarm?.();
  const state = targets.map(() => ({ latencies: [] as number[], errors: 0, errorKinds: {} as Record<string, number>, seconds: 0, cpu: {} as Record<string, number> }));
  for (let round = 0; round < options.rounds; round++) {
    for (const [i, target] of targets.entries()) {
      const s = state[i]!;
      const cpuBefore = Object.fromEntries(Object.entries(target.processes).map(([name, pid]) => [name, processCpuSeconds(pid)]));
      const clientBefore = process.cpuUsage();
      const started = process.hrtime.bigint();
      await runFor(target.call, options.concurrency, options.secondsPerRound * 1000, (ns, failure) => {
        s.latencies.push(ns / 1e6);
        if (failure === undefined) return;
        s.errors += 1;
        if (failure in s.errorKinds || Object.keys(s.errorKinds).length < 5) s.errorKinds[failure] = (s.errorKinds[failure] ?? 0) + 1;
      });
      s.seconds += Number(process.hrtime.bigint() - started) / 1e9;
      const client = process.cpuUsage(clientBefore);
      for (const [name, pid] of Object.entries(target.processes)) s.cpu[name] = (s.cpu[name] ?? 0) + processCpuSeconds(pid) - cpuBefore[name]!;
      s.cpu.loadGenerator = (s.cpu.loadGenerator ?? 0) + (client.user + client.system) / 1e6;
    }
  }
  return targets.map((target, i) => ({ name: target.name, result: summarise(state[i]!) }));
}

function summarise(s: { latencies: number[]; errors: number; errorKinds: Record<string, number>; seconds: number; cpu: Record<string, number> }): LoadResult {
  const latencies = [...s.latencies].sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const requests = Math.max(1, latencies.length);
  return {
    requests: latencies.length,
    errors: s.errors,
    errorKinds: s.errorKinds,
    seconds: round(s.seconds),
    perSecond: Math.round(latencies.length / s.seconds),
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: round(latencies.at(-1) ?? 0),
    cpuMicrosPerRequest: Object.fromEntries(Object.entries(s.cpu).map(([name, sec]) => [name, Math.round((sec * 1e6) / requests)])),
    cpuShare: Object.fromEntries(Object.entries(s.cpu).map(([name, sec]) => [name, round(sec / s.seconds, 2)])),
  };
}

/**
 * Warms every server in turns of a few seconds until each has been loaded `warmupSeconds` and
 * answered `warmupRequests` (or `warmupMaxSeconds` passed for it), so that all end their warm-up
 * together. Warmed one after the other, the copy of the same code warmed first (then idle for
 * minutes while the others warmed) measured 1,144 and 795 µs of CPU per Check in two runs, the
 * copy warmed last 533 and 543 µs.
 */
async function warmUp(targets: readonly Target[], options: InterleavedOptions): Promise<void> {
  const SLICE_MS = 2_000;
  const state = targets.map(() => ({ answered: 0, ms: 0 }));
  const done = (i: number) =>
    state[i]!.ms >= options.warmupSeconds * 1000 && (state[i]!.answered >= (options.warmupRequests ?? 0) || state[i]!.ms >= (options.warmupMaxSeconds ?? 60) * 1000);
  while (targets.some((_, i) => !done(i))) {
    for (const [i, target] of targets.entries()) {
      if (done(i)) continue;
      const started = Date.now();
      await runFor(target.call, options.concurrency, SLICE_MS, () => (state[i]!.answered += 1), state[i]!.answered);
      state[i]!.ms += Date.now() - started;
    }
  }
}

async function runFor(
  call: (index: number) => Promise<unknown>,
  concurrency: number,
  durationMs: number,
  record: (ns: number, failure: string | undefined) => void,
  firstIndex = 0,
): Promise<void> {
  const deadline = Date.now() + durationMs;
  let next = firstIndex;
  const worker = async () => {
    while (Date.now() < deadline) {
      const index = next++;
      const started = process.hrtime.bigint();
      let failure: string | undefined;
      await call(index).catch((error: unknown) => (failure = error instanceof Error ? error.message.slice(0, 120) : String(error)));
      record(Number(process.hrtime.bigint() - started), failure);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Latency of single Checks sent one at a time, in milliseconds: the first after ready, and so on. */
export async function sequentialLatencies(call: (index: number) => Promise<unknown>, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    await call(i).catch(() => {});
    latencies.push(round(Number(process.hrtime.bigint() - started) / 1e6));
  }
  return latencies;
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
