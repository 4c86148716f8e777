/**
 * Docs quote only outputs that a test checks: every `palisade policy lint FILE` and
 * `palisade ratelimit lint FILE` in a code block of the README or docs/ that is followed by a
 * `# ...` line quotes what the command prints, and this test runs the same lint to compare.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { lintPolicy } from "../../src/policy/lint.js";
import { lintRateLimitConfig } from "../../src/ratelimit/lint.js";
import { repoRoot } from "../support/policies.js";

const DOCUMENTS = ["README.md", ...readdirSync(path.join(repoRoot, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)];

interface Quote {
  document: string;
  kind: "policy" | "ratelimit";
  file: string;
  quoted: string;
}

function quotes(): Quote[] {
  const found: Quote[] = [];
  for (const document of DOCUMENTS) {
    const lines = readFileSync(path.join(repoRoot, document), "utf8").split("\n");
    lines.forEach((line, index) => {
      const command = /palisade(?: --)? (policy|ratelimit) lint (\S+)\s*$/.exec(line);
      const next = lines[index + 1];
      if (command && next?.startsWith("# ")) found.push({ document, kind: command[1] as Quote["kind"], file: command[2]!, quoted: next.slice(2) });
    });
  }
  return found;
}

describe("quoted lint output", () => {
  const all = quotes();

  it("is found for both the example policy and the example rate limits", () => {
    expect(all.map((quote) => `${quote.kind} ${quote.file}`)).toEqual(expect.arrayContaining(["policy examples/policy.yaml", "ratelimit examples/ratelimit.yaml"]));
  });

  it.each(all.map((quote) => [`${quote.document}: ${quote.kind} lint ${quote.file}`, quote] as const))("%s is what the command prints", async (_, quote) => {
    const absolute = path.join(repoRoot, quote.file);
    const result = quote.kind === "policy" ? await lintPolicy(absolute) : await lintRateLimitConfig(absolute);
    expect(result.ok).toBe(true);
    expect(quote.quoted).toBe(result.output.replaceAll(repoRoot, ""));
  });
});
