/**
 * Replay speed: the default scenario set (about an hour of storefront traffic) generated to a
 * temporary file, then replayed offline through the example policy, three times. Prints
 * events per second of each run; the first includes warm-up (CEL programs, proto descriptors).
 *
 *   npx tsx bench/lab-replay.ts
 */
import { mkdtempSync, rmSync, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import { runReplay } from "../src/lab/replay/run.js";
import { loadScenarioSet } from "../src/lab/simulate/scenario.js";
import { simulate } from "../src/lab/simulate/simulate.js";
import { writeLines } from "../src/lab/simulate/write.js";
import { findProtoDir } from "../src/transport/grpc/protos.js";

const root = path.dirname(findProtoDir());
const dir = mkdtempSync(path.join(tmpdir(), "palisade-bench-"));
const file = path.join(dir, "traffic.jsonl");
try {
  const set = await loadScenarioSet(path.join(root, "examples", "lab", "scenarios.yaml"));
  const started = performance.now();
  const out = createWriteStream(file);
  const lines = await writeLines(simulate(set), out);
  out.end();
  await finished(out);
  console.log(`simulate: ${lines} lines in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  for (let run = 1; run <= 3; run++) {
    const { result } = await runReplay({
      input: file, policy: path.join(root, "examples", "policy.yaml"), json: false, format: "lab", scenario: "", maxDisorderMs: 60_000, examples: 0, progress: false,
    });
    const events = result.events.checks + result.events.accessLogs;
    console.log(`replay run ${run}: ${events} events in ${(result.elapsedMs / 1000).toFixed(2)} s = ${Math.round(events / (result.elapsedMs / 1000))} events/s`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
