import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "../test/support/policies.js";
import { Redis } from "ioredis";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { PINNING, pinnedCommand, pinProcess } from "./pin.js";

export interface ServerProcess {
  grpcPort: number;
  /** With `workers` above 1: the workers' process ids (`pid` is then the primary's). */
  workerPids?: number[];
  /** The admin HTTP port (Palisade only). */
  adminPort?: number;
  pid: number;
  /** process.hrtime.bigint() when the server said it was ready. */
  readyAt: bigint;
  stop(): Promise<void>;
}

export interface BenchRedis {
  url: string;
  port: number;
  pid: number;
  /** A connection for INFO (command statistics). */
  inspector: Redis;
  stop(): Promise<void>;
}

/**
 * The bench's own redis-server, pinned to the servers' CPU, with this process (the load
 * generator) pinned to the other.
 */
export async function startPinnedRedis(): Promise<BenchRedis> {
  if (PINNING) pinProcess(process.pid, PINNING.client);
  const redis = await startRedisServer();
  const inspector = new Redis(redis.port, "127.0.0.1");
  const pid = Number(/process_id:(\d+)/.exec(await inspector.info("server"))?.[1]);
  if (PINNING) pinProcess(pid, PINNING.servers);
  return {
    url: redis.url,
    port: redis.port,
    pid,
    inspector,
    stop: async () => {
      inspector.disconnect();
      await redis.stop();
    },
  };
}

export interface PalisadeOptions {
  /** More `palisade serve` flags, e.g. `--ratelimit-compat envoyproxy`. */
  args?: string[];
  /** More environment, e.g. PALISADE_WARM_UP_DECISIONS. */
  env?: Record<string, string>;
  /** Another checkout to run (BENCH_BASELINE_TREE: an earlier commit, measured in the same run). */
  cwd?: string;
  /** `--workers N`: ready once every worker is, their pids reported. */
  workers?: number;
  /** false: not pinned to the servers' CPU (several workers need every core). */
  pin?: boolean;
  /** Flags for node itself, before the script (e.g. V8's `--max-semi-space-size=16`). */
  nodeArgs?: string[];
  /** Modules loaded into the server before it starts (`--import`, after tsx): bench probes. */
  preload?: string[];
  /** Run the checkout's compiled build (`dist/`, as the image does) rather than its sources under tsx. */
  compiled?: boolean;
  /** Told every line the server writes to stdout (its JSON log), after it is ready too. */
  onLine?: (line: string) => void;
}

/**
 * Servers run in their own processes, as they would in production, pinned to the servers' CPU:
 * the load generator must not share the server's event loop or core, or the benchmark measures
 * the two together.
 */
export function startPalisadeProcess(redisUrl: string, options: PalisadeOptions = {}): Promise<ServerProcess> {
  const workers = options.workers ?? 1;
  const cwd = options.cwd ?? repoRoot;
  if (options.compiled) buildOnce(cwd);
  const args = [options.compiled ? "dist/src/cli/index.js" : "src/cli/index.ts", "serve", "--grpc-port", "0", "--admin-port", "0", "--redis-url", redisUrl, ...(workers > 1 ? ["--workers", String(workers)] : []), ...(options.args ?? [])];
  const ready: { pid: number; grpcPort: number; adminPort?: number }[] = [];
  return startProcess(
    args,
    options.env ?? {},
    cwd,
    (line) => {
      const entry = JSON.parse(line) as { msg?: string; pid: number; grpcPort?: number; adminPort?: number };
      if (entry.msg === "palisade ready") ready.push({ pid: entry.pid, grpcPort: entry.grpcPort!, adminPort: entry.adminPort });
      if (workers === 1) return ready[0];
      return entry.msg === "palisade workers ready" ? { ...ready[0]!, workerPids: ready.map((worker) => worker.pid) } : undefined;
    },
    options.pin ?? true,
    options.nodeArgs ?? [],
    options.preload ?? [],
    options.onLine,
    !options.compiled,
  );
}

const built = new Set<string>();

/** `npm run build` of a checkout, once per bench process: the compiled server is what ships. */
function buildOnce(cwd: string): void {
  if (built.has(cwd)) return;
  execFileSync(process.execPath, [join(cwd, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd, stdio: "inherit" });
  built.add(cwd);
}

/** `options` as for Palisade: env, preload and onLine carry a bench probe into the baseline too. */
export function startNoopProcess(options: Pick<PalisadeOptions, "env" | "preload" | "onLine"> = {}): Promise<ServerProcess> {
  return startProcess(
    ["bench/noop-server.ts"],
    options.env ?? {},
    repoRoot,
    (line) => (line.startsWith("port ") ? { grpcPort: Number(line.slice(5)) } : undefined),
    true,
    [],
    options.preload ?? [],
    options.onLine,
  );
}

function startProcess(
  args: string[],
  extraEnv: Record<string, string>,
  cwd: string,
  ready: (line: string) => { grpcPort: number; adminPort?: number; workerPids?: number[] } | undefined,
  pin = true,
  nodeFlags: readonly string[] = [],
  preload: readonly string[] = [],
  onLine?: (line: string) => void,
  underTsx = true,
): Promise<ServerProcess> {
  // BENCH_PROFILE=1 writes a CPU profile of each server (node --cpu-prof) for `Where is the time`.
  const profile = process.env.BENCH_PROFILE === "1" ? ["--cpu-prof", "--cpu-prof-dir=bench/results/profiles"] : [];
  const loader = underTsx || preload.length > 0 ? ["--import", "tsx"] : [];
  const nodeArgs = [...profile, ...nodeFlags, ...loader, ...preload.flatMap((module) => ["--import", module]), ...args];
  const [command, commandArgs] = pin ? pinnedCommand(process.execPath, nodeArgs) : [process.execPath, nodeArgs];
  const child: ChildProcess = spawn(command, commandArgs, {
    cwd,
    env: { ...process.env, PALISADE_LOG_LEVEL: "info", PALISADE_GRPC_HOST: "127.0.0.1", PALISADE_ADMIN_HOST: "127.0.0.1", PALISADE_CHALLENGE_HOST: "127.0.0.1", PALISADE_CHALLENGE_PORT: "0", ...extraEnv },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      onLine?.(line);
      let ports: ReturnType<typeof ready>;
      try {
        ports = ready(line);
      } catch {
        return;
      }
      if (ports !== undefined) {
        resolve({
          grpcPort: ports.grpcPort,
          ...(ports.adminPort === undefined ? {} : { adminPort: ports.adminPort }),
          ...(ports.workerPids ? { workerPids: ports.workerPids } : {}),
          pid: child.pid!,
          readyAt: process.hrtime.bigint(),
          stop: async () => {
            child.kill("SIGTERM");
            await exited;
          },
        });
      }
    });
    child.on("exit", (code) => reject(new Error(`${args[0]} exited with ${code} before it was ready`)));
  });
}
