/**
 * Bytes a piece of code allocates, garbage included: V8's sampling heap profiler keeping the
 * samples of objects garbage collection already freed (both flags, V8 11), by allocating
 * function. Shared by the benches that say where a call's garbage comes from.
 */
import { Session } from "node:inspector/promises";

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

export interface Allocations {
  /** Bytes in all, as sampled. */
  total: number;
  /** Bytes by allocating function, `name dir/file`. */
  bySite: Map<string, number>;
}

/** What `run` allocates, sampled every `samplingInterval` bytes on average. */
export async function allocatedDuring(run: () => unknown, samplingInterval = 4_096): Promise<Allocations> {
  const stop = await startAllocationSampling(samplingInterval);
  await run();
  return stop();
}

/**
 * Starts sampling allocations; the function it returns stops and tells what was allocated in
 * between. For code that hands out its own before and after hooks (bench/replay-speed.ts).
 */
export async function startAllocationSampling(samplingInterval = 4_096): Promise<() => Promise<Allocations>> {
  const session = new Session();
  session.connect();
  try {
    await session.post("HeapProfiler.startSampling", { samplingInterval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  } catch (error) {
    session.disconnect();
    throw error;
  }
  return async () => {
    try {
      const { profile } = (await session.post("HeapProfiler.stopSampling")) as unknown as { profile: { head: SamplingNode } };
      const bySite = new Map<string, number>();
      let total = 0;
      // A built-in (no file: `Map`, an iterator's `next`) is named with the function that called it.
      const walk = (node: SamplingNode, caller: string) => {
        const frame = node.callFrame;
        const own = `${frame.functionName || "(anonymous)"} ${frame.url.split("/").slice(-2).join("/")}`;
        const site = frame.url === "" && caller !== "" ? `${frame.functionName} in ${caller}` : own;
        total += node.selfSize;
        bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
        for (const next of node.children) walk(next, frame.url === "" ? caller : own);
      };
      walk(profile.head, "");
      return { total, bySite };
    } finally {
      session.disconnect();
    }
  };
}
