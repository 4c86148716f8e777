import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../state/memory-store.js";
import { RateLimitConfigError, type RateLimitConfig } from "./config.js";
import { buildRateLimitConfig, readRateLimitSnapshot } from "./config-loader.js";
import { RateLimiter } from "./limiter.js";

/**
 * One domain made of several files (ratelimitMergeDomains, envoyproxy's MERGE_DOMAIN_CONFIG):
 * the files' top-level descriptors are merged, a descriptor configured twice is refused, and a
 * failure_mode set in one file holds for the domain.
 */

const T0 = 1_700_000_040_000;

const build = (files: Record<string, string>, mergeDomains = true) =>
  buildRateLimitConfig({ location: "/etc/ratelimit", files: Object.entries(files).map(([name, text]) => [`/etc/ratelimit/${name}`, text]) }, { mergeDomains });

const issuesOf = (action: () => unknown) => {
  try {
    action();
  } catch (error) {
    if (error instanceof RateLimitConfigError) return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
    throw error;
  }
  throw new Error("no error");
};

function limiterOn(config: RateLimitConfig) {
  const limiter = new RateLimiter({
    config: () => config,
    store: new MemoryStore(),
    pseudonymise: (identity) => createHash("sha256").update(identity).digest("base64url").slice(0, 22),
    clock: { now: () => T0 },
  });
  return (key: string, value: string) => limiter.shouldRateLimit({ domain: "shop", descriptors: [{ entries: [{ key, value }] }], hits: 0 });
}

const A = `
domain: shop
descriptors:
  - key: ip
    rate_limit: { name: per_ip, unit: minute, requests_per_unit: 3 }
  - key: path
    value: "/api/*"
    rate_limit: { unit: minute, requests_per_unit: 10 }
`;
const B = `
domain: shop
descriptors:
  - key: user
    rate_limit: { replaces: [{ name: per_ip }], unit: minute, requests_per_unit: 7 }
  - key: path
    value: "/api/v1/*"
    rate_limit: { unit: minute, requests_per_unit: 4 }
  - key: path
    value: "/static"
    rate_limit: { unlimited: true }
`;

describe("domains merged from several files", () => {
  it("answers from the descriptors of every file, the most literal wildcard first, and counts every file's rules", async () => {
    const config = build({ "a.yaml": A, "b.yaml": B });
    const domain = config.domains.get("shop")!;
    expect(domain.ruleCount).toBe(5);
    expect(domain.source).toBe("/etc/ratelimit/a.yaml");
    const ask = limiterOn(config);
    expect((await ask("ip", "10.0.0.1")).statuses[0]?.currentLimit?.requestsPerUnit).toBe(3);
    expect((await ask("user", "alice")).statuses[0]?.currentLimit?.requestsPerUnit).toBe(7);
    // Both files' wildcards on one key: /api/v1/* (from b) is more literal than /api/* (from a).
    expect((await ask("path", "/api/v1/x")).statuses[0]?.currentLimit?.requestsPerUnit).toBe(4);
    expect((await ask("path", "/api/v2/x")).statuses[0]?.currentLimit?.requestsPerUnit).toBe(10);
    expect((await ask("path", "/static")).statuses[0]).toEqual({ code: "OK", limitRemaining: 4_294_967_295 });
  });

  it("refuses a second file for a domain unless merging is on", () => {
    expect(issuesOf(() => build({ "a.yaml": A, "b.yaml": B }, false))).toEqual([
      'domain: domain "shop" is already configured in a.yaml; a domain lives in one file unless ratelimitMergeDomains (MERGE_DOMAIN_CONFIG) is set',
    ]);
  });

  it("refuses a descriptor configured in two files, by value, by key alone and by wildcard", () => {
    const twice = `
domain: shop
descriptors:
  - key: ip
    rate_limit: { unit: minute, requests_per_unit: 9 }
  - key: path
    value: "/api/*"
    rate_limit: { unit: minute, requests_per_unit: 9 }
  - key: plan
    value: gold
    rate_limit: { unit: minute, requests_per_unit: 9 }
`;
    const withGold = `${A}  - key: plan\n    value: gold\n    rate_limit: { unit: hour, requests_per_unit: 1 }\n`;
    expect(issuesOf(() => build({ "a.yaml": withGold, "b.yaml": twice }))).toEqual([
      'descriptors: duplicate descriptor: key "plan" with value "gold" is already configured in a.yaml',
      'descriptors: duplicate descriptor: key "ip" without a value is already configured in a.yaml',
      'descriptors: duplicate descriptor: key "path" with value "/api/*" is already configured in a.yaml',
    ]);
  });

  it("keeps one failure_mode for the domain: a file that sets none follows the one that does, in either order; two different ones are refused", () => {
    const open = "domain: shop\nfailure_mode: open\ndescriptors:\n  - key: a\n    rate_limit: { unit: minute, requests_per_unit: 1 }\n";
    const closed = "domain: shop\nfailure_mode: closed\ndescriptors:\n  - key: b\n    rate_limit: { unit: minute, requests_per_unit: 1 }\n";
    const unset = (key: string) => `domain: shop\ndescriptors:\n  - key: ${key}\n    rate_limit: { unit: minute, requests_per_unit: 1 }\n`;
    expect(build({ "a.yaml": open, "b.yaml": unset("c") }).domains.get("shop")!.failureMode).toBe("open");
    expect(build({ "a.yaml": unset("c"), "b.yaml": unset("d") }).domains.get("shop")!.failureMode).toBe("error");
    // The file that sets it may come later by name than one that does not.
    expect(build({ "a.yaml": unset("c"), "b.yaml": open }).domains.get("shop")!.failureMode).toBe("open");
    const refused = issuesOf(() => build({ "a.yaml": open, "b.yaml": closed }));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/^failure_mode: "closed" differs from "open" in a\.yaml/);
  });

  it("checks replaces against the whole domain: a name from another file is fine, an unknown one is not", () => {
    expect(() => build({ "a.yaml": A, "b.yaml": B })).not.toThrow();
    const stray = "domain: shop\ndescriptors:\n  - key: z\n    rate_limit: { replaces: [{ name: nowhere }], unit: minute, requests_per_unit: 1 }\n";
    expect(issuesOf(() => build({ "a.yaml": A, "b.yaml": stray })).join("\n")).toMatch(/nowhere/);
  });
});

describe("which files hold rate limits", () => {
  const shop = "domain: shop\ndescriptors:\n  - key: ip\n    rate_limit: { unit: minute, requests_per_unit: 3 }\n";

  it("passes over a Kubernetes document given as a file, and says so when nothing else is there", () => {
    const kubernetes = "apiVersion: palisade.dev/v1alpha1\nkind: Policy\nmetadata: { name: x }\n";
    expect([...build({ "a.yaml": shop, "other.yaml": kubernetes }).domains.keys()]).toEqual(["shop"]);
    expect(issuesOf(() => build({ "other.yaml": kubernetes }))).toEqual([": no rate-limit configuration here: expected *.yaml files with a domain and descriptors"]);
    // `kind` alone, or a list, is no Kubernetes document: it is a rate-limit file with errors.
    expect(issuesOf(() => build({ "a.yaml": "kind: Policy\ndomain: shop\n" })).join("\n")).toMatch(/kind/);
    expect(issuesOf(() => build({ "a.yaml": "- apiVersion: v1\n  kind: List\n" })).length).toBeGreaterThan(0);
  });

  it("reads directories in name order, from config/ when the runtime layout is there, leaving out the policy's file", async () => {
    const root = mkdtempSync(join(tmpdir(), "palisade-rl-"));
    mkdirSync(join(root, "config"));
    writeFileSync(join(root, "beside.yaml"), shop.replace("shop", "beside"));
    writeFileSync(join(root, "config", "b.yaml"), shop.replace("shop", "second"));
    writeFileSync(join(root, "config", "a.yaml"), shop);
    writeFileSync(join(root, "config", "policy.yaml"), "not: [valid");
    writeFileSync(join(root, "config", "any-name.yaml"), "apiVersion: palisade.dev/v1alpha1\nkind: Policy\nspec: [broken\n");
    const snapshot = await readRateLimitSnapshot(root);
    expect(snapshot.files.map(([path]) => path.slice(root.length))).toEqual(["/config/a.yaml", "/config/b.yaml"]);
    expect([...buildRateLimitConfig(snapshot).domains.keys()]).toEqual(["shop", "second"]);
    // Without config/ the directory itself is read.
    const flat = mkdtempSync(join(tmpdir(), "palisade-rl-"));
    writeFileSync(join(flat, "a.yaml"), shop);
    expect((await readRateLimitSnapshot(flat)).files.map(([path]) => path.slice(flat.length))).toEqual(["/a.yaml"]);
    // A file named directly is read whatever it looks like.
    expect((await readRateLimitSnapshot(join(root, "config", "policy.yaml"))).files).toHaveLength(1);
  });

  it("names every broken file of a directory, each issue under its file", () => {
    const issues = issuesOf(() => build({ "a.yaml": "domain: [", "b.yaml": "domain: shop\nunknown: 1\n" }));
    expect(issues.some((issue) => issue.includes("a.yaml"))).toBe(true);
    expect(issues.some((issue) => issue.includes("b.yaml"))).toBe(true);
  });
});
