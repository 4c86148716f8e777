/**
 * How long a piece of work holds the event loop, apart from the machine's load: while `work`
 * runs, a 1-ms timer reads the main thread's time on a CPU (/proc/self/task/<pid>/schedstat) each
 * time it gets to run. The CPU time between two runs is work that kept the loop from turning
 * (on a busy machine the wall-clock gap also holds the thread's waits for a CPU, which are not
 * counted). For bench/record-flush.ts and bench/replica-reload.ts.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import { round } from "./load.js";

/** Holds of the loop at least this long on a CPU are counted. */
export const HOLD_MS = 10;

export interface LoopHold {
  /** The process's CPU time (all threads) while the work ran, ms. */
  cpuMs: number;
  /** The longest CPU time of the main thread without a turn of the event loop, ms. */
  longestMs: number;
  /** How many times the main thread was on a CPU more than HOLD_MS without a turn. */
  holds: number;
}

function mainThreadCpuMs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
}

export async function measureLoopHold(work: () => Promise<unknown>): Promise<LoopHold> {
  let lastCpu = mainThreadCpuMs();
  let longest = 0;
  let holds = 0;
  const timer = setInterval(() => {
    const cpu = mainThreadCpuMs();
    longest = Math.max(longest, cpu - lastCpu);
    if (cpu - lastCpu > HOLD_MS) holds++;
    lastCpu = cpu;
  }, 1);
  await new Promise((done) => setTimeout(done, 20));
  [lastCpu, longest, holds] = [mainThreadCpuMs(), 0, 0];
  const cpu = process.cpuUsage();
  await work();
  await new Promise((done) => setTimeout(done, 5));
  clearInterval(timer);
  const used = process.cpuUsage(cpu);
  return { cpuMs: round((used.user + used.system) / 1000, 1), longestMs: round(longest, 1), holds };
}

/** A checkout whose work is measured, with its figures round by round. */
export interface MeasuredTree {
  name: string;
  holds: LoopHold[];
  close(): Promise<void>;
}

/**
 * Measures every tree once a round, the order reversed every other round so that drift in the
 * machine's load falls on all alike; then prints one line per tree and closes it.
 */
export async function inTurns<T extends MeasuredTree>(trees: readonly T[], rounds: number, what: string, work: (tree: T, round: number) => Promise<LoopHold>): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const tree of round % 2 === 0 ? trees : [...trees].reverse()) tree.holds.push(await work(tree, round));
  }
  for (const tree of trees) {
    const rows = tree.holds;
    process.stdout.write(
      `${tree.name}: ${what} CPU ms ${rows.map((x) => x.cpuMs).join(", ")}; longest on a CPU without a turn of the event loop ms ` +
        `${rows.map((x) => x.longestMs).join(", ")}; holds over ${HOLD_MS} ms ${rows.map((x) => x.holds).join(", ")}\n`,
    );
    await tree.close();
  }
  process.stdout.write(`load average ${os.loadavg()[0]!.toFixed(1)}\n`);
}
