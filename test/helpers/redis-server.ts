/**
 * A private redis-server for integration tests: its own free port, no persistence, stopped when
 * the test process exits. With `REDIS_URL` set, tests use that server instead (CI services,
 * machines without the binary): each vitest worker takes a database of its own there, emptied
 * when a test file starts (so the server must be disposable), and since it cannot be stopped or
 * killed, tests that need a private server skip (see `privateRedisUnsupported`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

export interface RedisServerHandle {
  url: string;
  port: number;
  /** Graceful shutdown (SIGTERM); resolves once the process has exited. */
  stop(): Promise<void>;
  /** Starts the server again on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  /** Abrupt death (SIGKILL), as when a node or pod disappears; its data is lost. */
  kill(): Promise<void>;
}

export interface RedisServerOptions {
  /** A one-node Redis Cluster owning all 16384 slots, so Cluster clients can be tested. */
  cluster?: boolean;
  /** A Cluster node owning no slots yet, to be joined with others (see redis-topologies.ts). */
  clusterNode?: boolean;
  extraArgs?: string[];
}

/** Set when tests run against an external server they must not stop. */
export const externalRedisUrl = process.env.REDIS_URL || undefined;

/**
 * Why tests that stop, kill or reconfigure a server of their own (fault injection, Cluster,
 * Sentinel) must skip, or undefined when they can run. Use with `it.skipIf`.
 */
export const privateRedisUnsupported = externalRedisUrl
  ? "REDIS_URL is set: tests use that server and cannot start, stop or kill their own"
  : undefined;

if (privateRedisUnsupported) {
  console.warn(`[redis-server helper] skipping fault-injection, Cluster and Sentinel tests: ${privateRedisUnsupported}`);
}

const running = new Set<ChildProcess>();
const scratchDirs = new Set<string>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  if (externalRedisUrl) {
    const server = externalServer(externalRedisUrl);
    await (externalEmptied ??= emptyDatabase(server.url));
    return server;
  }
  const port = await freePort();
  const dir = scratchDir();
  const args = [
    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
    ...(options.cluster || options.clusterNode ? clusterArgs(dir) : []),
    ...(options.extraArgs ?? []),
  ];
  const server = new LocalProcess("redis-server", args, port);
  await server.start();
  if (options.cluster) await claimAllSlots(port);
  return {
    url: `${options.cluster ? "redis+cluster" : "redis"}://127.0.0.1:${port}`,
    port,
    start: () => server.start(),
    stop: () => server.signal("SIGTERM"),
    kill: () => server.signal("SIGKILL"),
  };
}

/**
 * A Sentinel watching the server on `masterPort` under `masterName` (quorum 1 unless given).
 * `extraConfig` lines follow the monitor line, e.g. `sentinel down-after-milliseconds …`.
 */
export async function startRedisSentinel(masterPort: number, masterName: string, options: { quorum?: number; extraConfig?: string[] } = {}): Promise<RedisServerHandle> {
  if (externalRedisUrl) throw new Error(`cannot start a Sentinel: ${privateRedisUnsupported}`);
  const port = await freePort();
  const config = join(scratchDir(), "sentinel.conf"); // Sentinel insists on a writable config file
  const lines = [`port ${port}`, "bind 127.0.0.1", `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} ${options.quorum ?? 1}`, ...(options.extraConfig ?? [])];
  writeFileSync(config, `${lines.join("\n")}\n`);
  const sentinel = new LocalProcess("redis-server", [config, "--sentinel"], port);
  await sentinel.start();
  return {
    url: `redis+sentinel://127.0.0.1:${port}/${masterName}`,
    port,
    start: () => sentinel.start(),
    stop: () => sentinel.signal("SIGTERM"),
    kill: () => sentinel.signal("SIGKILL"),
  };
}

/**
 * Test files run in parallel and some flush their database: on a shared external server each
 * vitest worker gets a database of its own (numbers 1–15; 0 is left to whoever else uses it),
 * unless the URL names one.
 */
function ownDatabase(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") return url;
  if (parsed.pathname.length > 1) return url;
  parsed.pathname = `/${1 + (Number(process.env.VITEST_POOL_ID ?? 0) % 15)}`;
  return parsed.toString();
}

/**
 * A test file's first call empties its database, once: a private server starts empty for each
 * file, and the external one must look the same, or one file's quarantines (kept an hour) and
 * counters decide the next file's requests. Files that run one after another in a worker share
 * its database; each test file runs in a process of its own, so this is once per file.
 */
let externalEmptied: Promise<void> | undefined;

async function emptyDatabase(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    await client.flushdb();
  } finally {
    client.disconnect();
  }
}

function externalServer(external: string): RedisServerHandle {
  const url = ownDatabase(external);
  const unsupported = (what: string) => async () => {
    throw new Error(`cannot ${what} the server: ${privateRedisUnsupported}`);
  };
  return {
    url,
    port: Number(new URL(url).port || 6379),
    start: async () => {},
    // Tests stop their server when they finish: the external one is not theirs to stop, and
    // cleanup must not fail. Stopping it as fault injection is what privateRedisUnsupported skips.
    stop: async () => {},
    kill: unsupported("kill"),
  };
}

/** One redis-server process that can be started again on the same port after it died. */
class LocalProcess {
  #child: ChildProcess | undefined;
  #output = "";

  constructor(
    private readonly command: string,
    private readonly args: string[],
    private readonly port: number,
  ) {}

  async start(): Promise<void> {
    if (this.#child) return;
    this.#output = "";
    const child = spawn(this.command, this.args, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-4_000); // the tail explains failures
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.once("exit", () => {
      running.delete(child);
      if (this.#child === child) this.#child = undefined;
    });
    this.#child = child;
    running.add(child);
    await this.#waitForPing();
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    await exited;
  }

  async #waitForPing(deadlineMs = 10_000): Promise<void> {
    const giveUpAt = Date.now() + deadlineMs;
    while (Date.now() < giveUpAt) {
      if (!this.#child) throw new Error(`${this.command} exited during start-up:\n${this.#output}`);
      if (await answersPing(this.port)) return;
      await sleep(25);
    }
    throw new Error(`${this.command} on port ${this.port} did not answer PING within ${deadlineMs} ms:\n${this.#output}`);
  }
}

async function answersPing(port: number): Promise<boolean> {
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function clusterArgs(dir: string): string[] {
  // A node that never met another does not know its own address and reports an empty one in
  // CLUSTER SLOTS, which clients cannot connect to: announce it.
  return ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--cluster-announce-ip", "127.0.0.1"];
}

async function claimAllSlots(port: number): Promise<void> {
  const admin = new Redis({ port, host: "127.0.0.1" });
  try {
    await admin.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
    while (!String(await admin.call("CLUSTER", "INFO")).includes("cluster_state:ok")) await sleep(25);
  } finally {
    admin.disconnect();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "palisade-redis-"));
  scratchDirs.add(dir);
  return dir;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
