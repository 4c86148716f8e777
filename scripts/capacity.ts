/**
 * Capacity on paper from measured unit costs: reads a bench results file (the newest in
 * bench/results/ by default, or the one named) and prints, as Markdown, how many Palisade
 * processes and Redis shards serve 10k, 100k and 1M Checks/s. docs/capacity.md quotes its
 * output; rerun it after `npm run bench` so the document stays true.
 *
 *   npx tsx scripts/capacity.ts [bench/results/<time>.json] [--memory bench/results/memory-<time>.json]
 *
 * With --memory (a file `npm run bench:memory` wrote) it prints Redis memory for 100k, 1M and
 * 10M tracked clients instead, from that run's bytes per client, and what is left of it once
 * each retention window has passed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Plan each core and each Redis shard to this share of its CPU: headroom for bursts and GC. */
const PROCESS_UTILISATION = 0.6;
const REDIS_UTILISATION = 0.5;
const RATES = [10_000, 100_000, 1_000_000];

interface Row {
  name: string;
  result: { perSecond: number; cpuMicrosPerRequest: Record<string, number>; cpuShare: Record<string, number> };
}
interface Results {
  commit: string;
  date: string;
  machine: { loadAverage?: number[] };
  check?: Row[];
  shouldRateLimit?: Row[];
  redisPerCheck?: { scriptCallsPerCheck: number };
  redisPerRateLimit?: Record<string, { scriptCallsPerCheck: number }>;
  attackMemory?: { requests: number; peakRedisKeys: number; peakRedisMiB: number; afterTtlRedisKeys?: number; afterTtlRedisMiB?: number };
  workers?: {
    cpus: number;
    connections: number;
    loadAverage?: { start: number[]; end: number[] };
    rows: {
      workers: number;
      perSecond: number;
      p99: number;
      podCpuMicrosPerCheck: number;
      podCpuShare: number;
      loadGeneratorCpuShare: number;
      // Files written since the helper threads' niceness A/B (bench/workers.ts) have these too.
      helperThreadNiceness?: number;
      p999?: number;
      max?: number;
      gcPauseMsPer1000Checks?: Record<string, number>;
      gcPausesOver10Ms?: number;
      gcPausesOver100Ms?: number;
      mainThreadWaitMicrosPerCheck?: number;
      helperThreadCpuMicrosPerCheck?: number;
    }[];
  };
}

const memoryFlag = process.argv.indexOf("--memory");
if (memoryFlag >= 0) {
  const memoryFile = process.argv[memoryFlag + 1];
  if (!memoryFile) throw new Error("--memory needs a file written by npm run bench:memory");
  process.stdout.write(memorySection(memoryFile));
  process.exit(0);
}

const file = process.argv[2] ?? newestResults();
const results = JSON.parse(readFileSync(file, "utf8")) as Results;
const lines: string[] = [];
const out = (line = "") => lines.push(line);

out(`From the bench results file ${file}, which is not kept in the repository (bench/results/ is git-ignored; commit ${results.commit}, ${results.date}, load average at start ${results.machine.loadAverage?.join(", ") ?? "unknown"}).`);
out();
section("Check", results.check?.find((r) => r.name === "Palisade"), results.redisPerCheck?.scriptCallsPerCheck);
section("ShouldRateLimit", results.shouldRateLimit?.find((r) => r.name === "Palisade"), results.redisPerRateLimit?.Palisade?.scriptCallsPerCheck);
if (results.attackMemory) {
  const { requests, peakRedisKeys, peakRedisMiB, afterTtlRedisKeys, afterTtlRedisMiB } = results.attackMemory;
  // Files written before the bench recorded what was left once the shrunk windows had passed say only the peak.
  const left = afterTtlRedisKeys === undefined || afterTtlRedisMiB === undefined
    ? "counter keys expire two windows after their last write."
    : `once the windows (shrunk to 5 s) had passed, ${afterTtlRedisKeys} keys (${round(afterTtlRedisKeys / requests, 2)} per attacking client) in ${afterTtlRedisMiB} MiB ` +
      `(${round((afterTtlRedisMiB * 2 ** 20) / requests, 0)} bytes per attacking client) were left, keys whose time to live the shrunk windows and retentions do not set.`;
  out(`Attack memory: ${requests} login attempts, each from a new address with a new username, left at most ${peakRedisKeys} Redis keys ` +
    `(${round(peakRedisKeys / requests, 2)} per attacking client) in ${peakRedisMiB} MiB (${round((peakRedisMiB * 2 ** 20) / Math.max(1, peakRedisKeys), 0)} bytes per key); ${left}`);
}
if (results.workers) workersSection(results.workers, results.check?.find((r) => r.name === "Palisade")?.result.cpuMicrosPerRequest.server);
process.stdout.write(`${lines.join("\n")}\n`);

/**
 * One pod of N workers: N event loops on N cores. What it serves follows from the CPU per
 * Check of the pod's processes (the workers' and the primary's), measured with 1 and with 2
 * workers; the throughput of the two on this machine is printed beside it, but with the load
 * generator and Redis on the same cores it is a floor, not a scaling figure.
 */
function workersSection(workers: NonNullable<Results["workers"]>, pinnedCheckUs: number | undefined): void {
  const during = workers.loadAverage ? `, load average ${workers.loadAverage.start[0]} at the start and ${workers.loadAverage.end[0]} at the end` : "";
  out(`**Workers** (${workers.cpus} CPUs, ${workers.connections} connections, unpinned: the load generator and Redis share the cores${during}):`);
  out();
  if (workers.rows.some((row) => row.helperThreadNiceness !== undefined)) niceTable(workers.rows);
  else {
    out("| workers | Checks/s | p99 ms | pod CPU µs/Check | pod CPU share | load generator CPU share |");
    out("|---|---|---|---|---|---|");
    for (const row of workers.rows) out(`| ${row.workers} | ${row.perSecond} | ${row.p99} | ${row.podCpuMicrosPerCheck} | ${row.podCpuShare} | ${row.loadGeneratorCpuShare} |`);
  }
  out();
  // The pinned Check phase's figure when the file has one (a core to itself); else the larger of the two rows.
  const perCheck = pinnedCheckUs ?? Math.max(...workers.rows.map((row) => row.podCpuMicrosPerCheck));
  const perCore = Math.floor((1e6 / perCheck) * PROCESS_UTILISATION);
  out(`${scaling(workers.rows)}At ${perCheck} µs per Check (${pinnedCheckUs ? "the pinned Check phase" : "the largest of the rows"}) and ${PROCESS_UTILISATION * 100}% of each core, one pod serves ` +
    `${podRates(perCore, "Checks/s")}, as long as Envoy opens at least as many connections as there are workers.`);
  out();
}

/** What a pod serves with 1, 2, 4 and 8 workers: one process's rate per worker, since each has a core and an event loop of its own. */
function podRates(perProcess: number, unit: string): string {
  return [1, 2, 4, 8].map((n) => `${(n * perProcess).toLocaleString("en")} ${unit} with ${n} worker${n > 1 ? "s" : ""}`).join(", ");
}

/** The most workers against 1, in throughput and CPU per Check, between rows of the same niceness. */
function scaling(rows: NonNullable<Results["workers"]>["rows"]): string {
  const sentences: string[] = [];
  for (const niceness of new Set(rows.map((row) => row.helperThreadNiceness))) {
    const alike = rows.filter((row) => row.helperThreadNiceness === niceness);
    const one = alike.find((row) => row.workers === 1);
    const most = alike.reduce((a, b) => (b.workers > a.workers ? b : a));
    if (!one || most === one) continue;
    const at = niceness === undefined ? "" : ` (helper threads' niceness ${niceness})`;
    sentences.push(`Throughput with ${most.workers} workers${at}: ${round(most.perSecond / one.perSecond, 2)}× that of 1 on this machine; ` +
      `CPU per Check with ${most.workers} workers is ${round(most.podCpuMicrosPerCheck / one.podCpuMicrosPerCheck, 2)}× that of 1. `);
  }
  return sentences.join("");
}

/** The helper threads' niceness A/B: the tail, the collections' pauses, and the main threads' wait for a CPU beside the CPU per Check. */
function niceTable(rows: NonNullable<Results["workers"]>["rows"]): void {
  out("| workers | helper threads' niceness | Checks/s | p99 ms | p99.9 ms | max ms | pod CPU µs/Check | GC pause ms per 1,000 Checks (major) | GC pauses over 10 ms / 100 ms | main threads waiting for a CPU, µs/Check | helper threads' CPU µs/Check | pod CPU share |");
  out("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const row of rows) {
    const pauses = row.gcPauseMsPer1000Checks ?? {};
    const gc = round(Object.values(pauses).reduce((sum, ms) => sum + ms, 0), 1);
    out(`| ${row.workers} | ${row.helperThreadNiceness ?? "default"} | ${row.perSecond} | ${row.p99} | ${row.p999} | ${row.max} | ${row.podCpuMicrosPerCheck} | ${gc} (${round(pauses.major ?? 0, 1)}) | ` +
      `${row.gcPausesOver10Ms} / ${row.gcPausesOver100Ms} | ${row.mainThreadWaitMicrosPerCheck} | ${row.helperThreadCpuMicrosPerCheck} | ${row.podCpuShare} |`);
  }
}

function section(title: string, row: Row | undefined, scriptCalls: number | undefined): void {
  if (!row) {
    out(`${title}: not in this results file.`);
    out();
    return;
  }
  const serverUs = row.result.cpuMicrosPerRequest.server ?? 0;
  const redisUs = row.result.cpuMicrosPerRequest.redis ?? 0;
  const perProcess = Math.floor((1e6 / serverUs) * PROCESS_UTILISATION);
  out(`**${title}**: ${serverUs} µs of Palisade CPU and ${redisUs} µs of Redis CPU per call, ${scriptCalls ?? "?"} script calls per call; ` +
    `one process (one core, one event loop) at ${PROCESS_UTILISATION * 100}% serves ${perProcess} calls/s, ` +
    `one Redis shard at ${REDIS_UTILISATION * 100}% ${redisUs > 0 ? Math.floor((1e6 / redisUs) * REDIS_UTILISATION) : "∞"}; ` +
    `one pod of N cores (\`workers: N\`) ${podRates(perProcess, "calls/s")}.`);
  out();
  out("| calls/s | Palisade cores (processes) | Redis shards | Redis script calls/s |");
  out("|---|---|---|---|");
  for (const rate of RATES) {
    const cores = Math.ceil((rate * serverUs) / 1e6 / PROCESS_UTILISATION);
    const shards = Math.max(1, Math.ceil((rate * redisUs) / 1e6 / REDIS_UTILISATION));
    out(`| ${rate.toLocaleString("en")} | ${cores.toLocaleString("en")} | ${shards.toLocaleString("en")} | ${Math.round(rate * (scriptCalls ?? 0)).toLocaleString("en")} |`);
  }
  out();
}

interface MemoryResults {
  commit?: string;
  date?: string;
  loadAverage?: number[];
  clients: number;
  attackers?: number;
  redisBytesPerClient: number;
  redisKeysPerClient: number;
  redisBytesPerKey: number;
  heapBytesPerClient: number;
  structures?: Record<string, { keysPerClient: number; bytesPerClient: number }>;
  aliveAfter?: Record<string, { keysPerClient: number; memoryUsageBytesPerClient: number }>;
  replicated?: { clients: number; redisBytesPerClient: number };
}

/**
 * Redis memory for a number of tracked clients: used_memory per client of the run, measured
 * when its last client was done, times the clients (the copy at 10 × N, when the run made one,
 * is quoted, not used: its keys were copied while the run's shortest windows expired). Past each retention horizon, the keys
 * still alive by their time to live, as a share of MEMORY USAGE of all the run's keys, applied
 * to used_memory (Redis's own tables shrink with the keys).
 */
function memorySection(memoryFile: string): string {
  const memory = JSON.parse(readFileSync(memoryFile, "utf8")) as MemoryResults;
  const text: string[] = [];
  const gib = (bytes: number) => round(bytes / 2 ** 30, 2).toLocaleString("en");
  const perClient = memory.redisBytesPerClient;
  text.push(`From the memory results file ${memoryFile} (commit ${memory.commit ?? "unknown"}, ${memory.date ?? "date unknown"}, load average at the end ${memory.loadAverage?.join(", ") ?? "unknown"}): ` +
    `${memory.clients.toLocaleString("en")} clients (${(memory.attackers ?? 0).toLocaleString("en")} of them stuffing attackers), ${memory.redisBytesPerClient} bytes of Redis used_memory, ` +
    `${memory.redisKeysPerClient} keys and ${memory.heapBytesPerClient} bytes of replica heap per client, ${memory.redisBytesPerKey} bytes per key` +
    (memory.replicated ? `; with the clients' keys copied to ${memory.replicated.clients.toLocaleString("en")} clients, ${memory.replicated.redisBytesPerClient} bytes per client.` : "."));
  text.push("");
  const horizons = Object.entries(memory.aliveAfter ?? {});
  // A file without the `now` horizon: the larger of its structures' sum and what is left after the first horizon.
  const total = memory.aliveAfter?.now?.memoryUsageBytesPerClient ??
    Math.max(Object.values(memory.structures ?? {}).reduce((sum, s) => sum + s.bytesPerClient, 0), ...horizons.map(([, alive]) => alive.memoryUsageBytesPerClient));
  const shown = horizons.filter(([name]) => name !== "now");
  text.push(`| tracked clients | Redis at the run's bytes per client | ${shown.map(([name]) => `left after ${name}`).join(" | ")} |`);
  text.push(`|---|---|${shown.map(() => "---|").join("")}`);
  for (const clients of [100_000, 1_000_000, 10_000_000]) {
    const bytes = clients * perClient;
    text.push(`| ${clients.toLocaleString("en")} | ${gib(bytes)} GiB | ${shown.map(([, alive]) => `${gib((bytes * alive.memoryUsageBytesPerClient) / Math.max(1, total))} GiB`).join(" | ")} |`);
  }
  text.push("");
  return `${text.join("\n")}\n`;
}

function newestResults(): string {
  const dir = "bench/results";
  const files = readdirSync(dir).filter((name) => /^\d.*\.json$/.test(name)).sort();
  if (files.length === 0) throw new Error("no bench results: run `npm run bench` first");
  return join(dir, files.at(-1)!);
}

function round(value: number, digits: number): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}
