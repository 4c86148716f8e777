/**
 * Where a Palisade server's CPU goes per Check, by `perf` sampling CPU time (the `cpu-clock`
 * software event, which samples a thread only while it runs), not V8's profiler, whose samples
 * are wall-clock: on a loaded machine those charge a function for the time its process waited
 * for a CPU, and a socket write for the Redis it woke on the same CPU.
 *
 *   BENCH_TREES='[{"name":"land","cwd":"/path/to/land"},{"name":"here"}]' npx tsx bench/cpu-samples.ts
 *
 * Each tree runs `palisade serve` with `--perf-basic-prof` (JIT code named in /tmp/perf-<pid>.map)
 * on its own Redis database, pinned like the bench; all are warmed in turns (BENCH_WARMUP_REQUESTS,
 * default 8,000), then each in turn is loaded with BENCH_CALLS Checks (default 6,000) while
 * `perf record` samples the server's threads. Prints per tree the CPU µs per Check by area (our
 * source folders, packages, node's internals, V8 and the kernel) and the heaviest symbols
 * (BENCH_TOP, default 40). Needs `perf` and permission to sample (root here).
 */
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { repoRoot } from "../test/support/policies.js";
import { upstreamAuthzClient } from "./noop.js";
import { startPalisadeProcess, startPinnedRedis, type ServerProcess } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

interface Tree {
  name: string;
  cwd?: string;
}

const trees = JSON.parse(process.env.BENCH_TREES ?? '[{"name":"here"}]') as Tree[];
const CALLS = Number(process.env.BENCH_CALLS ?? 6_000);
const WARMUP = Number(process.env.BENCH_WARMUP_REQUESTS ?? 8_000);
const TOP = Number(process.env.BENCH_TOP ?? 40);
const FREQUENCY = 4_000;
/** BENCH_CALLERS_OF=<regular expression>: also the innermost JavaScript functions under which matching symbols ran. */
const CALLERS_OF = process.env.BENCH_CALLERS_OF ? new RegExp(process.env.BENCH_CALLERS_OF) : undefined;

async function drive(call: (n: number) => Promise<unknown>, count: number, offset: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < count) await call(offset + next++).catch(() => undefined);
  }));
}

/** The area a symbol belongs to: a source folder, a package, node's internals, V8, the kernel. */
function areaOf(symbol: string, dso: string): string {
  const file = /(?:file:\/\/)?(\/[^ :]+\.(?:ts|js|mjs|cjs)|node:[\w/]+)/.exec(symbol)?.[1];
  if (file) {
    const pkg = /node_modules\/(@[^/]+\/[^/]+|[^/]+)\//.exec(file);
    if (pkg) return pkg[1]!;
    const own = /\/src\/(.+)\/[^/]+$/.exec(file);
    if (own) return `src/${own[1]!.split("/").slice(0, own[1]!.startsWith("transport") || own[1]!.startsWith("state") ? 3 : 1).join("/")}`;
    if (file.startsWith("node:")) return file.split("/").slice(0, 2).join("/");
    return file;
  }
  if (dso.includes("kernel")) return "kernel";
  if (/^(Builtin|Bytecode|Stub|Handler|RegExp):/.test(symbol)) return "V8 builtins";
  if (/^v8::internal::(Heap|Scavenger|MarkCompact|Mark|Sweep|Concurrent|Minor|Page|Memory|GC|.*Marking)/.test(symbol) || /Scaveng|Marking|Sweeper|Evacuat/.test(symbol)) return "V8 GC";
  if (dso.includes("node") || symbol.startsWith("v8::") || symbol.startsWith("node::")) return `native (${dso.split("/").pop()})`;
  return dso.split("/").pop() || "?";
}

/** The innermost JavaScript function on a stack (else the sampled symbol): where builtins, runtime calls and allocation are charged. */
function ownerOf(frames: { symbol: string; dso: string }[]): { symbol: string; dso: string } {
  return frames.find((frame) => frame.symbol.startsWith("JS:")) ?? frames[0]!;
}

/** Our own functions on a stack, each once: what they cost with all they call. */
function ownFunctions(frames: { symbol: string }[]): Set<string> {
  return new Set(frames.filter((frame) => frame.symbol.startsWith("JS:") && frame.symbol.includes("/src/") && !frame.symbol.includes("node_modules")).map((frame) => frame.symbol));
}

async function sample(server: ServerProcess, call: (n: number) => Promise<unknown>, offset: number, name: string): Promise<void> {
  const data = `/tmp/cpu-samples-${server.pid}.data`;
  const recorder = spawn("perf", ["record", "-q", "-g", "-e", "cpu-clock", "-F", String(FREQUENCY), "-p", String(server.pid), "-o", data], { stdio: "ignore" });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await drive(call, CALLS, offset);
  const stopped = new Promise((resolve) => recorder.on("exit", resolve));
  recorder.kill("SIGINT");
  await stopped;
  const script = execFileSync("perf", ["script", "-i", data, "-F", "tid,period,ip,sym,dso"], { maxBuffer: 1 << 30 }).toString();
  const bySelf = new Map<string, number>();
  const byOwner = new Map<string, number>();
  const byArea = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const callers = new Map<string, number>();
  let total = 0;
  const add = (map: Map<string, number>, key: string, ns: number) => map.set(key, (map.get(key) ?? 0) + ns);
  for (const block of script.split("\n\n")) {
    const lines = block.split("\n").filter((line) => line.trim() !== "");
    if (lines.length === 0) continue;
    const ns = Number(/\s(\d+)\s*$/.exec(lines[0]!)?.[1] ?? /\s(\d+)\s/.exec(lines[0]!)?.[1]);
    if (!Number.isFinite(ns)) continue;
    const frames = lines.slice(1).map((line) => {
      const match = /^\s*[0-9a-f]+\s+(.*)\s+\(([^)]*)\)\s*$/.exec(line);
      return { symbol: (match?.[1] ?? line.trim()).replace(/\+0x[0-9a-f]+$/, ""), dso: match?.[2] ?? "" };
    });
    if (frames.length === 0) continue;
    total += ns;
    const self = frames[0]!;
    const gc = /Scaveng|MarkCompact|Marking|Sweep|Evacuat|Heap::CollectGarbage|MinorMC/.test(self.symbol) || frames.some((frame) => /Heap::CollectGarbage|ScavengerCollector|MarkCompactCollector::Collect/.test(frame.symbol));
    const owner = gc ? { symbol: "(V8 GC)", dso: "" } : ownerOf(frames);
    const short = (symbol: string) => symbol.replace(/file:\/\/\S*?\/(src|node_modules)\//, "$1/");
    add(bySelf, short(self.symbol), ns);
    for (const own of ownFunctions(frames)) add(inclusive, short(own), ns);
    add(byOwner, short(owner.symbol), ns);
    if (CALLERS_OF?.test(self.symbol)) add(callers, `${short(self.symbol).slice(0, 40)} < ${short(ownerOf(frames).symbol)}`, ns);
    add(byArea, gc ? "V8 GC" : owner === frames[0] && !owner.symbol.startsWith("JS:") ? areaOf(self.symbol, self.dso) : areaOf(owner.symbol, owner.dso), ns);
  }
  const us = (ns: number) => (ns / 1000 / CALLS).toFixed(2).padStart(7);
  process.stdout.write(`\n${name}: ${us(total)} µs of sampled CPU per Check (${CALLS} Checks, load average ${os.loadavg()[0]!.toFixed(2)})\n`);
  for (const [area, ns] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, 30)) process.stdout.write(`${us(ns)}  ${area}\n`);
  process.stdout.write("  -- our functions with all they call\n");
  for (const [symbol, ns] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, TOP)) process.stdout.write(`${us(ns)}  ${symbol.slice(0, 150)}\n`);
  process.stdout.write("  -- by the innermost JavaScript function (builtins and runtime calls included)\n");
  for (const [symbol, ns] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, TOP)) process.stdout.write(`${us(ns)}  ${symbol.slice(0, 150)}\n`);
  if (CALLERS_OF) {
    process.stdout.write(`  -- ${CALLERS_OF.source} by caller\n`);
    for (const [symbol, ns] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, TOP)) process.stdout.write(`${us(ns)}  ${symbol.slice(0, 200)}\n`);
  }
  process.stdout.write("  -- by sampled symbol\n");
  for (const [symbol, ns] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, TOP)) process.stdout.write(`${us(ns)}  ${symbol.slice(0, 150)}\n`);
}

const redis = await startPinnedRedis();
const servers: ServerProcess[] = [];
try {
  for (const [i, tree] of trees.entries()) servers.push(await startPalisadeProcess(`${redis.url}/${i}`, { nodeArgs: ["--perf-basic-prof"], ...(tree.cwd ? { cwd: tree.cwd } : {}) }));
  const clients = servers.map((server) => upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`));
  const calls = clients.map((client) => (n: number) => client.check(storefrontRequest(n, Date.now())));
  for (let done = 0; done < WARMUP; done += 1_000) for (const call of calls) await drive(call, 1_000, done);
  for (const [i, call] of calls.entries()) await sample(servers[i]!, call, WARMUP, trees[i]!.name);
  for (const client of clients) client.close();
} finally {
  for (const server of servers) await server.stop();
  await redis.stop();
  // --perf-basic-prof also has V8 write an isolate log into the checkout: not kept.
  for (const [i, server] of servers.entries()) {
    const cwd = trees[i]!.cwd ?? repoRoot;
    for (const name of readdirSync(cwd)) if (name.startsWith("isolate-") && name.endsWith(`-${server.pid}-v8.log`)) rmSync(join(cwd, name));
    rmSync(`/tmp/cpu-samples-${server.pid}.data`, { force: true });
    rmSync(`/tmp/perf-${server.pid}.map`, { force: true });
  }
}
process.exit(0);
