/**
 * The independent generator's traffic is a function of its seed (docs/independent-traffic.md
 * quotes a table whose seeds ran in separate processes), labelled request by request, with the
 * site's earlier sign-ins before the measured hour.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";

interface PlannedRequest {
  t: number;
  label: string;
  target: boolean;
  path: string;
}

function plan(seed: number): PlannedRequest[] {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "independent-traffic-")), "plan.jsonl");
  execFileSync(process.execPath, ["--import", "tsx", "scripts/independent-traffic.ts", "--plan", "--seeds", String(seed), "--only", "scan/one-address", "--sessions", "10", "--decisions", file], { cwd: repoRoot, stdio: "pipe" });
  return readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line) as PlannedRequest);
}

it("plans the same traffic for a seed, other traffic for another, every request labelled", () => {
  const first = plan(3);
  expect(plan(3)).toEqual(first);
  expect(plan(4)).not.toEqual(first);
  expect(new Set(first.map((request) => request.label))).toEqual(new Set(["history", "legit", "scan"]));
  expect(first.filter((request) => request.label === "history").every((request) => request.t < 0)).toBe(true);
  expect(first.filter((request) => request.label !== "history").every((request) => request.t >= 0)).toBe(true);
  expect(first.filter((request) => request.label === "scan").every((request) => request.target)).toBe(true);
}, 120_000);
