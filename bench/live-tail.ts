/**
 * The replay tail (issue 16 item 3): an hour of lab storefront traffic with attacks, replayed
 * through a live `palisade serve` on a real redis-server at its recorded pace or compressed,
 * with every Check's latency measured by the client, and the causes of the slow ones looked up.
 * `npm run bench:live-tail` (about 16 minutes at the default speed of 4×).
 *
 * - Traffic: `palisade simulate`'s default scenario set (50,160 Checks and as many access-log
 *   entries over 63 minutes of traffic, nine scenarios, ten quiet minutes between them), or
 *   BENCH_LIVE_FILE. Sent open-loop, each event at its own time divided by BENCH_LIVE_SPEED
 *   (default 4; 1 is the recorded pace); quiet gaps longer than BENCH_LIVE_MAX_GAP_S (default 2)
 *   of wall time are cut to it. The server runs with --trust-event-time, so it decides on the
 *   events' own clock: compression changes the load, not the decisions' windows.
 *   BENCH_LIVE_MINUTES replays only the first minutes of traffic.
 * - Access-log entries go on one StreamAccessLogs stream as Envoy sends them, rewritten to the
 *   denial when the Check was denied.
 * - The policy is a copy of the example policy that is rewritten (a new version) every
 *   BENCH_LIVE_RELOAD_S (default 60) seconds, so hot reloads happen under load; Prometheus-style
 *   scrapes of /metrics every 15 s.
 * - Pinned like `npm run bench` (bench/pin.ts): this process on one CPU, the server and Redis
 *   on the other.
 * - The server carries bench/loop-probe.ts: every event-loop stall over 10 ms and GC pause over
 *   2 ms with timestamps, and for each stall the main thread's time on a CPU and waiting for one.
 *   BENCH_LIVE_PROFILE=1 adds a CPU profile (`--cpu-prof`), from which the functions running in
 *   each of the server's own stalls are named. BENCH_LIVE_NODE_ARGS gives the server node flags
 *   (space-separated, e.g. `--max-semi-space-size=32 --trace-gc`); what the server prints that is
 *   not its JSON log (such a flag's trace) is written beside the results (`.node-output.txt`).
 *
 * - Redis's latency monitor is on (commands, scripts included, of REDIS_LATENCY_MS or more, the
 *   longest of each second), so a slow Check can be put down to a slow Redis command too.
 *
 * Prints the client's p50/p99/p99.9/max, the server's decision histogram, the event-loop delay,
 * the load average, and every Check above BENCH_LIVE_SLOW_MS (default 50) with what overlapped
 * it, counted by cause (the server's own work named by the profile's busiest function); writes
 * bench/results/live-tail-<time>.json, the raw figures beside it (`.raw.json`, and the profile's
 * `.cpuprofile`). `BENCH_LIVE_ANALYSE=<file>.raw.json` (with BENCH_LIVE_PROFILE_FILE) reports on
 * an earlier run again without replaying.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { asLogged } from "../src/lab/replay/engine.js";
import { isProblem, type ReplayEvent } from "../src/lab/replay/events.js";
import { readEvents } from "../src/lab/replay/formats.js";
import { openInput } from "../src/lab/replay/input.js";
import { verdictOf, type Verdict } from "../src/lab/replay/target.js";
import { palisadeServices, type CheckRequest, type CheckResponse, type StreamAccessLogsMessage } from "../src/transport/grpc/protos.js";
import { examplePolicyPath, repoRoot } from "../test/support/policies.js";
import { round } from "./load.js";
import { processCpuSeconds } from "./pin.js";
import { indexProfile, profileFunctions, readProbe, stallKind, type CpuProfile, type Gc, type Second, type Stall } from "./probe-records.js";
import { startPalisadeProcess, startPinnedRedis, type BenchRedis } from "./servers.js";

const SPEED = Number(process.env.BENCH_LIVE_SPEED ?? 4);
const MAX_GAP_MS = Number(process.env.BENCH_LIVE_MAX_GAP_S ?? 2) * 1000;
const MINUTES = process.env.BENCH_LIVE_MINUTES ? Number(process.env.BENCH_LIVE_MINUTES) : undefined;
const RELOAD_MS = Number(process.env.BENCH_LIVE_RELOAD_S ?? 60) * 1000;
const SCRAPE_MS = 15_000;
const PROFILE = process.env.BENCH_LIVE_PROFILE === "1";
const NODE_ARGS = (process.env.BENCH_LIVE_NODE_ARGS ?? "").split(" ").filter(Boolean);
/** Checks slower than this are listed and attributed (BENCH_LIVE_SLOW_MS; issue 16's line is 50). */
const SLOW_MS = Number(process.env.BENCH_LIVE_SLOW_MS ?? 50);
/** Redis's latency monitor records commands (scripts included) that ran at least this long. */
const REDIS_LATENCY_MS = 3;
const CHECK_DEADLINE_MS = 5_000;

type CheckClient = grpc.Client & {
  Check(request: CheckRequest, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: CheckResponse) => void): void;
};
type AccessLogClient = grpc.Client & {
  StreamAccessLogs(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<StreamAccessLogsMessage>;
};

interface Timed {
  event: ReplayEvent;
  /** When to send it, ms after the replay starts. */
  dueMs: number;
}

interface Sample {
  /** Wall time the Check was sent (ms since the epoch) and how long its answer took. */
  at: number;
  ms: number;
  scenario: string;
  path: string;
  error?: string;
}


async function loadTraffic(dir: string): Promise<Timed[]> {
  let file = process.env.BENCH_LIVE_FILE;
  if (!file) {
    file = join(dir, "lab.jsonl");
    execFileSync(process.execPath, ["--import", "tsx", "src/cli/index.ts", "simulate", "--output", file], { cwd: repoRoot, stdio: "inherit" });
  }
  const events: ReplayEvent[] = [];
  for await (const item of readEvents(await openInput(file), "lab", "")) if (!isProblem(item) && item.kind !== "history") events.push(item);
  events.sort((a, b) => a.timeMs - b.timeMs);
  const first = events[0]?.timeMs ?? 0;
  const timed: Timed[] = [];
  let due = 0;
  let previous = first;
  for (const event of events) {
    if (MINUTES !== undefined && due > (MINUTES * 60_000) / SPEED) break;
    due += Math.min(event.timeMs - previous, MAX_GAP_MS * SPEED) / SPEED;
    previous = event.timeMs;
    timed.push({ event, dueMs: due });
  }
  return timed;
}

function percentile(sorted: number[], q: number): number {
  return round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0, 2);
}

/** Bucket counts of one histogram series from a Prometheus text scrape, cumulative as exposed. */
function histogram(text: string, name: string, label = ""): Record<string, number> {
  const out: Record<string, number> = {};
  const pattern = new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"[^}]*\\} (\\S+)$`);
  for (const line of text.split("\n")) {
    if (!line.includes(label)) continue;
    const match = pattern.exec(line);
    if (match) out[match[1]!] = (out[match[1]!] ?? 0) + Number(match[2]);
  }
  return out;
}

function cpuPressure(): string {
  try {
    return readFileSync("/proc/pressure/cpu", "utf8").split("\n")[0]!;
  } catch {
    return "unavailable";
  }
}

/** [ns on a CPU, ns runnable but waiting] of a process's main thread. */
function schedstat(pid: number): number[] {
  return readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(" ").map(Number);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), "palisade-live-tail-"));
  // The tree the server runs, taken before it starts (a commit made meanwhile is not in it).
  const commit = execFileSync("git", ["describe", "--always", "--dirty"], { encoding: "utf8" }).trim();
  const traffic = await loadTraffic(dir);
  const checks = traffic.filter((t) => t.event.kind === "check").length;
  process.stdout.write(
    `${checks} Checks and ${traffic.length - checks} access-log entries, ${round(traffic.at(-1)!.dueMs / 60_000, 1)} minutes of wall time at ${SPEED}× ` +
      `(${round((traffic.at(-1)!.event.timeMs - traffic[0]!.event.timeMs) / 60_000, 1)} minutes of event time)\n`,
  );
  const policy = join(dir, "policy.yaml");
  const policyText = readFileSync(examplePolicyPath, "utf8");
  copyFileSync(examplePolicyPath, policy);
  const probeFile = join(dir, "probe.jsonl");
  const profileDir = join(dir, "profile");
  const logLines: { at: number; msg: string; level: string }[] = [];
  const nodeOutput: string[] = [];
  const redis = await startPinnedRedis();
  await redis.inspector.config("SET", "latency-monitor-threshold", String(REDIS_LATENCY_MS));
  const server = await startPalisadeProcess(redis.url, {
    args: ["--trust-event-time", "--policy", policy],
    env: { BENCH_LOOP_PROBE_FILE: probeFile },
    preload: ["./bench/loop-probe.ts"],
    nodeArgs: [...NODE_ARGS, ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, "--cpu-prof-interval=1000"] : [])],
    onLine: (line) => {
      try {
        // Palisade logs ISO timestamps and level names.
        const entry = JSON.parse(line) as { time?: string | number; msg?: string; level?: string | number };
        const at = typeof entry.time === "string" ? Date.parse(entry.time) : entry.time;
        if (entry.msg !== "decided" && at !== undefined && !Number.isNaN(at)) logLines.push({ at, msg: entry.msg ?? "", level: String(entry.level ?? "") });
      } catch {
        nodeOutput.push(line);
      }
    },
  });
  const services = palisadeServices();
  const address = `127.0.0.1:${server.grpcPort}`;
  const authz = new services.authorization.Client(address, grpc.credentials.createInsecure()) as unknown as CheckClient;
  const logClient = new services.accessLog.Client(address, grpc.credentials.createInsecure()) as unknown as AccessLogClient;
  await new Promise<void>((resolve, reject) => authz.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
  let streamError: grpc.ServiceError | null = null;
  const logStream = logClient.StreamAccessLogs((error) => (streamError = error));
  logStream.on("error", () => undefined);

  const samples: Sample[] = [];
  const verdicts = new Map<string, Verdict>();
  const clientDelay = monitorEventLoopDelay({ resolution: 5 });
  clientDelay.enable();
  // The load generator's own stalls, told apart like the server's: running, or waiting for its CPU.
  const clientStalls: { at: number; ms: number; cpuMs: number; waitMs: number }[] = [];
  let lastTick = performance.now();
  let [lastCpu, lastWait] = schedstat(process.pid);
  const clientTick = setInterval(() => {
    const now = performance.now();
    const [onCpu, waiting] = schedstat(process.pid) as [number, number];
    if (now - lastTick > 12) clientStalls.push({ at: Math.round(performance.timeOrigin + lastTick), ms: round(now - lastTick, 1), cpuMs: round((onCpu - lastCpu!) / 1e6, 1), waitMs: round((waiting - lastWait!) / 1e6, 1) });
    lastTick = now;
    lastCpu = onCpu;
    lastWait = waiting;
  }, 2);
  const loads: { at: number; load: number; pressure: string }[] = [];
  const scrape = async () => (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
  const before = { cpu: processCpuSeconds(server.pid), sched: schedstat(server.pid), redisCpu: processCpuSeconds(redis.pid) };
  const scrapeBefore = await scrape();
  const histogramBefore = histogram(scrapeBefore, "palisade_decision_duration_seconds", 'transport="authz"');
  const loopBefore = histogram(scrapeBefore, "palisade_event_loop_delay_seconds");

  let reloads = 0;
  const reload = setInterval(() => {
    reloads++;
    writeFileSync(policy, policyText.replace(/version: "([^"]+)"/, `version: "$1-live-${reloads}"`));
  }, RELOAD_MS);
  const scraper = setInterval(() => {
    loads.push({ at: Date.now(), load: round(os.loadavg()[0]!, 2), pressure: cpuPressure() });
    scrape().catch(() => undefined);
  }, SCRAPE_MS);

  const started = performance.now();
  const startedAt = Date.now();
  let inFlight = 0;
  let next = 0;
  let lastReport = started;
  await new Promise<void>((resolve) => {
    const maybeDone = () => next >= traffic.length && inFlight === 0 && resolve();
    const pump = () => {
      const elapsed = performance.now() - started;
      while (next < traffic.length && traffic[next]!.dueMs <= elapsed) {
        const { event } = traffic[next++]!;
        if (event.kind === "check") {
          inFlight++;
          const id = event.request.attributes?.request?.http?.id;
          const sentAt = Date.now();
          const sent = performance.now();
          authz.Check(event.request, { deadline: Date.now() + CHECK_DEADLINE_MS }, (error, response) => {
            const ms = performance.now() - sent;
            inFlight--;
            const sample: Sample = { at: sentAt, ms, scenario: event.scenario, path: event.request.attributes?.request?.http?.path ?? "" };
            if (error) sample.error = error.message.slice(0, 100);
            else if (id) verdicts.set(id, verdictOf(response));
            samples.push(sample);
            maybeDone();
          });
        } else if (event.kind === "access_log") {
          const id = event.entry.request?.request_id;
          const verdict = id ? verdicts.get(id) : undefined;
          if (id) verdicts.delete(id);
          logStream.write({ http_logs: { log_entry: [asLogged(event.entry, verdict)] } });
        }
      }
      if (performance.now() - lastReport > 60_000) {
        lastReport = performance.now();
        const slow = samples.filter((s) => s.ms > SLOW_MS).length;
        process.stderr.write(`${round((lastReport - started) / 60_000, 1)} min: ${samples.length} Checks answered, ${slow} above ${SLOW_MS} ms, load ${os.loadavg()[0]!.toFixed(1)}\n`);
      }
      if (next < traffic.length) setTimeout(pump, Math.max(0, Math.min(20, traffic[next]!.dueMs - (performance.now() - started) - 1)));
      else maybeDone();
    };
    pump();
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(reload);
  clearInterval(scraper);
  clearInterval(clientTick);
  clientDelay.disable();
  logStream.end();
  const after = { cpu: processCpuSeconds(server.pid), sched: schedstat(server.pid), redisCpu: processCpuSeconds(redis.pid) };
  const finalScrape = await scrape();
  const histogramAfter = histogram(finalScrape, "palisade_decision_duration_seconds", 'transport="authz"');
  const loopAfter = histogram(finalScrape, "palisade_event_loop_delay_seconds");
  const redisLatency = await redisLatencyEvents(redis.inspector);
  authz.close();
  logClient.close();
  await server.stop();
  await redis.stop();

  const stamp = new Date(startedAt).toISOString().replace(/[:.]/g, "-");
  const base = join(repoRoot, `bench/results/live-tail-${stamp}`);
  mkdirSync(join(repoRoot, "bench/results"), { recursive: true });
  let profileFile: string | undefined;
  if (PROFILE) {
    const name = readdirSync(profileDir).find((f) => f.endsWith(".cpuprofile"));
    if (name) copyFileSync(join(profileDir, name), (profileFile = `${base}.cpuprofile`));
  }
  const raw: Raw = {
    date: new Date(startedAt).toISOString(),
    commit,
    speed: SPEED,
    seconds,
    startedAt,
    checks,
    accessLogEntries: traffic.length - checks,
    policyReloads: reloads,
    streamError: (streamError as grpc.ServiceError | null)?.message,
    loads: [...loads, { at: Date.now(), load: round(os.loadavg()[0]!, 2), pressure: cpuPressure() }],
    server: {
      cpuSeconds: after.cpu - before.cpu,
      waitingSeconds: (after.sched[1]! - before.sched[1]!) / 1e9,
      redisCpuSeconds: after.redisCpu - before.redisCpu,
      histogram: Object.fromEntries(Object.entries(histogramAfter).map(([le, count]) => [le, count - (histogramBefore[le] ?? 0)])),
      exportedLagMaxSeconds: /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(finalScrape)?.[1],
      loopDelayHistogram: Object.fromEntries(Object.entries(loopAfter).map(([le, count]) => [le, count - (loopBefore[le] ?? 0)])),
    },
    samples,
    stalls: readProbe<Stall>(probeFile, "stall").filter((s) => s.at >= startedAt),
    gcs: readProbe<Gc>(probeFile, "gc").filter((g) => g.at >= startedAt),
    serverSeconds: readProbe<Second>(probeFile, "second").filter((s) => s.at >= startedAt),
    clientStalls,
    redisLatency,
    clientDelayP99Ms: round(clientDelay.percentile(99) / 1e6, 1),
    logLines: logLines.filter((l) => l.at >= startedAt),
  };
  writeFileSync(`${base}.raw.json`, JSON.stringify(raw));
  if (nodeOutput.length > 0) writeFileSync(`${base}.node-output.txt`, `${nodeOutput.join("\n")}\n`);
  rmSync(dir, { recursive: true, force: true });
  report(raw, profileFile, `${base}.json`);
}

/** One second in which Redis ran a command for `ms` (its longest that second); `at` is the second's start, ms since the epoch. */
interface RedisLatency {
  event: string;
  at: number;
  ms: number;
}

/** What Redis's latency monitor kept (up to 160 seconds per event, the most recent). */
async function redisLatencyEvents(inspector: BenchRedis["inspector"]): Promise<RedisLatency[]> {
  const latest = (await inspector.call("LATENCY", "LATEST")) as [string, number, number, number][];
  const out: RedisLatency[] = [];
  for (const [event] of latest) {
    const history = (await inspector.call("LATENCY", "HISTORY", event)) as [number, number][];
    for (const [seconds, ms] of history) out.push({ event, at: seconds * 1000, ms });
  }
  return out;
}

interface Raw {
  date: string;
  commit: string;
  speed: number;
  seconds: number;
  startedAt: number;
  checks: number;
  accessLogEntries: number;
  policyReloads: number;
  streamError?: string;
  loads: { at: number; load: number; pressure: string }[];
  server: {
    cpuSeconds: number;
    waitingSeconds: number;
    redisCpuSeconds: number;
    histogram: Record<string, number>;
    exportedLagMaxSeconds?: string;
    /** palisade_event_loop_delay_seconds over the replay (absent in runs before it existed). */
    loopDelayHistogram?: Record<string, number>;
  };
  samples: Sample[];
  stalls: Stall[];
  gcs: Gc[];
  serverSeconds: Second[];
  clientStalls: { at: number; ms: number; cpuMs: number; waitMs: number }[];
  /** Redis's latency monitor: the longest command of each second that had one over REDIS_LATENCY_MS (absent in earlier runs). */
  redisLatency?: RedisLatency[];
  clientDelayP99Ms: number;
  logLines: { at: number; msg: string; level: string }[];
}

function report(raw: Raw, profileFile: string | undefined, out: string): void {
  const { samples, clientStalls, logLines } = raw;
  // The replay's window only: the server's shutdown afterwards (closing its stores) is not serving.
  const endAt = raw.startedAt + raw.seconds * 1000;
  const stalls = raw.stalls.filter((s) => s.at <= endAt);
  const gcs = raw.gcs.filter((g) => g.at <= endAt);
  const profile = profileFile ? indexProfile(JSON.parse(readFileSync(profileFile, "utf8")) as CpuProfile) : undefined;
  const running = new Map<Stall, { name: string; ms: number }[]>();
  const runningIn = (x: Stall) => {
    if (!profile) return undefined;
    let found = running.get(x);
    if (!found) running.set(x, (found = profileFunctions(profile, x.mono, x.mono + x.ms * 1000)));
    return found;
  };
  const own = (s: Stall) => stallKind(s) === "own";
  const overlapping = <T extends { at: number; ms: number }>(list: T[], from: number, to: number) => list.filter((x) => x.at < to && x.at + x.ms > from);
  const latencies = samples.map((s) => s.ms).sort((a, b) => a - b);
  const slow = samples.filter((s) => s.ms > SLOW_MS).sort((a, b) => b.ms - a.ms);
  const causes: Record<string, number> = {};
  const slowDetail = slow.map((s, rank) => {
    const from = s.at;
    const to = s.at + s.ms;
    const serverStalls = overlapping(stalls, from, to);
    const gcPauses = overlapping(gcs, from, to);
    const clientSide = overlapping(clientStalls, from, to);
    const logs = logLines.filter((l) => l.at >= from - 1000 && l.at <= to);
    // Each overlapping stall counts for the part of it inside the Check's time; the cause is
    // whichever took most of it: the server's own work, its GC, its wait for a CPU, or the load
    // generator's wait for its CPU.
    const share = (x: { at: number; ms: number }) => (Math.min(to, x.at + x.ms) - Math.max(from, x.at)) / x.ms;
    const gcMs = gcPauses.reduce((sum, g) => sum + g.ms * share(g), 0);
    // The monitor keeps a second's longest command only, so it counts for at most the Check's time.
    const redisMs = Math.min(s.ms, Math.max(0, ...(raw.redisLatency ?? []).filter((r) => r.at < to && r.at + 1000 > from).map((r) => r.ms)));
    const parts: [string, number][] = [
      ["server's own work", Math.max(0, serverStalls.reduce((sum, x) => sum + x.cpuMs * share(x), 0) - gcMs)],
      ["server's GC", gcMs],
      ["server waiting for a CPU", serverStalls.reduce((sum, x) => sum + x.waitMs * share(x), 0)],
      ["load generator waiting for a CPU", clientSide.reduce((sum, c) => sum + c.waitMs * share(c), 0)],
      ["a slow Redis command", redisMs],
    ];
    const [largest, largestMs] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
    // The server's own work is named by what ran most in its stalls when there is a profile.
    const ownWork = largest === "server's own work" ? serverStalls.filter(own).flatMap((x) => runningIn(x) ?? [])[0]?.name : undefined;
    const cause = largestMs > 0 ? (ownWork ? `${largest}: ${ownWork}` : largest) : "no stall over 10 ms seen (network, or shorter stalls)";
    causes[cause] = (causes[cause] ?? 0) + 1;
    return {
      at: new Date(s.at).toISOString(),
      ms: round(s.ms, 1),
      scenario: s.scenario,
      path: s.path.slice(0, 60),
      cause,
      partsMs: Object.fromEntries(parts.map(([name, ms]) => [name, round(ms, 1)])),
      serverStalls: serverStalls.map((x) => ({ ms: x.ms, cpuMs: x.cpuMs, waitMs: x.waitMs, ...(rank < 40 && own(x) ? { running: runningIn(x) } : {}) })),
      gc: gcPauses.map((g) => `${g.kind} ${g.ms} ms`),
      clientStalls: clientSide.map((c) => `${c.ms} ms (${c.cpuMs} on a CPU, ${c.waitMs} waiting)`),
      logs: logs.map((l) => l.msg),
      ...(s.error ? { error: s.error } : {}),
    };
  });
  const ownStalls = stalls.filter(own).sort((a, b) => b.ms - a.ms);
  const loads = raw.loads.map((l) => l.load);
  const kinds = stalls.reduce<Record<string, number>>((acc, x) => ((acc[stallKind(x)] = (acc[stallKind(x)] ?? 0) + 1), acc), {});
  const results = {
    date: raw.date,
    commit: raw.commit,
    speed: raw.speed,
    wallMinutes: round(raw.seconds / 60, 1),
    checks: samples.length,
    accessLogEntries: raw.accessLogEntries,
    errors: samples.filter((s) => s.error).length,
    policyReloads: raw.policyReloads,
    streamError: raw.streamError,
    loadAverage: { start: loads[0], min: Math.min(...loads), max: Math.max(...loads), end: loads.at(-1) },
    cpuPressure: [raw.loads[0]?.pressure, raw.loads.at(-1)?.pressure],
    clientMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), p999: percentile(latencies, 0.999), max: round(latencies.at(-1) ?? 0, 1) },
    above: Object.fromEntries([20, 50, 100, 200].map((ms) => [`${ms}ms`, samples.filter((s) => s.ms > ms).length])),
    serverHistogram: raw.server.histogram,
    server: {
      cpuMicrosPerCheck: Math.round((raw.server.cpuSeconds * 1e6) / Math.max(1, samples.length)),
      cpuShare: round(raw.server.cpuSeconds / raw.seconds, 3),
      mainThreadWaitingShare: round(raw.server.waitingSeconds / raw.seconds, 3),
      redisCpuMicrosPerCheck: Math.round((raw.server.redisCpuSeconds * 1e6) / Math.max(1, samples.length)),
      busiestSecond: raw.serverSeconds.reduce<Second | undefined>((worst, s) => (!worst || s.cpuMs > worst.cpuMs ? s : worst), undefined),
      maxHeapMiB: Math.max(0, ...raw.serverSeconds.map((s) => s.heapMiB)),
      maxRssMiB: Math.max(0, ...raw.serverSeconds.map((s) => s.rssMiB ?? 0)),
    },
    eventLoop: {
      stallsOver10ms: stalls.length,
      byKind: kinds,
      maxMs: round(Math.max(0, ...stalls.map((s) => s.ms)), 1),
      maxOwnMs: round(ownStalls[0]?.ms ?? 0, 1),
      worstOwn: ownStalls.slice(0, 10).map((x) => ({
        at: new Date(x.at).toISOString(),
        ms: x.ms,
        cpuMs: x.cpuMs,
        waitMs: x.waitMs,
        gc: overlapping(gcs, x.at, x.at + x.ms).map((g) => `${g.kind} ${g.ms} ms`),
        running: runningIn(x),
      })),
      exportedLagMaxSeconds: raw.server.exportedLagMaxSeconds,
      exportedDelayHistogram: raw.server.loopDelayHistogram,
    },
    gc: {
      pausesOver2ms: gcs.length,
      maxMs: Math.max(0, ...gcs.map((g) => g.ms)),
      over10ms: gcs.filter((g) => g.ms > 10).length,
      byKind: Object.fromEntries(
        [...new Set(gcs.map((g) => g.kind))].map((kind) => {
          const ms = gcs.filter((g) => g.kind === kind).map((g) => g.ms).sort((a, b) => a - b);
          return [kind, { pauses: ms.length, sumMs: Math.round(ms.reduce((a, b) => a + b, 0)), medianMs: percentile(ms, 0.5), maxMs: ms.at(-1), over10ms: ms.filter((m) => m > 10).length }];
        }),
      ),
      ...majorCollections(samples, gcs, raw.serverSeconds),
    },
    clientEventLoop: {
      stallsOver12ms: clientStalls.length,
      waitingForCpu: clientStalls.filter((c) => c.waitMs > c.cpuMs).length,
      maxMs: round(Math.max(0, ...clientStalls.map((c) => c.ms)), 1),
      p99Ms: raw.clientDelayP99Ms,
    },
    serverLog: Object.entries(logLines.reduce<Record<string, number>>((acc, l) => ((acc[l.msg] = (acc[l.msg] ?? 0) + 1), acc), {})),
    slowThresholdMs: SLOW_MS,
    redisLatency: raw.redisLatency && { seconds: raw.redisLatency.length, maxMs: Math.max(0, ...raw.redisLatency.map((r) => r.ms)) },
    slowCauses: causes,
    slowChecks: slowDetail.slice(0, 40),
  };
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const { slowChecks, ...summary } = results;
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\nslowest Checks:\n${slowChecks.slice(0, 15).map((s) => JSON.stringify(s)).join("\n")}\nwritten ${out}\n`);
}

/**
 * How much of the tail the major collections explain. A major collection marks and sweeps on
 * helper threads before its final pause: `aroundMajorMs` counts a Check whose major's pause
 * began while it was in flight or at most that long after it was sent (the marking ran then). Each second with a major
 * is set against the others by the server's CPU on threads other than the main one and the main
 * thread's wait for a CPU (medians): where the server has one CPU, the helpers take it.
 */
function majorCollections(samples: Sample[], gcs: Gc[], seconds: Second[]) {
  const aroundMajorMs = 300;
  const majors = gcs.filter((g) => g.kind === "major").map((g) => g.at);
  const nearMajor = (s: Sample) => majors.some((at) => at >= s.at && at <= s.at + Math.max(s.ms, aroundMajorMs));
  const over = (ms: number) => {
    const slow = samples.filter((s) => s.ms > ms);
    return `${slow.filter(nearMajor).length} of ${slow.length}`;
  };
  const withMajor = (s: Second) => majors.some((at) => at > s.at - 1000 && at <= s.at);
  const medians = (list: Second[]) => ({
    seconds: list.length,
    otherThreadsCpuMs: percentile(list.map((s) => s.cpuMs - s.mainCpuMs).sort((a, b) => a - b), 0.5),
    mainWaitMs: percentile(list.map((s) => s.mainWaitMs).sort((a, b) => a - b), 0.5),
  });
  return {
    majors: majors.length,
    checksNearAMajor: { all: over(-1), over50ms: over(50), over100ms: over(100), aroundMajorMs },
    secondsWithAMajor: medians(seconds.filter(withMajor)),
    secondsWithout: medians(seconds.filter((s) => !withMajor(s))),
  };
}

const again = process.env.BENCH_LIVE_ANALYSE;
(again ? Promise.resolve(report(JSON.parse(readFileSync(again, "utf8")) as Raw, process.env.BENCH_LIVE_PROFILE_FILE, again.replace(/\.raw\.json$/, ".json"))) : main()).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`live-tail failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
