/**
 * `--help` is where a user looks first: every command's help must name each setting it reads
 * (flag and environment variable) or say where they are listed. Read in-process from the same
 * program `palisade` runs, so no command can be added without being checked here.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/program.js";
import { settingEnvNames, settingsSchema, type Settings } from "../../src/settings/settings.js";
import { repoRoot } from "../support/policies.js";

function leaves(command: Command, path: string[] = []): { path: string[]; command: Command }[] {
  const sub = command.commands.filter((child) => child.name() !== "help");
  return sub.length === 0 ? [{ path, command }] : sub.flatMap((child) => leaves(child, [...path, child.name()]));
}

/** Help as printed, without commander's line wrapping (which depends on the terminal width). */
function help(command: Command): string {
  let text = "";
  command.configureOutput({ writeOut: (chunk) => (text += chunk), getOutHelpWidth: () => 10_000 });
  command.outputHelp();
  return text;
}

describe("palisade --help", () => {
  const program = buildProgram();
  const serve = program.commands.find((command) => command.name() === "serve")!;

  it("serve --help names every setting with its environment variables", () => {
    const text = help(serve);
    for (const key of Object.keys(settingsSchema.shape) as (keyof Settings)[]) {
      for (const env of settingEnvNames(key)) expect(text, `${key} (${env})`).toContain(env);
    }
    expect(text).toContain("--admin-tokens-file");
    expect(text).toContain("--log-format");
  });

  it("offers no secret as a flag (a command line is visible to every user)", () => {
    const flags = serve.options.map((option) => option.long);
    expect(flags).not.toContain("--pseudonym-key");
    expect(flags).not.toContain("--pseudonym-previous-key");
  });

  it("every command's help lists its options, and the client commands say where server and token come from", () => {
    const all = leaves(program);
    expect(all.map((leaf) => leaf.path.join(" "))).toEqual(expect.arrayContaining(["serve", "decisions list", "decisions add", "audit", "policy rollback", "rules disable", "simulate", "replay"]));
    for (const { path, command } of all) {
      const text = help(command);
      for (const option of command.options) expect(text, `${path.join(" ")} ${option.flags}`).toContain(option.flags);
      if (command.options.some((option) => option.long === "--server")) {
        for (const where of ["PALISADE_URL", "PALISADE_TOKEN", "PALISADE_CONFIG"]) expect(text, `${path.join(" ")}: ${where}`).toContain(where);
      }
      if (command.options.some((option) => option.long === "--settings")) expect(text, path.join(" ")).toContain("PALISADE_SETTINGS");
    }
  });

  it("--version is the package's version", () => {
    const { version } = JSON.parse(readFileSync(`${repoRoot}package.json`, "utf8")) as { version: string };
    let printed = "";
    program.exitOverride().configureOutput({ writeOut: (chunk) => (printed += chunk) });
    expect(() => program.parse(["node", "palisade", "--version"])).toThrow(version);
    expect(printed.trim()).toBe(version);
  });
});
