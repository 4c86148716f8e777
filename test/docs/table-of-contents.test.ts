/**
 * The README stays a front page (what Palisade is, the two commands, the Envoy snippet, links)
 * and docs/README.md is the table of contents of everything under docs/.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";

it("the README is at most 250 lines and leads to the table of contents", () => {
  const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
  expect(readme.split("\n").length).toBeLessThanOrEqual(250);
  expect(readme).toContain("](docs/README.md)");
  expect(readme).toContain("npm ci\nnpm start\n");
});

it("docs/README.md lists every page under docs/", () => {
  const contents = readFileSync(path.join(repoRoot, "docs", "README.md"), "utf8");
  const pages = readdirSync(path.join(repoRoot, "docs")).filter((name) => name.endsWith(".md") && name !== "README.md");
  expect(pages.filter((page) => !contents.includes(`](${page})`))).toEqual([]);
});
