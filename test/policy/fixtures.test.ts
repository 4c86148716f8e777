import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PolicyError } from "../../src/policy/compile.js";
import { formatIssues, loadPolicy } from "../../src/policy/loader.js";

/**
 * One fixture per configuration error, each with the exact lines an operator sees
 * (`<case>.yaml` beside `<case>.expected.txt`), as envoyproxy/ratelimit keeps them. A new case
 * is a new pair of files; nothing here needs to change.
 */
const fixtures = fileURLToPath(new URL("../fixtures/policies/", import.meta.url));
const validDir = join(fixtures, "valid");
const invalidDir = join(fixtures, "invalid");
const yamlIn = (dir: string) => readdirSync(dir).filter((name) => name.endsWith(".yaml")).sort();

describe("valid policies", () => {
  it.each(yamlIn(validDir))("%s loads", async (name) => {
    const policy = await loadPolicy(join(validDir, name));
    expect(policy.name).toBeTruthy();
  });
});

describe("invalid policies", () => {
  it.each(yamlIn(invalidDir))("%s is rejected with the expected issues", async (name) => {
    const expected = readFileSync(join(invalidDir, name.replace(/\.yaml$/, ".expected.txt")), "utf8").trimEnd();
    const error = await loadPolicy(join(invalidDir, name)).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error, `${name} should be rejected`).toBeInstanceOf(PolicyError);
    // Sources are named as given; the expected files hold them relative to the fixture directory.
    expect(formatIssues(error as PolicyError).replaceAll(`${invalidDir}/`, "")).toBe(expected);
  });
});
