/**
 * How long a policy reload holds up the event loop (what a Check decided meanwhile waits), on
 * the event loop and on the worker thread: the example policy with rules added up to the rule
 * limit, each reload a new version of it (as bench/live-tail.ts reloads). `npx tsx
 * bench/policy-reload.ts`; prints one JSON line per mode: the worst event-loop delay (wall time,
 * the machine's load included) and the longest time the main thread was on a CPU without a turn
 * of the loop (bench/loop-hold.ts, which the load does not create).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { MAX_RULES } from "../src/policy/compile.js";
import { PolicySource } from "../src/policy/policy-source.js";
import { createLogger } from "../src/telemetry/logger.js";
import { examplePolicyPath } from "../test/support/policies.js";
import { measureLoopHold } from "./loop-hold.js";

const RELOADS = 5;

function largePolicy(version: number): string {
  const example = readFileSync(examplePolicyPath, "utf8").replace(/version: "[^"]+"/, `version: "bench-${version}"`);
  const exampleRules = (example.match(/^ {4}- id: /gm) ?? []).length;
  const extra = Array.from({ length: MAX_RULES - exampleRules }, (_, i) => `    - { id: extra-${i}, when: 'risk > ${i % 100} && "velocity.ip" in reasons', action: challenge }`);
  return example.replace(/^ {2}rules:\n/m, `  rules:\n${extra.join("\n")}\n`);
}

async function measure(offThread: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "palisade-reload-bench-"));
  const file = join(dir, "policy.yaml");
  writeFileSync(file, largePolicy(0));
  const source = new PolicySource({ location: file, logger: createLogger({ level: "silent" }), watch: false, pollIntervalMs: 3_600_000, reloadOffThread: offThread });
  await source.start();
  // Warm the worker (its start-up is paid once, off the loop) before measuring.
  writeFileSync(file, largePolicy(1));
  await source.reload();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let worstMs = 0;
  let longestHoldMs = 0;
  for (let i = 2; i < RELOADS + 2; i++) {
    writeFileSync(file, largePolicy(i));
    delay.reset();
    delay.enable();
    const hold = await measureLoopHold(async () => {
      const result = await source.reload();
      if (!result.ok) throw result.error;
    });
    delay.disable();
    worstMs = Math.max(worstMs, delay.max / 1e6);
    longestHoldMs = Math.max(longestHoldMs, hold.longestMs);
  }
  await source.stop();
  rmSync(dir, { recursive: true, force: true });
  return { mode: offThread ? "worker thread" : "event loop", rules: source.current().rules.length, reloads: RELOADS, worstLoopDelayMs: Number(worstMs.toFixed(1)), longestHoldMs };
}

for (const offThread of [false, true]) console.log(JSON.stringify(await measure(offThread)));
