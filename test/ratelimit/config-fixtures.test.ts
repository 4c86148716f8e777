import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { RateLimitConfigError } from "../../src/ratelimit/config.js";
import { loadRateLimitConfig } from "../../src/ratelimit/config-loader.js";
import { lintRateLimitConfig } from "../../src/ratelimit/lint.js";
import { formatIssues } from "../../src/config/issues.js";
import { repoRoot } from "../support/policies.js";

/**
 * One fixture per rate-limit configuration error with the exact lines an operator sees:
 * `<case>.yaml` (or a `<case>/` directory, for errors across files) beside `<case>.expected.txt`.
 */
const fixtures = fileURLToPath(new URL("../fixtures/ratelimit/", import.meta.url));
const invalidDir = join(fixtures, "invalid");
const cases = readdirSync(invalidDir).filter((name) => !name.endsWith(".txt")).sort();

describe("invalid rate-limit configurations", () => {
  it.each(cases)("%s is rejected with the expected issues", async (name) => {
    const expected = readFileSync(join(invalidDir, `${name.replace(/\.yaml$/, "")}.expected.txt`), "utf8").trimEnd();
    const error = await loadRateLimitConfig(join(invalidDir, name)).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error, `${name} should be rejected`).toBeInstanceOf(RateLimitConfigError);
    expect(formatIssues(error as RateLimitConfigError).replaceAll(`${invalidDir}/`, "")).toBe(expected);
  });
});

describe("valid rate-limit configurations", () => {
  it("loads a file written in envoyproxy/ratelimit's format", async () => {
    const config = await loadRateLimitConfig(join(fixtures, "valid", "envoyproxy-style.yaml"));
    expect(config.domains.get("messaging")).toMatchObject({ failureMode: "error", ruleCount: 8 });
  });

  it("lints the bundled example", async () => {
    const file = join(repoRoot, "examples", "ratelimit.yaml");
    expect(await lintRateLimitConfig(file)).toEqual({
      ok: true,
      output: `${file}: ok: 1 domain: storefront (9 rate limits, failure_mode error)`,
    });
  });

  it("loads every domain file of a directory and skips the policy sharing the ConfigMap", async () => {
    const dir = mkdtempSync(join(tmpdir(), "palisade-ratelimit-dir-"));
    try {
      for (const name of ["policy.yaml", "ratelimit.yaml"]) copyFileSync(join(repoRoot, "examples", name), join(dir, name));
      copyFileSync(join(fixtures, "valid", "envoyproxy-style.yaml"), join(dir, "messaging.yml"));
      const config = await loadRateLimitConfig(dir);
      expect([...config.domains.keys()]).toEqual(["messaging", "storefront"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("counts domains and their rate limits in the singular and the plural", async () => {
    const dir = mkdtempSync(join(tmpdir(), "palisade-ratelimit-lint-"));
    try {
      writeFileSync(join(dir, "login.yaml"), "domain: login\nfailure_mode: closed\ndescriptors:\n  - key: ip\n    rate_limit: { unit: minute, requests_per_unit: 5 }\n");
      writeFileSync(
        join(dir, "search.yaml"),
        "domain: search\ndescriptors:\n  - key: ip\n    rate_limit: { unit: second, requests_per_unit: 5 }\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 50 }\n",
      );
      expect(await lintRateLimitConfig(dir)).toEqual({
        ok: true,
        output: `${dir}: ok: 2 domains: login (1 rate limit, failure_mode closed), search (2 rate limits, failure_mode error)`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports an alias it cannot expand as an issue of the file, not a crash", async () => {
    const file = join(invalidDir, "alias-bomb.yaml");
    expect(await lintRateLimitConfig(file)).toEqual({ ok: false, output: `${file}: the aliases (*name) expand into too many nodes; write the repeated values out` });
  });

  it("reports a location that does not exist", async () => {
    const missing = join(fixtures, "absent.yaml");
    expect(await lintRateLimitConfig(missing)).toEqual({ ok: false, output: `${missing}: cannot read: no such file or directory` });
  });
});
