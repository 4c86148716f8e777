import { readdirSync } from "node:fs";
import os from "node:os";
import { DEFAULT_HELPER_THREAD_NICENESS } from "../settings/settings.js";

/**
 * Lowers the scheduling priority of every thread of this process but the main one: V8's platform
 * workers (concurrent marking, sweeping and compaction, parallel scavenges, background
 * compilation) and libuv's pool. Where the process has fewer CPUs than runnable threads (one
 * pinned CPU, a CPU limit, workers on every core), a major collection's helpers took the CPU from
 * the main thread for 86–100 ms in the second around it, and the Checks sent then made most of
 * the replay's tail (BENCHMARKS.md, `gctail`). At a lower priority the helpers run when the main
 * thread waits for I/O, and V8 does on the main thread, in its own steps, what they have not.
 * Linux only (a thread's nice value); elsewhere nothing changes. Threads started later (a policy
 * worker) keep the main thread's priority. Returns how many threads it lowered.
 */
export function lowerHelperThreads(niceness = DEFAULT_HELPER_THREAD_NICENESS): number {
  if (process.platform !== "linux") return 0;
  const priority = Math.min(19, os.getPriority() + niceness);
  let lowered = 0;
  for (const entry of readdirSync("/proc/self/task")) {
    const threadId = Number(entry);
    if (threadId === process.pid) continue;
    try {
      os.setPriority(threadId, priority);
      lowered += 1;
    } catch {
      // The thread ended since the listing, or the system refuses: it keeps its priority.
    }
  }
  return lowered;
}
