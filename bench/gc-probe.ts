/**
 * Loaded into a bench server with `--import` when BENCH_GC_PROBE=1 (bench/cpu-per-check.ts does
 * it): every SIGUSR2 prints on stdout one line `gc-probe {…}` with the collections of the main
 * isolate since the previous signal (v8.GCProfiler), then starts counting afresh. So a bench
 * brackets a measured turn with two signals and keeps the second line. The line holds, by kind,
 * the count and the main thread's pauses in them (µs, V8's own `cost`, wall time), the bytes
 * the scavenges promoted to the old generation (old space after minus before), and the new
 * space's size at the signal (V8 counts both semi-spaces: twice `--max-semi-space-size` once
 * grown). Bench instrumentation only, not part of Palisade.
 */
import { GCProfiler, getHeapSpaceStatistics } from "node:v8";

interface SpaceSizes {
  heapSpaceStatistics: { spaceName: string; spaceUsedSize: number }[];
}

interface Collection {
  gcType: string;
  cost: number;
  beforeGC: SpaceSizes;
  afterGC: SpaceSizes;
}

const used = (sizes: SpaceSizes, space: string) => sizes.heapSpaceStatistics.find((entry) => entry.spaceName === space)?.spaceUsedSize ?? 0;

if (process.env.BENCH_GC_PROBE === "1") {
  let profiler = new GCProfiler();
  profiler.start();
  process.on("SIGUSR2", () => {
    const collections = (profiler.stop()?.statistics ?? []) as Collection[];
    profiler = new GCProfiler();
    profiler.start();
    const kinds: Record<string, { count: number; costMicros: number }> = {};
    let promotedBytes = 0;
    for (const collection of collections) {
      const kind = (kinds[collection.gcType] ??= { count: 0, costMicros: 0 });
      kind.count += 1;
      kind.costMicros += collection.cost;
      if (collection.gcType === "Scavenge") promotedBytes += Math.max(0, used(collection.afterGC, "old_space") - used(collection.beforeGC, "old_space"));
    }
    const newSpaceBytes = getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0;
    process.stdout.write(`gc-probe ${JSON.stringify({ kinds, promotedBytes, newSpaceBytes })}\n`);
  });
}
