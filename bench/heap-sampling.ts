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
  const session = new Session();
  session.connect();
  try {
    await session.post("HeapProfiler.startSampling", { samplingInterval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
    await run();
    const { profile } = (await session.post("HeapProfiler.stopSampling")) as unknown as { profile: { head: SamplingNode } };
    const bySite = new Map<string, number>();
    let total = 0;
    const walk = (node: SamplingNode) => {
      const frame = node.callFrame;
      const site = `${frame.functionName || "(anonymous)"} ${frame.url.split("/").slice(-2).join("/")}`;
      total += node.selfSize;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      for (const next of node.children) walk(next);
    };
    walk(profile.head);
    return { total, bySite };
  } finally {
    session.disconnect();
  }
}
