/**
 * CPU pinning and per-process CPU time for the bench. The load generator runs on one CPU and
 * every server (and Redis) on another, so a server's throughput is not what the scheduler gave
 * it at the client's expense. `taskset` (util-linux) does the pinning; where it or a second CPU
 * is missing the bench runs unpinned and says so in its results.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import os from "node:os";

/** The CPU of the load generator and the CPU of the servers, or undefined when pinning is impossible. */
export const PINNING: { client: number; servers: number } | undefined = pinningAvailable() ? { client: 0, servers: 1 } : undefined;

function pinningAvailable(): boolean {
  if (process.env.BENCH_PIN === "0" || os.cpus().length < 2 || process.platform !== "linux") return false;
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Pins every thread of a running process (`taskset -a -p`) to one CPU, or to a list such as "0,1". */
export function pinProcess(pid: number, cpu: number | string): void {
  execFileSync("taskset", ["-a", "-c", "-p", String(cpu), String(pid)], { stdio: "ignore" });
}

/** `[command, args]` to spawn `command` pinned to the servers' CPU (threads it starts inherit it). */
export function pinnedCommand(command: string, args: readonly string[]): [string, string[]] {
  return PINNING ? ["taskset", ["-c", String(PINNING.servers), command, ...args]] : [command, [...args]];
}

const TICKS_PER_SECOND = 100; // USER_HZ: Linux reports utime/stime in 1/100 s everywhere that matters

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat: the figures
 * process.cpuUsage() reports inside a Node process, readable from outside for any server
 * (Node, Go or Rust alike). 10 ms resolution, ample over a measured window of seconds.
 */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: state is field 3; utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU seconds of a process's main thread and of all its other threads (V8's compiler and GC helpers, libuv's pool). */
export function threadCpuSeconds(pid: number): { main: number; other: number } {
  const seconds = { main: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      seconds[tid === String(pid) ? "main" : "other"] += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return seconds;
}

/** Resident memory now and at its peak, MiB (/proc/<pid>/status). */
export function residentMiB(pid: number): string {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return `RSS ${Math.round(kib("VmRSS") / 1024)} MiB (peak ${Math.round(kib("VmHWM") / 1024)})`;
}

/**
 * Nanoseconds on a CPU of a process's main thread and of all its other threads, from
 * /proc/<pid>/task/<tid>/schedstat: fine enough for one call (threadCpuSeconds counts 10 ms ticks).
 */
export function threadCpuNs(pid: number): { main: number; other: number } {
  const cpu = { main: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const onCpu = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      cpu[tid === String(pid) ? "main" : "other"] += onCpu;
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return cpu;
}
