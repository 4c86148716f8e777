/**
 * Scaling with the `workers` setting: the same Palisade with 1 worker and with 2, loaded in
 * interleaved windows over several connections (cluster deals connections, not calls), Checks
 * of the storefront mix, one Redis. Nothing is pinned in this phase: two workers need both
 * CPUs, so the load generator and Redis share the cores with them, and on a two-core machine
 * the throughput ratio is a floor of what N workers on N free cores give. CPU per Check over
 * all of a pod's processes (primary and workers) is the figure that carries to bigger pods.
 */
import os from "node:os";
import * as grpc from "@grpc/grpc-js";
import { upstreamGrpc } from "../test/contract/upstream.js";
import { interleaved, round, type LoadResult } from "./load.js";
import { PINNING, pinProcess } from "./pin.js";
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

export interface WorkersRow {
  workers: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  /** All of the pod's processes (the primary's too), µs of CPU per Check. */
  podCpuMicrosPerCheck: number;
  redisCpuMicrosPerCheck: number;
  /** CPU seconds per wall second of the pod's processes: 2 would be both cores. */
  podCpuShare: number;
  loadGeneratorCpuShare: number;
  errors: number;
}

export async function measureWorkers(
  redisUrl: string,
  redisPid: number,
  load: { concurrency: number; rounds: number; secondsPerRound: number; warmupSeconds: number },
  counts: readonly number[] = [1, 2],
): Promise<{ cpus: number; connections: number; rows: WorkersRow[]; throughputRatio: number }> {
  // The load generator may use every CPU in this phase, as the workers do.
  const allCpus = Array.from({ length: os.cpus().length }, (_, i) => i).join(",");
  if (PINNING) pinProcess(process.pid, allCpus);
  const pods: { workers: number; server: ServerProcess; client: ReturnType<typeof connections> }[] = [];
  try {
    for (const [i, workers] of counts.entries()) {
      // Each pod counts in its own Redis database, so neither limits the other's clients.
      const server = await startPalisadeProcess(`${redisUrl}/${4 + i}`, { workers, pin: false });
      pods.push({ workers, server, client: connections(`127.0.0.1:${server.grpcPort}`) });
    }
    const processes = (pod: (typeof pods)[number]) => {
      const pids = [pod.server.pid, ...(pod.server.workerPids ?? [])];
      return { ...Object.fromEntries(pids.map((pid, i) => [`pod${i}`, pid])), redis: redisPid };
    };
    const results = await interleaved(
      pods.map((pod) => ({ name: `${pod.workers} workers`, call: pod.client.call, processes: processes(pod) })),
      load,
    );
    const rows = results.map(({ result }, i) => summarise(pods[i]!.workers, result));
    return { cpus: os.cpus().length, connections: CONNECTIONS, rows, throughputRatio: round(rows.at(-1)!.perSecond / rows[0]!.perSecond, 2) };
  } finally {
    for (const pod of pods) pod.client.close();
    await Promise.all(pods.map((pod) => pod.server.stop()));
    if (PINNING) pinProcess(process.pid, PINNING.client);
  }
}

function summarise(workers: number, result: LoadResult): WorkersRow {
  const pod = (figures: Record<string, number>) => Object.entries(figures).filter(([name]) => name.startsWith("pod")).reduce((sum, [, value]) => sum + value, 0);
  return {
    workers,
    perSecond: result.perSecond,
    p50: result.p50,
    p99: result.p99,
    max: result.max,
    podCpuMicrosPerCheck: pod(result.cpuMicrosPerRequest),
    redisCpuMicrosPerCheck: result.cpuMicrosPerRequest.redis ?? 0,
    podCpuShare: round(pod(result.cpuShare), 2),
    loadGeneratorCpuShare: result.cpuShare.loadGenerator ?? 0,
    errors: result.errors,
  };
}
