import { describe, expect, it } from "vitest";
import type { PolicyIssue } from "./compile.js";
import { compileProbing } from "./probes.js";
import { policySchema, type SignalsSpec } from "./schema.js";

/**
 * `signals.probing` compiled: windows in milliseconds, each list's inline patterns and file
 * lines in one case-insensitive pattern, and a bad pattern or missing file reported where it is.
 */

type ProbingSpec = NonNullable<SignalsSpec["probing"]>;

/** The block as the schema leaves it, defaults applied. */
function spec(probing: Record<string, unknown>): ProbingSpec {
  const document = policySchema.parse({
    apiVersion: "palisade.dev/v1alpha1",
    kind: "Policy",
    metadata: { name: "probes" },
    spec: { signals: { probing } },
  });
  return document.spec.signals.probing!;
}

function compile(probing: Record<string, unknown>, files: Record<string, string> = {}) {
  const issues: PolicyIssue[] = [];
  const compiled = compileProbing(spec(probing), new Map(Object.entries(files)), issues);
  return { compiled, issues };
}

describe("compileProbing", () => {
  it("is off when the policy has no probing block", () => {
    const issues: PolicyIssue[] = [];
    expect(compileProbing(undefined, new Map(), issues)).toBeUndefined();
    expect(issues).toEqual([]);
  });

  it("turns the window into milliseconds and keeps every count limit as written", () => {
    const limits = {
      probes: { threshold: 3, weight: 40 },
      missingPaths: { threshold: 12, weight: 30, statuses: [404] },
      errorRatio: { minRequests: 15, threshold: 0.6, weight: 25 },
      authFailures: { threshold: 5, weight: 21 },
      userAgents: { threshold: 4, weight: 15 },
      queryFlood: { threshold: 30, weight: 22 },
      protocol: { weight: 35 },
    };
    const { compiled, issues } = compile({ window: "90s", ...limits });
    expect(issues).toEqual([]);
    expect(compiled).toEqual({ windowMs: 90_000, lists: [], ...limits });
    // No `window` text left beside windowMs.
    expect(compiled).not.toHaveProperty("window");
  });

  it("builds one case-insensitive pattern per list from its patterns and its files' lines", () => {
    const { compiled, issues } = compile(
      {
        lists: [
          { name: "dotfiles", target: "path", patterns: ["/\\.env$"], files: ["dot.txt"], weight: 60 },
          { name: "admin", patterns: ["/admin\\b"], threshold: 2 },
        ],
      },
      { "dot.txt": "# dotfiles\n/\\.git/\r\n\n   \n  /\\.svn/ # a '#' later in the line is part of the pattern\n" },
    );
    expect(issues).toEqual([]);
    const [dotfiles, admin] = compiled!.lists;
    expect(dotfiles).toMatchObject({ name: "dotfiles", target: "path", weight: 60, threshold: undefined });
    expect(dotfiles!.pattern).toEqual(new RegExp("(?:/\\.env$)|(?:/\\.git/)|(?:/\\.svn/ # a '#' later in the line is part of the pattern)", "i"));
    expect(dotfiles!.pattern.test("/APP/.ENV")).toBe(true);
    expect(dotfiles!.pattern.test("/repo/.git/config")).toBe(true);
    expect(dotfiles!.pattern.test("/dotfiles")).toBe(false);
    // Schema defaults: the whole request as target, weight 50.
    expect(admin).toMatchObject({ name: "admin", target: "request", weight: 50, threshold: 2 });
    expect(admin!.pattern).toEqual(/(?:\/admin\b)/i);
  });

  it("keeps each alternative whole, so an alternation inside one pattern stays in it", () => {
    const { compiled } = compile({ lists: [{ name: "pair", patterns: ["^/a|^/b", "^/c$"] }] });
    const pattern = compiled!.lists[0]!.pattern;
    expect(pattern.test("/b")).toBe(true);
    expect(pattern.test("/c")).toBe(true);
    expect(pattern.test("/x/c/y")).toBe(false);
  });

  it("reports an invalid pattern by list and index, and keeps the valid ones", () => {
    const { compiled, issues } = compile({ lists: [{ name: "mixed", patterns: ["ok", "(unclosed", "fine"] }] });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe("spec.signals.probing.lists[0].patterns[1]");
    expect(issues[0]!.message).toMatch(/^invalid regular expression: .*unclosed/i);
    expect(compiled!.lists[0]!.pattern.source).toBe("(?:ok)|(?:fine)");
  });

  it("reports an invalid line of a list file by file and line number", () => {
    const { issues } = compile(
      { lists: [{ name: "a", patterns: ["x"] }, { name: "b", files: ["one.txt", "two.txt"] }] },
      { "one.txt": "fine\n", "two.txt": "# header\nalso-fine\n[bad\n" },
    );
    expect(issues.map((issue) => issue.path)).toEqual(["spec.signals.probing.lists[1].files[1] line 3"]);
  });

  it("reports a list file it was not given, by name", () => {
    const { compiled, issues } = compile({ lists: [{ name: "gone", patterns: ["still-here"], files: ["missing.txt"] }] });
    expect(issues).toEqual([{ path: "spec.signals.probing.lists[0].files[0]", message: 'cannot read list file "missing.txt"' }]);
    expect(compiled!.lists[0]!.pattern.source).toBe("(?:still-here)");
  });

  it("leaves out a list with no valid pattern rather than one that matches everything", () => {
    const { compiled } = compile(
      { lists: [{ name: "empty", files: ["comments.txt"] }, { name: "broken", patterns: ["("] }, { name: "kept", patterns: ["k"] }] },
      { "comments.txt": "# nothing yet\n\n" },
    );
    expect(compiled!.lists.map((l) => l.name)).toEqual(["kept"]);
  });
});
