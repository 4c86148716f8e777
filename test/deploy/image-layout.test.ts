/**
 * The container image holds everything `serve` and `simulate` need by default. No Docker here:
 * the runtime stage's own COPY lines are read from the Dockerfile and laid out in a temporary
 * directory (dist/ transpiled from src/ with TypeScript's transpileModule to ES modules, file for file as
 * `tsc` lays it out; node_modules linked to the repository's), which is then made read-only
 * and run the way the image runs: its ENTRYPOINT and CMD, as the image's non-root user where
 * this runs as root. A file the CLI needs and the Dockerfile does not copy fails here.
 */
import { spawn } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { createInterface } from "node:readline";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";

interface Copy {
  from?: string;
  sources: string[];
  destination: string;
}

/** The runtime (last) stage: its COPY lines, WORKDIR, USER, ENTRYPOINT and CMD. */
function runtimeStage(dockerfile: string) {
  const lines = dockerfile.replace(/\\\n/g, " ").split("\n").map((line) => line.trim());
  const start = lines.map((line, index) => (/^FROM\s/i.test(line) ? index : -1)).filter((index) => index >= 0).pop()!;
  const stage = lines.slice(start).filter((line) => line !== "" && !line.startsWith("#"));
  const copies: Copy[] = stage
    .filter((line) => /^COPY\s/i.test(line))
    .map((line) => {
      const words = line.split(/\s+/).slice(1);
      const from = words.find((word) => word.startsWith("--from="))?.slice("--from=".length);
      const paths = words.filter((word) => !word.startsWith("--"));
      return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
    });
  const json = (keyword: string) => JSON.parse(stage.find((line) => line.startsWith(`${keyword} `))!.slice(keyword.length + 1)) as string[];
  return {
    copies,
    workdir: stage.find((line) => line.startsWith("WORKDIR "))!.split(/\s+/)[1]!,
    user: stage.find((line) => line.startsWith("USER "))?.split(/\s+/)[1],
    entrypoint: json("ENTRYPOINT"),
    cmd: json("CMD"),
  };
}

/** dist/ as the build stage makes it (`npm run build`: tsconfig.build.json, rootDir "."). */
function transpileSources(into: string): void {
  const options = ts.parseJsonConfigFileContent(JSON.parse(readFileSync(join(repoRoot, "tsconfig.json"), "utf8")), ts.sys, repoRoot).options;
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)]));
  for (const file of walk(join(repoRoot, "src")).filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))) {
    const output = ts.transpileModule(readFileSync(file, "utf8"), { compilerOptions: { ...options, sourceMap: false, module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Bundler }, fileName: file });
    const target = join(into, relative(repoRoot, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output.outputText);
  }
}

/** Lays out one COPY line under the image's WORKDIR, in `root`. */
function lay(root: string, workdir: string, copy: Copy): void {
  const destination = join(root, copy.destination.startsWith("/") ? copy.destination : join(workdir, copy.destination));
  if (copy.from === "deps" && copy.sources.join() === "/app/node_modules") {
    mkdirSync(dirname(destination), { recursive: true });
    symlinkSync(realpathSync(join(repoRoot, "node_modules")), destination.replace(/\/$/, ""));
    return;
  }
  if (copy.from === "build" && copy.sources.join() === "/src/dist") return transpileSources(destination);
  expect(copy.from, `COPY --from=${copy.from}: this test does not know that stage's output`).toBeUndefined();
  for (const source of copy.sources) {
    const into = copy.destination.endsWith("/") || copy.sources.length > 1 ? join(destination, source.split("/").pop()!) : destination;
    mkdirSync(dirname(into), { recursive: true });
    cpSync(join(repoRoot, source), into, { recursive: true });
  }
}

/** Read-only for everyone: directories 0555, files 0444 (0555 if executable). */
function readOnly(path: string): void {
  const stats = statSync(path);
  if (stats.isDirectory()) {
    for (const entry of readdirSync(path, { withFileTypes: true })) if (!entry.isSymbolicLink()) readOnly(join(path, entry.name));
    chmodSync(path, 0o555);
  } else chmodSync(path, stats.mode & 0o111 ? 0o555 : 0o444);
}

const image = runtimeStage(readFileSync(join(repoRoot, "Dockerfile"), "utf8"));
let root: string;
let app: string;
const children: ReturnType<typeof spawn>[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "palisade-image-"));
  chmodSync(root, 0o755);
  for (const copy of image.copies) lay(root, image.workdir, copy);
  app = join(root, image.workdir);
  readOnly(app);
}, 120_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (root) {
    chmodSync(root, 0o755);
    rmSync(root, { recursive: true, force: true, maxRetries: 2 });
  }
});

/** Runs the image's ENTRYPOINT with these arguments in the layout, as the image's user where possible. */
function run(args: string[]) {
  const [uid, gid] = (image.user ?? "").split(":").map(Number);
  const asImageUser = process.getuid?.() === 0 && uid !== undefined && !Number.isNaN(uid);
  const entrypoint = image.entrypoint.map((word) => (word.startsWith("/") ? join(root, word) : word));
  const child = spawn(entrypoint[0]!, [...entrypoint.slice(1), ...args], {
    cwd: app,
    env: { PATH: process.env.PATH, HOME: "/nonexistent", NODE_ENV: "production", PALISADE_GRPC_HOST: "127.0.0.1", PALISADE_ADMIN_HOST: "127.0.0.1", PALISADE_CHALLENGE_HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
    ...(asImageUser ? { uid, gid } : {}),
  });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

describe("the image's runtime layout, read-only", { timeout: 60_000 }, () => {
  it("copies what serve and simulate read by default", () => {
    for (const file of ["package.json", "proto", "examples/policy.yaml", "examples/ratelimit.yaml", "examples/lab/scenarios.yaml", "examples/lab/sweep.yaml", "dist/src/cli/index.js"]) {
      expect(statSync(join(app, file), { throwIfNoEntry: false }), file).toBeDefined();
    }
    expect(image.cmd).toEqual(["serve"]);
  });

  it("serve (the image's CMD) starts with the bundled policy and rate limits and stops on SIGTERM", async () => {
    const serve = run([...image.cmd, "--grpc-port", "0", "--admin-port", "0", "--challenge-port", "0"]);
    const ready = await new Promise<Record<string, any>>((resolve, reject) => {
      createInterface({ input: serve.child.stdout! }).on("line", (line) => {
        const entry = JSON.parse(line) as Record<string, any>;
        if (entry.msg === "palisade ready") resolve(entry);
      });
      void serve.exited.then((code) => reject(new Error(`serve exited ${code}: ${serve.stderr()}`)));
    });
    expect(ready.policy).toMatchObject({ source: join(app, "examples/policy.yaml"), name: "storefront" });
    expect(ready.rateLimits).toMatchObject({ source: join(app, "examples/ratelimit.yaml"), domains: ["storefront"] });
    expect((await fetch(`http://127.0.0.1:${ready.adminPort}/readyz`)).status).toBe(200);
    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
  });

  it("simulate generates the bundled scenarios; --version answers", async () => {
    const simulate = run(["simulate", "--only", "baseline"]);
    let lines = 0;
    createInterface({ input: simulate.child.stdout! }).on("line", (line) => {
      if (lines++ === 0) expect(JSON.parse(line)).toMatchObject({ scenario: "baseline" });
    });
    expect(await simulate.exited, simulate.stderr()).toBe(0);
    expect(lines).toBeGreaterThan(0);
    const version = run(["--version"]);
    let printed = "";
    version.child.stdout!.on("data", (chunk: Buffer) => (printed += chunk.toString()));
    expect(await version.exited, version.stderr()).toBe(0);
    expect(printed.trim()).toBe((JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version);
  });
});
