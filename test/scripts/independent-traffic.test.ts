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
  ip: string;
  method: string;
  responseHeaders?: Record<string, string>;
  harm?: string;
  units?: number;
}

const script = (...args: string[]) => execFileSync(process.execPath, ["--import", "tsx", "scripts/independent-traffic.ts", ...args], { cwd: repoRoot, stdio: "pipe", encoding: "utf8" });

function plan(seed: number, only = "scan/one-address"): PlannedRequest[] {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "independent-traffic-")), "plan.jsonl");
  script("--plan", "--seeds", String(seed), "--only", only, "--sessions", "10", "--decisions", file);
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

it("marks only new accounts' sign-ups as created, and labels what the shop's other paths cost it", () => {
  const signUps = plan(3, "marketing-spike/3x").filter((request) => request.path === "/api/v1/register");
  expect(signUps.length).toBeGreaterThan(0);
  expect(signUps.every((request) => request.status === 201 && request.responseHeaders?.["x-signup-result"] === "created")).toBe(true);
  expect(plan(3, "enumeration/accounts-one").some((request) => request.responseHeaders?.["x-signup-result"])).toBe(false);
  // A declined card costs the shop; a live one is what the tester came to confirm.
  const payments = plan(3, "card-testing/one-address").filter((request) => request.label === "card-testing");
  expect(payments.every((request) => request.target && (request.harm === "declined cards") === (request.status === 402) && (request.resource !== undefined) === (request.status === 200))).toBe(true);
  expect(payments.some((request) => request.status === 200)).toBe(true);
  const drop = plan(3, "cart-hoarding/drop-20").filter((request) => request.label === "cart-hoarding" && request.target);
  expect(drop.every((request) => request.harm === "units held" && request.units! >= 2 && request.units! <= 5 && request.t >= 20 * 60_000 && request.t < 26 * 60_000)).toBe(true);
}, 120_000);

it("prepares each session as its warm-up says: browsing and the form's page before every login when interleaved", () => {
  const attack = plan(3, "browsing-stuffing/interleaved").filter((request) => request.label === "browsing-stuffing");
  const logins = attack.filter((request) => request.path === "/api/v1/login");
  expect(logins.length).toBeGreaterThan(100);
  for (const login of logins.slice(0, 30)) {
    const before = attack.filter((request) => request.ip === login.ip && request.t < login.t);
    expect(before.filter((request) => request.path === "/login").length).toBeGreaterThan(before.filter((request) => request.path === "/api/v1/login").length);
    expect(before.some((request) => request.path.startsWith("/static/img/products/"))).toBe(true);
  }
  expect(plan(3, "card-testing/proxies").filter((request) => request.label === "card-testing").every((request) => request.method === "POST" && request.target)).toBe(true);
}, 120_000);

it("lists its options and every family's points under --help", () => {
  const help = script("--help");
  for (const expected of ["--only", "--decisions", "--plan", "card-testing/sessions", "message-pumping/reset-proxies", "uptime-monitor/three-services", "stuffing/curl"]) expect(help).toContain(expected);
}, 120_000);
