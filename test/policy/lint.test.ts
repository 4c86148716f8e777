import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { lintPolicy } from "../../src/policy/lint.js";

const fixtures = fileURLToPath(new URL("../fixtures/policies/", import.meta.url));

describe("lintPolicy", () => {
  it("summarises a valid policy", async () => {
    const file = join(fixtures, "valid", "full.yaml");
    expect(await lintPolicy(file)).toEqual({
      ok: true,
      output: `${file}: ok: policy "full" version 2026-11-24.1 (enforce): 4 endpoints, 3 rules, 3 reputation lists`,
    });
  });

  it("prints every issue of an invalid policy, one per line", async () => {
    const file = join(fixtures, "invalid", "unknown-key.yaml");
    const result = await lintPolicy(file);
    expect(result.ok).toBe(false);
    expect(result.output.split("\n")).toEqual([
      `${file}: spec.endpoints[0].velocity.ip.threshold: required; expected a number`,
      `${file}: spec.endpoints[0].velocity.ip.treshold: unknown key (did you mean "threshold"?)`,
    ]);
  });

  it("reports a location that does not exist", async () => {
    const result = await lintPolicy(join(fixtures, "absent.yaml"));
    expect(result).toEqual({ ok: false, output: `${join(fixtures, "absent.yaml")}: cannot read: no such file or directory` });
  });
});
