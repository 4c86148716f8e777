import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { repoRoot } from "../test/support/policies.js";

export interface ServerProcess {
  grpcPort: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Servers run in their own processes, as they would in production: the load generator must not
 * share the server's event loop, or the benchmark measures the two together.
 */
export function startPalisadeProcess(redisUrl: string): Promise<ServerProcess> {
  return startProcess(["src/cli/index.ts", "serve", "--grpc-port", "0", "--admin-port", "0", "--redis-url", redisUrl], (line) => {
    const entry = JSON.parse(line) as { msg?: string; grpcPort?: number };
    return entry.msg === "palisade ready" ? entry.grpcPort : undefined;
  });
}

export function startNoopProcess(): Promise<ServerProcess> {
  return startProcess(["bench/noop-server.ts"], (line) => (line.startsWith("port ") ? Number(line.slice(5)) : undefined));
}

function startProcess(args: string[], readyPort: (line: string) => number | undefined): Promise<ServerProcess> {
  // BENCH_PROFILE=1 writes a CPU profile of each server (node --cpu-prof) for `Where is the time`.
  const profile = process.env.BENCH_PROFILE === "1" ? ["--cpu-prof", "--cpu-prof-dir=bench/results/profiles"] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, "--import", "tsx", ...args], {
    cwd: repoRoot,
    env: { ...process.env, PALISADE_LOG_LEVEL: "info", PALISADE_GRPC_HOST: "127.0.0.1", PALISADE_ADMIN_HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let port: number | undefined;
      try {
        port = readyPort(line);
      } catch {
        return;
      }
      if (port !== undefined) {
        resolve({
          grpcPort: port,
          pid: child.pid!,
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
