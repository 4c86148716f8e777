/**
 * The shared test data folder, read in place: `../shared/data/` beside the repository. A git
 * worktree lives elsewhere, so its main checkout's neighbour is tried too.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { repoRoot } from "./policies.js";

/** The folder `../shared/data/<name>` of this checkout (or of its main checkout), if present. */
export function sharedDataDir(name: string): string | undefined {
  return checkoutRoots()
    .map((root) => resolve(root, "..", "shared", "data", name))
    .find((dir) => existsSync(dir));
}

/** Why a test needing `../shared/data/<name>` skips, or undefined when the folder is there. */
export function sharedDataMissing(name: string): string | undefined {
  return sharedDataDir(name) ? undefined : `../shared/data/${name} is absent beside the repository`;
}

function checkoutRoots(): string[] {
  const roots = [repoRoot];
  const dotGit = join(repoRoot, ".git");
  // In a worktree `.git` is a file naming its git directory, whose `commondir` leads to the main one.
  if (existsSync(dotGit) && statSync(dotGit).isFile()) {
    const gitDir = resolve(repoRoot, readFileSync(dotGit, "utf8").replace(/^gitdir:\s*/, "").trim());
    const commonFile = join(gitDir, "commondir");
    const commonDir = existsSync(commonFile) ? resolve(gitDir, readFileSync(commonFile, "utf8").trim()) : gitDir;
    roots.push(dirname(commonDir));
  }
  return roots;
}
