/**
 * envoyproxy/ratelimit itself, as a live reference for tests and benchmarks: installed from the Go
 * module proxy by its module path (`go install …/src/service_cmd@<pinned version>`), cached
 * outside the repository, and started on free ports with a private configuration directory and
 * Redis. `.ci/run` installs it (scripts/install-envoy-ratelimit.ts) when it is missing.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../helpers/redis-server.js";

const run = promisify(execFile);

/**
 * The newest version the Go module proxy serves (its `@latest`, January 2026). It predates three
 * features of the current sources that Palisade implements: `metadata`, stars inside a value,
 * and quota_mode statuses that stay OVER_LIMIT; the comparison tests name where that matters.
 */
export const REFERENCE_MODULE = "github.com/envoyproxy/ratelimit";
export const REFERENCE_VERSION = "v1.4.1-0.20260122083618-3fb702589d36";

/** Where the binaries are kept: PALISADE_ENVOY_RATELIMIT_DIR, else the user's cache directory. */
export function referenceDir(): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return process.env.PALISADE_ENVOY_RATELIMIT_DIR || join(cache, "palisade", `envoy-ratelimit-${REFERENCE_VERSION}`);
}

const SERVICE = "service_cmd";
const CONFIG_CHECK = "config_check_cmd";

/** Why the reference cannot run here, or undefined when both binaries are installed. */
export function referenceMissing(): string | undefined {
  const missing = [SERVICE, CONFIG_CHECK].filter((name) => !existsSync(join(referenceDir(), name)));
  if (missing.length === 0) return undefined;
  return (
    `envoyproxy/ratelimit ${REFERENCE_VERSION} is not installed in ${referenceDir()} (missing ${missing.join(", ")}): ` +
    "run `npx tsx scripts/install-envoy-ratelimit.ts` (needs Go and the Go module proxy), as .ci/run does"
  );
}

/**
 * Why a test against the reference skips, or undefined when it runs. Only an explicit
 * PALISADE_SKIP_ENVOY_RATELIMIT=1 skips: a missing installation otherwise fails the test, so CI
 * never passes without having compared.
 */
export const referenceSkipped = process.env.PALISADE_SKIP_ENVOY_RATELIMIT === "1" ? "PALISADE_SKIP_ENVOY_RATELIMIT=1" : undefined;

/** Installs both binaries with `go install`; a no-op when they are there. */
export async function installReference(log: (line: string) => void = () => {}): Promise<void> {
  if (!referenceMissing()) return;
  mkdirSync(referenceDir(), { recursive: true });
  const packages = [SERVICE, CONFIG_CHECK].map((name) => `${REFERENCE_MODULE}/src/${name}@${REFERENCE_VERSION}`);
  log(`go install ${packages.join(" ")}`);
  await run("go", ["install", ...packages], { env: { ...process.env, GOBIN: referenceDir(), GOFLAGS: "-mod=mod" }, maxBuffer: 16 << 20 });
}

export interface ReferenceCheck {
  ok: boolean;
  output: string;
}

/**
 * Runs the reference's own config checker on `files` (loaded together, as from one directory):
 * they are linked, unchanged, into a scratch directory.
 */
export async function checkWithReference(files: readonly string[], options: { mergeDomains?: boolean } = {}): Promise<ReferenceCheck> {
  const dir = mkdtempSync(join(tmpdir(), "palisade-envoy-check-"));
  try {
    for (const file of files) symlinkSync(file, join(dir, basename(file)));
    const args = ["-config_dir", dir, ...(options.mergeDomains ? ["-merge_domain_configs"] : [])];
    const result = await run(join(referenceDir(), CONFIG_CHECK), args).then(
      ({ stdout }) => ({ ok: true, output: stdout }),
      (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ""}${error.stderr ?? ""}` }),
    );
    return { ok: result.ok, output: result.output.replaceAll(`${dir}/`, "") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ReferenceOptions {
  /** The directory holding `config/` (envoyproxy's RUNTIME_ROOT/RUNTIME_SUBDIRECTORY). */
  runtimeDir: string;
  /** host:port of a Redis it may use (a private one: the reference writes its own keys). */
  redisAddress: string;
  mergeDomains?: boolean;
  stopIncrementWhenOverLimit?: boolean;
  /** More environment, e.g. for a benchmark's pool sizes. */
  env?: Record<string, string>;
  /** Wraps the command line, e.g. to pin the process to a CPU with taskset (the bench). */
  wrap?: (command: string, args: readonly string[]) => [string, string[]];
}

export interface ReferenceService {
  /** host:port of its gRPC server. */
  grpcAddress: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts the reference service on free loopback ports, with the settings Palisade's
 * compatibility mode matches: response headers on, named x-ratelimit-*, dynamic metadata on, no
 * local cache, no statsd, no expiry jitter. Resolves once its health check answers.
 */
export async function startReference(options: ReferenceOptions): Promise<ReferenceService> {
  const [grpcPort, httpPort, debugPort] = [await freePort(), await freePort(), await freePort()];
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    LOG_LEVEL: "error",
    USE_STATSD: "false",
    HOST: "127.0.0.1",
    PORT: String(httpPort),
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: String(grpcPort),
    DEBUG_HOST: "127.0.0.1",
    DEBUG_PORT: String(debugPort),
    REDIS_SOCKET_TYPE: "tcp",
    REDIS_URL: options.redisAddress,
    RUNTIME_ROOT: join(options.runtimeDir, ".."),
    RUNTIME_SUBDIRECTORY: basename(options.runtimeDir),
    RUNTIME_IGNOREDOTFILES: "true",
    RUNTIME_WATCH_ROOT: "false",
    LOCAL_CACHE_SIZE_IN_BYTES: "0",
    EXPIRATION_JITTER_MAX_SECONDS: "0",
    LIMIT_RESPONSE_HEADERS_ENABLED: "true",
    LIMIT_LIMIT_HEADER: "x-ratelimit-limit",
    LIMIT_REMAINING_HEADER: "x-ratelimit-remaining",
    LIMIT_RESET_HEADER: "x-ratelimit-reset",
    RESPONSE_DYNAMIC_METADATA: "true",
    MERGE_DOMAIN_CONFIG: String(options.mergeDomains ?? false),
    STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT: String(options.stopIncrementWhenOverLimit ?? false),
    ...options.env,
  };
  const [command, args] = options.wrap ? options.wrap(join(referenceDir(), SERVICE), []) : [join(referenceDir(), SERVICE), []];
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  running.add(child);
  child.once("exit", () => running.delete(child));
  await waitForHealth(child, httpPort, () => output);
  return {
    grpcAddress: `127.0.0.1:${grpcPort}`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

async function waitForHealth(child: ChildProcess, port: number, output: () => string, deadlineMs = 20_000): Promise<void> {
  const giveUpAt = Date.now() + deadlineMs;
  while (Date.now() < giveUpAt) {
    if (child.exitCode !== null) throw new Error(`envoyproxy/ratelimit exited during start-up:\n${output()}`);
    const healthy = await fetch(`http://127.0.0.1:${port}/healthcheck`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`envoyproxy/ratelimit did not become healthy within ${deadlineMs} ms:\n${output()}`);
}
