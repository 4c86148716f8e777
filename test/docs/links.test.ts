import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";

/** The repository's own documents: the README and everything under docs/. */
const DOCUMENTS = ["README.md", ...readdirSync(path.join(repoRoot, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)];

/** Folders a backticked path may start with to count as a reference to a file of ours. */
const TOP_LEVEL = /^(src|test|docs|examples|bench|scripts|charts|k8s|proto|schema)\//;

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

/**
 * Every relative link and backticked repository path in `document` that does not resolve, and
 * how many of each were checked.
 */
function references(document: string): { broken: string[]; links: number; paths: number } {
  const file = path.join(repoRoot, document);
  const text = readFileSync(file, "utf8");
  const broken: string[] = [];
  let links = 0;
  let paths = 0;
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target!)) continue; // https:, mailto:
    links++;
    const [where, anchor] = target!.split("#") as [string, string | undefined];
    const resolved = where === "" ? file : path.resolve(path.dirname(file), where);
    if (!resolved.startsWith(repoRoot) || !existsSync(resolved)) broken.push(`link ${target}`);
    else if (anchor && resolved.endsWith(".md") && !anchorsOf(resolved).has(anchor)) broken.push(`anchor ${target}`);
  }
  for (const [, reference] of text.replace(/```[\s\S]*?```/g, "").matchAll(/`([^`\s]+)`/g)) {
    const candidate = reference!.replace(/[:#].*$/, "");
    if (!TOP_LEVEL.test(candidate) || /[*<>{}]/.test(candidate)) continue;
    paths++;
    if (!existsSync(path.join(repoRoot, candidate))) broken.push(`file ${reference}`);
  }
  return { broken, links, paths };
}

describe("the repository's documents", () => {
  it.each(DOCUMENTS)("%s links only to what exists in the repository", (document) => {
    expect(references(document).broken).toEqual([]);
  });

  it("checks links and paths at all", () => {
    // Loops over no match pass whatever the documents say: the documents hold well over a
    // hundred relative links and two hundred backticked paths of ours.
    const all = DOCUMENTS.map(references);
    expect(DOCUMENTS.length).toBeGreaterThan(20);
    expect(all.reduce((sum, r) => sum + r.links, 0)).toBeGreaterThan(100);
    expect(all.reduce((sum, r) => sum + r.paths, 0)).toBeGreaterThan(200);
  });
});
