/**
 * Same input, same decisions: offline replay of the same events decides every request the same
 * way on every run, whether the file is lab traffic or an imported log.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { HmacPseudonymiser } from "../../src/privacy/pseudonymiser.js";
import { runReplay } from "../../src/lab/replay/run.js";
import { examplePolicyPath, repoRoot } from "../support/policies.js";
import { generate, linesText, MIXED, tempFile } from "./support.js";

const KEY = Buffer.alloc(32, 9);

async function clientsOf(input: string, policy: string) {
  const { clients, result } = await runReplay({
    input,
    policy,
    json: false,
    format: "auto",
    scenario: "",
    maxDisorderMs: 60_000,
    examples: 0,
    progress: false,
    pseudonymiser: new HmacPseudonymiser({ current: KEY }),
    clients: "",
  });
  return { clients, scenarios: result.scenarios.map((s) => [s.scenario, s.actions]) };
}

describe("offline replay is deterministic", () => {
  it("gives every client the same decisions on every run of lab traffic", { timeout: 120_000 }, async () => {
    const file = tempFile(linesText(generate(MIXED, 11)));
    const first = await clientsOf(file, examplePolicyPath);
    const second = await clientsOf(file, examplePolicyPath);
    expect(first.clients!.length).toBeGreaterThan(10);
    expect(second).toEqual(first);
  });

  it("gives every client the same decisions on every run of an imported log with the generic-site policy", { timeout: 120_000 }, async () => {
    const log = tempFile(
      Array.from({ length: 60 }, (_, i) => {
        const ip = i % 3 === 0 ? "192.0.2.9" : `198.51.100.${i % 7}`;
        const target = i % 3 === 0 ? `/missing-${i}` : `/post/${i % 11}`;
        return `${ip} - - [03/Dec/2026:09:${String(10 + Math.floor(i / 10)).padStart(2, "0")}:${String((i * 7) % 60).padStart(2, "0")} +0000] "GET ${target} HTTP/1.1" ${i % 3 === 0 ? 404 : 200} 512 "-" "Mozilla/5.0 (X11; Linux x86_64)"`;
      }).join("\n") + "\n",
      "determinism.log",
    );
    const policy = path.join(repoRoot, "examples", "policies", "generic-site.yaml");
    const first = await clientsOf(log, policy);
    expect(first.clients!.some((line) => line.mitigated > 0)).toBe(true);
    expect(await clientsOf(log, policy)).toEqual(first);
  });
});
