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
  status: number;
  resource?: string;
}

function plan(seed: number, only = "scan/one-address"): PlannedRequest[] {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "independent-traffic-")), "plan.jsonl");
  execFileSync(process.execPath, ["--import", "tsx", "scripts/independent-traffic.ts", "--plan", "--seeds", String(seed), "--only", only, "--sessions", "10", "--decisions", file], { cwd: repoRoot, stdio: "pipe" });
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

it("plays a burst in its window under its family's label, a benign family as legitimate traffic only, and counts what an answer gives away", () => {
  const burst = plan(3, "login-burst/start-20").filter((request) => request.label !== "legit" && request.label !== "history");
  expect(burst.length).toBeGreaterThan(100);
  expect(burst.every((request) => request.label === "login-burst" && request.t >= 20 * 60_000 && request.t < 30 * 60_000)).toBe(true);
  const office = plan(3, "office-nat");
  expect(new Set(office.map((request) => request.label))).toEqual(new Set(["history", "legit"]));
  expect(office.filter((request) => request.label === "legit").length).toBeGreaterThan(plan(3).filter((request) => request.label === "legit").length);
  // Account enumeration through sign-up: only a 409 (the address is registered) tells the attacker something.
  const accounts = plan(3, "enumeration/accounts-one").filter((request) => request.label === "enumeration");
  expect(accounts.some((request) => request.status === 409) && accounts.some((request) => request.status === 422)).toBe(true);
  expect(accounts.every((request) => (request.resource !== undefined) === (request.status === 409))).toBe(true);
}, 120_000);
