/**
 * How `palisade serve` starts and stops as a user runs it: a port that cannot be opened ends the
 * process with a clear message (never a half-started server), the first run says how to get
 * analyst access, `--log-format pretty` is readable, and `npm start` passes SIGTERM on.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";

const CLI = ["--import", "tsx", "src/cli/index.ts"];
const LOCAL = { PALISADE_GRPC_HOST: "127.0.0.1", PALISADE_ADMIN_HOST: "127.0.0.1", PALISADE_CHALLENGE_HOST: "127.0.0.1", REDIS_URL: "" };
const children: ReturnType<typeof spawn>[] = [];
const blockers: Server[] = [];

afterAll(() => {
  // A failed assertion must not leave a server running and vitest waiting for it.
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const blocker of blockers) blocker.close();
});

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...LOCAL, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const stdout: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const waiting: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  lines.on("line", (line) => {
    stdout.push(line);
    for (const wait of waiting.splice(0)) {
      if (wait.match(line)) wait.resolve(line);
      else waiting.push(wait);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    exited,
    stdout,
    stderr: () => stderr,
    line: (match: (line: string) => boolean) =>
      new Promise<string>((resolve, reject) => {
        const seen = stdout.find(match);
        if (seen) return resolve(seen);
        waiting.push({ match, resolve });
        void exited.then((code) => reject(new Error(`exited ${code} first; stderr: ${stderr}`)));
      }),
  };
}

async function occupiedPort(): Promise<number> {
  const blocker = createServer();
  blockers.push(blocker);
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  return (blocker.address() as { port: number }).port;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("a port that cannot be opened", { timeout: 60_000 }, () => {
  it.each(["grpc", "admin", "challenge"])("%s: exits 1 naming the port and the setting, before anything is ready", async (listener) => {
    const port = await occupiedPort();
    const ports = { grpc: "0", admin: "0", challenge: "0", [listener]: String(port) };
    const serve = run(process.execPath, [...CLI, "serve", "--log-format", "json", "--grpc-port", ports.grpc, "--admin-port", ports.admin, "--challenge-port", ports.challenge]);
    expect(await serve.exited).toBe(1);
    expect(serve.stderr()).toContain(
      `palisade: cannot listen on the ${listener} port 127.0.0.1:${port}: the address is already in use (another process holds the port); choose another with --${listener}-port or PALISADE_${listener.toUpperCase()}_PORT`,
    );
    expect(serve.stdout.some((line) => line.includes('"palisade ready"'))).toBe(false);
  });
});

describe("first run", { timeout: 60_000 }, () => {
  it("with no tokens file says, readably, which file to write and how; --log-format pretty prints no JSON", async () => {
    const serve = run(process.execPath, [...CLI, "serve", "--log-format", "pretty", "--grpc-port", "0", "--admin-port", "0", "--challenge-port", "0"]);
    await serve.line((line) => line.includes("palisade ready"));
    const adminPort = Number(/adminPort: (\d+)/.exec(await serve.line((line) => /adminPort: \d+/.test(line)))![1]);
    // An answer from the admin port: start-up has finished and the signal handlers are in place.
    expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200);
    const text = serve.stdout.join("\n");
    expect(text).toMatch(/INFO: palisade ready/);
    expect(text).toMatch(/WARN: no admin tokens file \(adminTokensFile\): the analyst API and POST \/v1\/outcomes answer 401/);
    for (const hint of ["tokens:", "role: admin", "--admin-tokens-file palisade-tokens.yaml", "PALISADE_ADMIN_TOKENS_FILE", "docs/analyst-api.md"]) expect(text).toContain(hint);
    expect(serve.stdout.some((line) => line.startsWith("{"))).toBe(false);
    // docs/analyst-api.md quotes the message word for word.
    const message = /WARN: (no admin tokens file .*)$/m.exec(text)![1]!;
    expect(readFileSync(join(repoRoot, "docs", "analyst-api.md"), "utf8").replace(/\s+/g, " ")).toContain(message);
    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
  });
});

describe("npm start", { timeout: 60_000 }, () => {
  it("passes SIGTERM to the server, which stops gracefully, and is quiet about tokens when a file is given", async () => {
    const dir = mkdtempSync(join(tmpdir(), "palisade-start-"));
    const tokens = join(dir, "tokens.yaml");
    writeFileSync(tokens, "tokens:\n  - { name: ops, role: admin, token: a-test-token-of-at-least-24-chars }\n");
    const npm = run("npm", ["start", "--silent", "--", "--log-format", "json", "--grpc-port", "0", "--admin-port", "0", "--challenge-port", "0", "--admin-tokens-file", tokens]);
    const ready = JSON.parse(await npm.line((line) => line.includes('"palisade ready"'))) as { pid: number };
    expect(ready.pid).not.toBe(npm.child.pid);
    npm.child.kill("SIGTERM");
    await npm.exited;
    await npm.line((line) => line.includes('"msg":"stopped"'));
    // The server has said "stopped"; its process is gone once the OS has reaped it, however loaded the machine.
    await expect.poll(() => alive(ready.pid), { timeout: 30_000, interval: 100 }).toBe(false);
    expect(npm.stdout.some((line) => line.includes("no admin tokens file"))).toBe(false);
  });
});
