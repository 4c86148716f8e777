import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";
import { tempFile } from "./support.js";

const CLI = ["--import", "tsx", `${repoRoot}src/cli/index.ts`];

function run(args: string[], stdin?: NodeJS.ReadableStream): { stdout: NodeJS.ReadableStream; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: repoRoot, stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"] });
  if (stdin) stdin.pipe(child.stdin!);
  let stdout = "";
  let stderr = "";
  const out = child.stdout!;
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    out.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { stdout: out, done };
}

const SMALL = tempFile(
  `site: { users: 100, products: 50 }
legit: { sessionsPerMinute: 10 }
scenarios:
  - { name: burst, duration: 1m, attacks: [{ kind: credential_stuffing, at: 10s, duration: 30s, rate: 4 }] }
`,
  "small-scenarios.yaml",
);

describe("palisade simulate | palisade replay -", () => {
  it("pipes generated traffic into replay and prints the report as JSON", async () => {
    const simulate = run(["simulate", "--scenarios", SMALL]);
    const replay = run(["replay", "-", "--json"], simulate.stdout);
    const [generated, replayed] = await Promise.all([simulate.done, replay.done]);
    expect(generated.code).toBe(0);
    expect(replayed.stderr).toBe("");
    expect(replayed.code).toBe(0);
    const report = JSON.parse(replayed.stdout);
    expect(report.input).toBe("standard input");
    expect(report.problems).toEqual([]);
    expect(report.scenarios[0].scenario).toBe("burst");
    expect(report.scenarios[0].attack.requests).toBeGreaterThan(100); // 4 a second for 30 s
    expect(report.scenarios[0].attack.mitigatedShare).toBeGreaterThan(0.8);
    expect(report.eventsPerSecond).toBeGreaterThan(0);
  });

  it("says what is wrong with a scenario file and exits 1", async () => {
    const bad = tempFile("scenarios: [{ name: x, duration: 1m, attacks: [{ kind: ddos, rate: 1, duration: 1m }] }]\n", "bad-scenarios.yaml");
    const { code, stderr } = await run(["simulate", "--scenarios", bad]).done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/^palisade: .*bad-scenarios\.yaml: invalid scenario set\n {2}scenarios\.0\.attacks\.0\.kind: /);
  });
});
