import { describe, expect, it } from "vitest";
import { LEGIT, LEGIT_NEW_ACCOUNT, type LabLine } from "../../src/lab/lines.js";
import { replay } from "../../src/lab/replay/engine.js";
import { offlineTarget } from "../../src/lab/replay/offline.js";
import type { ReplayTarget } from "../../src/lab/replay/target.js";
import { parseScenarioSet } from "../../src/lab/simulate/scenario.js";
import { simulate } from "../../src/lab/simulate/simulate.js";
import { labEvents } from "../../src/lab/sweep/run.js";
import { examplePolicyPath } from "../support/policies.js";

/**
 * Returning accounts (`legit.returningShare`): their earlier sign-ins come first as `history`
 * lines, the offline target learns them into the account history without deciding them, and
 * the shoppers whose account is new are labelled apart.
 */

const set = (share: number) =>
  parseScenarioSet(
    `
site: { users: 300, products: 100 }
legit: { sessionsPerMinute: 40, loginShare: 0.9, returningShare: ${share} }
scenarios:
  - name: shop
    duration: 2m
`,
    "returning.yaml",
  );

const lines = (share: number) => [...simulate(set(share), 3)];

const events = (all: LabLine[]) => labEvents(all);

describe("returning accounts in the lab", () => {
  it("teaches three earlier sign-ins per returning account first, and labels the new accounts' shoppers apart", () => {
    const all = lines(0.5);
    const history = all.filter((line) => line.type === "history");
    const start = Date.parse(all[0]!.time);
    expect(history.length % 3).toBe(0);
    expect(history.length / 3).toBeGreaterThan(100);
    expect(history.length / 3).toBeLessThan(200);
    expect(all.slice(0, history.length).every((line) => line.type === "history" && Date.parse(line.time) === start)).toBe(true);
    const labels = new Set(all.filter((line) => line.type === "check").map((line) => line.label));
    expect(labels).toEqual(new Set([LEGIT, LEGIT_NEW_ACCOUNT]));
  });

  it("changes nothing when no account is a returning one", () => {
    const all = lines(0);
    expect(all.some((line) => line.type === "history")).toBe(false);
    expect(all.every((line) => line.label === LEGIT)).toBe(true);
  });

  it("replays cleanly with the history taught: returning shoppers are asked nothing, new accounts are counted apart", async () => {
    const result = await replay(events(lines(0.5)), {
      targets: [await offlineTarget(examplePolicyPath)],
      loginEndpoints: new Set(["login", "token"]),
      maxDisorderMs: 60_000,
    });
    expect(result.problems.filter((p) => p.kind !== "unmatched")).toEqual([]);
    expect(result.events.history).toBeGreaterThan(300);
    const figures = result.scenarios[0]!;
    expect(figures.legit.newAccounts.requests).toBeGreaterThan(0);
    expect(figures.legit.newAccounts.requests).toBeLessThan(figures.legit.requests);
    // Returning shoppers sign in from the devices and networks their history holds.
    expect(figures.legit.friction - figures.legit.newAccounts.friction).toBe(0);
  });

  it("says so when a target cannot learn history (a live server) and skips the lines", async () => {
    const offline = await offlineTarget(examplePolicyPath);
    const live: ReplayTarget = { name: "live", check: (request, timeMs) => offline.check(request, timeMs), log: (entry) => offline.log(entry), close: () => offline.close() };
    const result = await replay(events(lines(0.5)), { targets: [live], loginEndpoints: new Set(["login", "token"]), maxDisorderMs: 60_000 });
    expect(result.notes.some((note) => /^live: \d+ history lines skipped/.test(note))).toBe(true);
  });
});
