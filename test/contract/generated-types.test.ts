import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";

const checkedIn = path.join(repoRoot, "src/transport/grpc/generated");
const fresh = mkdtempSync(path.join(tmpdir(), "palisade-proto-types-"));
afterAll(() => rmSync(fresh, { recursive: true, force: true }));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

it("checks in the message types proto-loader-gen-types makes from proto/ today (npm run protos:types)", () => {
  execFileSync(process.execPath, ["--import", "tsx", path.join(repoRoot, "scripts/write-proto-types.ts"), fresh], { cwd: repoRoot, stdio: "ignore" });
  const files = filesUnder(fresh);
  expect(files.length).toBeGreaterThan(50);
  expect(filesUnder(checkedIn)).toEqual(files);
  for (const file of files) expect(readFileSync(path.join(checkedIn, file), "utf8"), file).toBe(readFileSync(path.join(fresh, file), "utf8"));
});
