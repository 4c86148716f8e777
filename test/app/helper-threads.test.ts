import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";

/**
 * Run in a process of its own: lowering the priority of the test runner's own threads would
 * change every test after it. The child lists each thread's nice value (/proc/self/task/<id>/stat,
 * the 19th field) after the call.
 */
const child = `
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { lowerHelperThreads } from "./src/app/helper-threads.ts";
await import("node:fs/promises").then((fs) => fs.readFile("package.json"));
const lowered = lowerHelperThreads();
const nice = (id) => Number(readFileSync(\`/proc/self/task/\${id}/stat\`, "utf8").split(") ")[1].split(" ")[16]);
const threads = readdirSync("/proc/self/task").map((id) => ({ main: Number(id) === process.pid, nice: nice(id) }));
console.log(JSON.stringify({ lowered, main: os.getPriority(), threads }));
`;

describe.runIf(process.platform === "linux")("lowerHelperThreads", () => {
  it("puts every thread but the main one ten nice steps below it, the main thread unchanged", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", child], { cwd: repoRoot, encoding: "utf8" });
    expect(run.stderr).toBe("");
    const { lowered, main, threads } = JSON.parse(run.stdout) as { lowered: number; main: number; threads: { main: boolean; nice: number }[] };
    const helpers = threads.filter((thread) => !thread.main);
    // V8's platform workers and libuv's pool at least.
    expect(helpers.length).toBeGreaterThanOrEqual(4);
    expect(lowered).toBe(helpers.length);
    expect(threads.find((thread) => thread.main)!.nice).toBe(main);
    for (const helper of helpers) expect(helper.nice).toBe(Math.min(19, main + 10));
  });
});
