/**
 * `palisade serve --workers 2` as an operator runs it: one process per core behind the same
 * ports on a real redis-server. Checks from several Envoy connections are answered by both
 * workers, a rate limit counts across them (each worker alone sees fewer requests than the
 * limit), any worker's /metrics answers for the pod, the workers' helper threads keep their
 * main thread's priority (src/settings helperThreadNiceness), a crashed worker is replaced, and without
 * Redis the setting is refused instead of splitting the counters.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { envoyAuthzClient, httpStatus, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { repoRoot } from "../support/policies.js";

interface LogLine {
  msg?: string;
  worker?: number;
  role?: string;
  pid?: number;
  grpcPort?: number;
  adminPort?: number;
  action?: string;
  rule?: string;
}

const LOCAL = { PALISADE_GRPC_HOST: "127.0.0.1", PALISADE_ADMIN_HOST: "127.0.0.1", PALISADE_CHALLENGE_HOST: "127.0.0.1" };
const children: ChildProcess[] = [];

/** `palisade serve` in its own process, its JSON log lines collected as they come. */
function serve(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/index.ts", "serve", "--log-format", "json", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...LOCAL, REDIS_URL: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines: LogLine[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // not a log line
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, lines, exited, stderr: () => stderr };
}

/** Polls until `condition` holds (expect.poll works inside tests only, this also in beforeAll). */
async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

describe("two workers on one port sharing Redis", { timeout: 180_000 }, () => {
  let redis: RedisServerHandle;
  let pod: ReturnType<typeof serve>;
  let grpcPort: number;
  let adminPort: number;
  const clients: EnvoyAuthzClient[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    // A store budget of 1 s, as startTestApp's: with the default 50 ms a loaded machine's slow
    // round trips fall back to each worker's local count, and the shared limit is not what is tested.
    pod = serve(["--workers", "2", "--grpc-port", "0", "--admin-port", "0", "--challenge-port", "0"], { REDIS_URL: redis.url, PALISADE_WARM_UP_DECISIONS: "50", PALISADE_STORE_TIMEOUT: "1s" });
    // The primary hears "ready" over IPC, and a worker's own log line travels through a pipe: it
    // may arrive after the primary's, so wait for both.
    await until(() => pod.lines.some((line) => line.msg === "palisade workers ready") && pod.lines.filter((line) => line.msg === "palisade ready").length >= 2, 120_000);
    const ready = pod.lines.filter((line) => line.msg === "palisade ready");
    expect(new Set(ready.map((line) => line.worker))).toEqual(new Set([1, 2]));
    expect(new Set(ready.map((line) => line.pid)).size).toBe(2);
    // Port 0: the primary picks one port and every worker shares it.
    expect(new Set(ready.map((line) => line.grpcPort)).size).toBe(1);
    grpcPort = ready[0]!.grpcPort!;
    adminPort = ready[0]!.adminPort!;
    // Four connections of their own (no shared subchannel), dealt round-robin to the workers.
    for (let i = 0; i < 4; i++) clients.push(envoyAuthzClient(`127.0.0.1:${grpcPort}`, { "grpc.use_local_subchannel_pool": 1 }));
  }, 150_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    if (pod?.lines.some((line) => line.msg === "palisade workers ready") && pod.child.exitCode === null) {
      pod.child.kill("SIGTERM");
      expect(await pod.exited).toBe(0);
    }
    await redis?.stop();
  });

  it("answers from both workers, and a per-minute limit of 60 holds across them", async () => {
    const ip = "203.0.113.77";
    const browser = { "user-agent": "Mozilla/5.0", accept: "*/*", "accept-language": "en", "accept-encoding": "gzip", cookie: "sid=workers" };
    await clients[0]!.check({ path: "/static/app.js", ip, headers: browser });
    const answers = [];
    // 100 searches dealt over four connections: each worker sees about 50, below the limit of
    // 60 a minute that catalogue-throttle enforces; only the shared count passes it.
    for (let i = 0; i < 100; i++) answers.push(await clients[i % 4]!.check({ path: `/api/v1/search?q=item${i % 5}`, ip, headers: browser }));
    expect(answers.slice(0, 60).every((answer) => answer.status.code === 0)).toBe(true);
    const throttled = answers.filter((answer) => httpStatus(answer) === 429);
    expect(throttled.length).toBeGreaterThan(10);
    expect(metadata(answers[99]!).rule).toBe("catalogue-throttle");

    // Every throttle is logged with the worker that decided it: both did.
    await expect.poll(() => pod.lines.filter((line) => line.rule === "catalogue-throttle").length).toBe(throttled.length);
    const deciders = new Set(pod.lines.filter((line) => line.rule === "catalogue-throttle").map((line) => line.worker));
    expect(deciders).toEqual(new Set([1, 2]));

    // Any worker's /metrics answers for the pod: the two workers' counts merged.
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    expect(text).toContain("# palisade: merged from 2 workers");
    const counted = /palisade_decisions_total\{action="throttle",endpoint="search",rule="catalogue-throttle",shadow="false"\} (\d+)/.exec(text);
    expect(Number(counted?.[1])).toBe(throttled.length);
    // Gauges every worker reports alike are not summed.
    expect(text).toMatch(/palisade_policy_info\{[^}]*\} 1\n/);
    expect((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status).toBe(200);
  });

  it("leaves every worker's helper threads at its main thread's priority", () => {
    // /proc/<pid>/task/<tid>/stat: the nice value is the 19th field, the 17th after the command name.
    const nice = (pid: number, tid: string) => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")[16]);
    for (const { pid } of pod.lines.filter((line) => line.msg === "palisade ready")) {
      const threads = readdirSync(`/proc/${pid}/task`);
      expect(threads.length).toBeGreaterThan(4);
      expect(new Set(threads.map((tid) => nice(pid!, tid)))).toEqual(new Set([nice(pid!, String(pid))]));
    }
    expect(pod.lines.some((line) => line.msg === "helper threads run below the main thread")).toBe(false);
  });

  it("replaces a worker that dies, and serves on meanwhile", async () => {
    const victim = pod.lines.find((line) => line.msg === "palisade ready" && line.worker === 1)!.pid!;
    process.kill(victim, "SIGKILL");
    await expect.poll(() => pod.lines.some((line) => line.msg === "a worker exited; starting another"), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => pod.lines.some((line) => line.msg === "palisade ready" && line.worker === 3), { timeout: 120_000, interval: 200 }).toBe(true);
    const fresh = envoyAuthzClient(`127.0.0.1:${grpcPort}`, { "grpc.use_local_subchannel_pool": 1 });
    try {
      expect((await fresh.check({ path: "/static/app.js", ip: "203.0.113.78" })).status.code).toBe(0);
    } finally {
      fresh.close();
    }
  });
});

describe("a worker that cannot start", { timeout: 120_000 }, () => {
  it("stops the pod with exit code 1 and the worker's reason, instead of restarting it in a loop", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    const redis = await startRedisServer();
    try {
      const pod = serve(["--workers", "2", "--grpc-port", String(port), "--admin-port", "0", "--challenge-port", "0"], { REDIS_URL: redis.url, PALISADE_WARM_UP_DECISIONS: "0" });
      expect(await pod.exited).toBe(1);
      expect(pod.stderr()).toContain(`cannot listen on the grpc port 127.0.0.1:${port}`);
      expect(pod.lines.some((line) => line.msg === "a worker failed to start; stopping every worker")).toBe(true);
      expect(pod.lines.some((line) => line.msg === "a worker exited; starting another")).toBe(false);
    } finally {
      blocker.close();
      await redis.stop();
    }
  });
});

describe("workers without Redis", { timeout: 60_000 }, () => {
  it("are refused: in memory each worker would count alone", async () => {
    const pod = serve(["--workers", "2", "--grpc-port", "0", "--admin-port", "0", "--challenge-port", "0"], {});
    expect(await pod.exited).toBe(1);
    expect(pod.stderr()).toContain("workers: 2 workers need a shared store (redisUrl)");
    expect(pod.lines.some((line) => line.msg === "starting workers")).toBe(false);
  });
});
