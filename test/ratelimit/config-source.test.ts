import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { RateLimitConfigError } from "../../src/ratelimit/config.js";
import { RateLimitConfigSource } from "../../src/ratelimit/config-source.js";

const domainFile = (domain: string, requests = 10) => `domain: ${domain}\ndescriptors:\n  - key: ip\n    rate_limit: { unit: minute, requests_per_unit: ${requests} }\n`;

let dir: string;
let source: RateLimitConfigSource | undefined;
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), "palisade-ratelimit-source-"))));
afterEach(async () => {
  await source?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it("reloads a directory of domains, keeps the last good configuration, and says why it rejected an edit", async () => {
  writeFileSync(join(dir, "shop.yaml"), domainFile("shop"));
  const results: boolean[] = [];
  const logger = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  source = new RateLimitConfigSource({ location: dir, logger, pollIntervalMs: 50, onReload: (result) => results.push(result.ok) });
  const first = await source.start();
  expect([...first.domains.keys()]).toEqual(["shop"]);

  writeFileSync(join(dir, "internal.yaml"), domainFile("internal"));
  await vi.waitFor(() => expect([...source!.current().domains.keys()]).toEqual(["internal", "shop"]), { timeout: 2000 });

  writeFileSync(join(dir, "shop.yaml"), domainFile("shop").replace("rate_limit", "ratelimit"));
  await vi.waitFor(() => expect(source!.status().lastError).toBeDefined(), { timeout: 2000 });
  expect(source.status().lastError?.issues).toEqual([{ path: "descriptors[0].ratelimit", message: 'unknown key (did you mean "rate_limit"?)' }]);
  expect([...source.current().domains.keys()]).toEqual(["internal", "shop"]);
  expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ domainsInForce: ["internal", "shop"] }), expect.stringContaining("rejected"));
  expect(results).toEqual([true, false]);
});

it("refuses to start without a valid configuration", async () => {
  writeFileSync(join(dir, "shop.yaml"), "domain: [");
  source = new RateLimitConfigSource({ location: join(dir, "shop.yaml"), logger: { info() {}, warn() {}, error() {} } });
  await expect(source.start()).rejects.toBeInstanceOf(RateLimitConfigError);
});

it("keeps reloading the rate limits while a policy in the same directory is broken", async () => {
  writeFileSync(join(dir, "ratelimit.yaml"), domainFile("shop"));
  // A policy edit with a YAML error, once under the name the policy loader prefers and once
  // under another name: neither is read as rate limits.
  writeFileSync(join(dir, "policy.yaml"), "apiVersion: palisade.dev/v1\nkind: Policy\nmetadata: { name: [\n");
  writeFileSync(join(dir, "storefront-policy.yaml"), "kind: Policy\nspec:\n  rules: [\n");
  source = new RateLimitConfigSource({ location: dir, logger: { info() {}, warn() {}, error() {} }, pollIntervalMs: 50 });
  expect([...(await source.start()).domains.keys()]).toEqual(["shop"]);
  writeFileSync(join(dir, "ratelimit.yaml"), domainFile("checkout"));
  await vi.waitFor(() => expect([...source!.current().domains.keys()]).toEqual(["checkout"]), { timeout: 2000 });
  expect(source.status().lastError).toBeUndefined();
});

it("reloads on demand, says what is in force, and keeps it when the file goes away", async () => {
  const file = join(dir, "ratelimit.yaml");
  writeFileSync(file, domainFile("shop"));
  const logger = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const results: unknown[] = [];
  // Neither watching nor polling within the test: only reload() reads the file again.
  source = new RateLimitConfigSource({ location: file, logger, watch: false, pollIntervalMs: 3_600_000, onReload: (result) => results.push(result.ok) });
  await source.start();
  const loaded = source.status();
  expect(loaded).toEqual({ source: file, domains: ["shop"], loadedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
  expect(logger.info).toHaveBeenLastCalledWith({ source: file, domains: ["shop"] }, "rate-limit configuration loaded");

  writeFileSync(file, domainFile("checkout"));
  const reloaded = await source.reload();
  expect(reloaded.ok && [...reloaded.value.domains.keys()]).toEqual(["checkout"]);
  expect(source.status()).toMatchObject({ source: file, domains: ["checkout"] });
  expect(logger.info).toHaveBeenLastCalledWith({ source: file, domains: ["checkout"] }, "rate-limit configuration reloaded");

  rmSync(file);
  const gone = await source.reload();
  expect(gone.ok).toBe(false);
  expect(!gone.ok && gone.error).toMatchObject({ source: file, issues: [{ path: "", message: "cannot read: no such file or directory" }] });
  expect(source.status()).toMatchObject({ domains: ["checkout"], lastError: { source: file, issues: [{ message: "cannot read: no such file or directory" }] } });
  expect(logger.error).toHaveBeenCalledWith(
    expect.objectContaining({ domainsInForce: ["checkout"] }),
    "rate-limit configuration rejected; the last good rate-limit configuration stays in force",
  );
  expect(results).toEqual([true, false]);
});

it("leaves no timer behind once stopped", async () => {
  writeFileSync(join(dir, "ratelimit.yaml"), domainFile("shop"));
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout"] });
  try {
    source = new RateLimitConfigSource({ location: dir, logger: { info() {}, warn() {}, error() {} }, watch: false, pollIntervalMs: 50 });
    await source.start();
    expect(vi.getTimerCount()).toBe(1); // the poll
    await source.stop();
    expect(vi.getTimerCount()).toBe(0);
  } finally {
    vi.useRealTimers();
  }
});
