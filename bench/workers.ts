/**
 * Scaling with the `workers` setting: the same Palisade with 1 worker and with 2, loaded in
 * interleaved windows over several connections (cluster deals connections, not calls), Checks
 * of the storefront mix, one Redis. Nothing is pinned in this phase: two workers need both
 * CPUs, so the load generator and Redis share the cores with them, and on a two-core machine
 * the throughput ratio is a floor of what N workers on N free cores give. CPU per Check over
 * all of a pod's processes (primary and workers) is the figure that carries to bigger pods.
 *
 * A pod may also be told its helper threads' niceness (`PALISADE_HELPER_THREAD_NICENESS`), so
 * that the lowered helpers of one worker, waiting behind the other worker's main thread, are
 * measured against helpers at the main thread's priority: `BENCH_WORKERS=1:10,2:10,1:0,2:0`
 * (workers:niceness, interleaved in that order). Beside the latency and CPU, each row has the
 * pod's garbage-collection pauses (prom-client's `nodejs_gc_duration_seconds`, merged over the
 * workers by the pod's /metrics), the time the workers' main threads were runnable but waiting
 * for a CPU (/proc/<pid>/task/<pid>/schedstat) and the CPU of their other threads, from the
 * moment every pod is warm to the end; an idle pod's share of that (timers only) is negligible.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import * as grpc from "@grpc/grpc-js";
import { upstreamGrpc } from "../test/contract/upstream.js";
import { interleaved, round, type LoadResult } from "./load.js";
import { PINNING, pinProcess, threadCpuSeconds } from "./pin.js";
import { startPalisadeProcess, type ServerProcess } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

/** Connections the load generator opens to each server, as several Envoy threads or pods would. */
const CONNECTIONS = 8;

type CheckClient = grpc.Client & { Check(request: object, callback: (error: grpc.ServiceError | null) => void): void };

/** CONNECTIONS clients, each with a connection of its own, calls dealt over them in turn. */
function connections(address: string) {
  const Authorization = (upstreamGrpc() as any).envoy.service.auth.v3.Authorization as grpc.ServiceClientConstructor;
  const clients = Array.from(
    { length: CONNECTIONS },
    () => new Authorization(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }) as unknown as CheckClient,
  );
  return {
    call: (i: number) =>
      new Promise<void>((resolve, reject) => clients[i % CONNECTIONS]!.Check(storefrontRequest(i, Date.now()), (error) => (error ? reject(error) : resolve()))),
    close: () => clients.forEach((client) => client.close()),
  };
}

/** One pod of the comparison: its workers, and its helper threads' niceness when not the default. */
export interface PodConfiguration {
  workers: number;
  helperThreadNiceness?: number;
}

/** `BENCH_WORKERS`: "1,2" or "1:10,2:10,1:0,2:0" (workers, or workers:niceness), in interleaving order. */
export function podConfigurations(text = "1,2"): PodConfiguration[] {
  return text.split(",").map((item) => {
    const [workers, niceness] = item.trim().split(":").map(Number);
    return niceness === undefined ? { workers: workers! } : { workers: workers!, helperThreadNiceness: niceness };
  });
}

export interface WorkersRow {
  workers: number;
  /** As the pod was told; absent: the default. */
  helperThreadNiceness?: number;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** All of the pod's processes (the primary's too), µs of CPU per Check. */
  podCpuMicrosPerCheck: number;
  redisCpuMicrosPerCheck: number;
  /** CPU seconds per wall second of the pod's processes: 2 would be both cores. */
  podCpuShare: number;
  loadGeneratorCpuShare: number;
  errors: number;
  /** Garbage-collection pause time of the pod's workers per 1,000 Checks, by kind (ms). */
  gcPauseMsPer1000Checks: Record<string, number>;
  /** Pauses of at least 10 ms and of at least 100 ms (the histogram's buckets), all kinds. */
  gcPausesOver10Ms: number;
  gcPausesOver100Ms: number;
  /** µs per Check the workers' main threads were runnable but waiting for a CPU. */
  mainThreadWaitMicrosPerCheck: number;
  /** µs of CPU per Check on the workers' other threads (V8's helpers, libuv's pool). */
  helperThreadCpuMicrosPerCheck: number;
}

export async function measureWorkers(
  redisUrl: string,
  redisPid: number,
  load: { concurrency: number; rounds: number; secondsPerRound: number; warmupSeconds: number },
  configurations: readonly PodConfiguration[] = podConfigurations(),
): Promise<{ cpus: number; connections: number; loadAverage: { start: number[]; end: number[] }; rows: WorkersRow[] }> {
  const start = loadAverage();
  // The load generator may use every CPU in this phase, as the workers do.
  const allCpus = Array.from({ length: os.cpus().length }, (_, i) => i).join(",");
  if (PINNING) pinProcess(process.pid, allCpus);
  const pods: { configuration: PodConfiguration; server: ServerProcess; client: ReturnType<typeof connections> }[] = [];
  try {
    for (const [i, configuration] of configurations.entries()) {
      // Each pod counts in its own Redis database, so none limits another's clients.
      const env: Record<string, string> =
        configuration.helperThreadNiceness === undefined ? {} : { PALISADE_HELPER_THREAD_NICENESS: String(configuration.helperThreadNiceness) };
      const server = await startPalisadeProcess(`${redisUrl}/${4 + i}`, { workers: configuration.workers, pin: false, env });
      pods.push({ configuration, server, client: connections(`127.0.0.1:${server.grpcPort}`) });
    }
    const processes = (pod: (typeof pods)[number]) => {
      const pids = [pod.server.pid, ...(pod.server.workerPids ?? [])];
      return { ...Object.fromEntries(pids.map((pid, i) => [`pod${i}`, pid])), redis: redisPid };
    };
    const workerPids = (pod: (typeof pods)[number]) => pod.server.workerPids ?? [pod.server.pid];
    let warm: Sample[] = [];
    const results = await interleaved(
      pods.map((pod) => ({ name: `${pod.configuration.workers} workers`, call: pod.client.call, processes: processes(pod) })),
      { ...load, onWarm: async () => void (warm = await Promise.all(pods.map((pod) => sample(pod.server.adminPort!, workerPids(pod))))) },
    );
    const end = await Promise.all(pods.map((pod) => sample(pod.server.adminPort!, workerPids(pod))));
    const rows = results.map(({ result }, i) => summarise(pods[i]!.configuration, result, difference(warm[i]!, end[i]!)));
    return {
      cpus: os.cpus().length,
      connections: CONNECTIONS,
      loadAverage: { start, end: loadAverage() },
      rows,
    };
  } finally {
    for (const pod of pods) pod.client.close();
    await Promise.all(pods.map((pod) => pod.server.stop()));
    if (PINNING) pinProcess(process.pid, PINNING.client);
  }
}

/** What a pod's workers have done so far: collection pauses (seconds, by kind), main-thread waiting and other threads' CPU (seconds). */
interface Sample {
  gcSeconds: Record<string, number>;
  gcOver10Ms: number;
  gcOver100Ms: number;
  mainWaitSeconds: number;
  helperCpuSeconds: number;
}

async function sample(adminPort: number, workerPids: readonly number[]): Promise<Sample> {
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const gcSeconds: Record<string, number> = {};
  let gcCount = 0;
  const atMost: Record<string, number> = { "0.01": 0, "0.1": 0 };
  for (const line of metrics.split("\n")) {
    const [, series, labels, value] = /^nodejs_gc_duration_seconds_(sum|count|bucket)\{([^}]*)\} (\S+)$/.exec(line) ?? [];
    if (series === undefined) continue;
    const kind = /kind="(\w+)"/.exec(labels!)?.[1] ?? "other";
    if (series === "sum") gcSeconds[kind] = (gcSeconds[kind] ?? 0) + Number(value);
    else if (series === "count") gcCount += Number(value);
    else {
      const le = /le="([^"]+)"/.exec(labels!)?.[1] ?? "";
      if (le in atMost) atMost[le]! += Number(value);
    }
  }
  let mainWaitSeconds = 0;
  let helperCpuSeconds = 0;
  for (const pid of workerPids) {
    // schedstat: time on a CPU, time runnable and waiting for one (ns), timeslices.
    mainWaitSeconds += Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[1]) / 1e9;
    helperCpuSeconds += threadCpuSeconds(pid).other;
  }
  return { gcSeconds, gcOver10Ms: gcCount - atMost["0.01"]!, gcOver100Ms: gcCount - atMost["0.1"]!, mainWaitSeconds, helperCpuSeconds };
}

function difference(before: Sample, after: Sample): Sample {
  return {
    gcSeconds: Object.fromEntries(Object.entries(after.gcSeconds).map(([kind, seconds]) => [kind, seconds - (before.gcSeconds[kind] ?? 0)])),
    gcOver10Ms: after.gcOver10Ms - before.gcOver10Ms,
    gcOver100Ms: after.gcOver100Ms - before.gcOver100Ms,
    mainWaitSeconds: after.mainWaitSeconds - before.mainWaitSeconds,
    helperCpuSeconds: after.helperCpuSeconds - before.helperCpuSeconds,
  };
}

function loadAverage(): number[] {
  return os.loadavg().map((value) => round(value, 2));
}

function summarise(configuration: PodConfiguration, result: LoadResult, measured: Sample): WorkersRow {
  const pod = (figures: Record<string, number>) => Object.entries(figures).filter(([name]) => name.startsWith("pod")).reduce((sum, [, value]) => sum + value, 0);
  const checks = Math.max(1, result.requests);
  return {
    ...configuration,
    requests: result.requests,
    perSecond: result.perSecond,
    p50: result.p50,
    p99: result.p99,
    p999: result.p999,
    max: result.max,
    podCpuMicrosPerCheck: pod(result.cpuMicrosPerRequest),
    redisCpuMicrosPerCheck: result.cpuMicrosPerRequest.redis ?? 0,
    podCpuShare: round(pod(result.cpuShare), 2),
    loadGeneratorCpuShare: result.cpuShare.loadGenerator ?? 0,
    errors: result.errors,
    gcPauseMsPer1000Checks: Object.fromEntries(Object.entries(measured.gcSeconds).map(([kind, seconds]) => [kind, round((seconds * 1e6) / checks, 2)])),
    gcPausesOver10Ms: measured.gcOver10Ms,
    gcPausesOver100Ms: measured.gcOver100Ms,
    mainThreadWaitMicrosPerCheck: Math.round((measured.mainWaitSeconds * 1e6) / checks),
    helperThreadCpuMicrosPerCheck: Math.round((measured.helperCpuSeconds * 1e6) / checks),
  };
}
