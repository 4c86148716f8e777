import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PolicyError } from "../../src/policy/compile.js";
import { PolicySource, type PolicyLogger, type PolicySourceOptions, type ReloadResult } from "../../src/policy/policy-source.js";
import { ConfigMapMount } from "../support/configmap.js";

/** The service promises that a valid update takes effect within this long. */
const RELOAD_DEADLINE_MS = 2000;

const policyText = (version: string, extra = "spec: {}") => `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: shop, version: "${version}" }
${extra}
`;
const invalidText = policyText("bad").replace("spec: {}", "spec: { mode: loud }");

function fakeLogger() {
  return { info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies PolicyLogger;
}

const eventually = (assertion: () => void) => vi.waitFor(assertion, { timeout: RELOAD_DEADLINE_MS, interval: 20 });

describe("PolicySource", () => {
  let dir: string;
  let sources: PolicySource[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-policy-source-"));
    sources = [];
  });
  afterEach(async () => {
    await Promise.all(sources.map((source) => source.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  function open(options: Partial<PolicySourceOptions> & { location: string }) {
    const results: ReloadResult[] = [];
    const logger = fakeLogger();
    // On the event loop: a worker under tsx takes seconds to start on a loaded machine; the
    // worker path has its own test below.
    const source = new PolicySource({ logger, reloadOffThread: false, onReload: (result) => results.push(result), ...options });
    sources.push(source);
    return { source, results, logger };
  }

  it("applies a valid ConfigMap update within the deadline", async () => {
    const mount = new ConfigMapMount(dir);
    mount.publish({ "policy.yaml": policyText("v1"), "ratelimit.yaml": "domain: palisade\n" });
    const { source, results } = open({ location: dir });
    expect((await source.start()).version).toBe("v1");

    mount.publish({ "policy.yaml": policyText("v2"), "ratelimit.yaml": "domain: palisade\n" });
    await eventually(() => expect(source.current().version).toBe("v2"));
    expect(results).toEqual([{ ok: true, policy: source.current() }]);
    expect(source.status()).toMatchObject({ name: "shop", version: "v2", source: join(dir, "policy.yaml") });
    expect(source.status().lastError).toBeUndefined();
  });

  it("rejects an invalid update, keeps the last good policy, and clears the error on the next valid one", async () => {
    const mount = new ConfigMapMount(dir);
    mount.publish({ "policy.yaml": policyText("v1") });
    const { source, results, logger } = open({ location: dir });
    const first = await source.start();

    mount.publish({ "policy.yaml": invalidText });
    await eventually(() => expect(source.status().lastError).toBeDefined());
    expect(source.current()).toBe(first);
    expect(source.status().lastError?.issues).toEqual([
      { path: "spec.mode", message: 'expected one of "enforce", "shadow"; got "loud"' },
    ]);
    expect(results).toHaveLength(1);
    expect(results[0]?.ok).toBe(false);
    expect(logger.error).toHaveBeenCalledWith(
      expect.objectContaining({ issues: source.status().lastError?.issues, versionInForce: "v1" }),
      expect.stringContaining("rejected"),
    );

    mount.publish({ "policy.yaml": policyText("v3") });
    await eventually(() => expect(source.current().version).toBe("v3"));
    expect(source.status().lastError).toBeUndefined();
    expect(results.map((result) => result.ok)).toEqual([false, true]);
  });

  it("does not report a reload when the content is republished unchanged", async () => {
    const mount = new ConfigMapMount(dir);
    mount.publish({ "policy.yaml": policyText("v1") });
    const { source, results } = open({ location: dir, pollIntervalMs: 50 });
    const first = await source.start();

    mount.publish({ "policy.yaml": policyText("v1") });
    // A forced reload reads the files after any check already queued: a change would show here.
    expect(await source.reload()).toEqual({ ok: true, policy: first });
    expect(source.current()).toBe(first);
    // Then a real change: checks run one at a time, in order, so once it is in force every
    // check the republish set off has run, and a report of it would come before this one.
    mount.publish({ "policy.yaml": policyText("v2") });
    await expect.poll(() => source.current().version, { timeout: RELOAD_DEADLINE_MS, interval: 20 }).toBe("v2");
    expect(results).toEqual([{ ok: true, policy: source.current() }]);
  });

  it("clears the error without a reload when a rejected edit is reverted", async () => {
    const mount = new ConfigMapMount(dir);
    mount.publish({ "policy.yaml": policyText("v1") });
    const { source, results } = open({ location: dir });
    const first = await source.start();
    mount.publish({ "policy.yaml": invalidText });
    await eventually(() => expect(source.status().lastError).toBeDefined());

    mount.publish({ "policy.yaml": policyText("v1") });
    await eventually(() => expect(source.status().lastError).toBeUndefined());
    expect(source.current()).toBe(first);
    expect(results.map((result) => result.ok)).toEqual([false]);
  });

  it("lets a runtime override win over file changes until it is cleared", async () => {
    const mount = new ConfigMapMount(dir);
    mount.publish({ "policy.yaml": policyText("v1") });
    const { source, results } = open({ location: dir });
    const v1 = await source.start();
    const snapshotV1 = source.fileSnapshot();
    const changes: string[] = [];
    source.onFileChange((policy, snapshot) => changes.push(`${policy.version}:${snapshot.text.includes("v2")}`));

    source.setOverride(v1, "rollback to v1");
    mount.publish({ "policy.yaml": policyText("v2") });
    await eventually(() => expect(source.filePolicy().version).toBe("v2"));
    expect(source.current()).toBe(v1);
    expect(source.status()).toMatchObject({ version: "v1", override: { reason: "rollback to v1", fileVersion: "v2" } });
    expect(results.map((r) => r.ok)).toEqual([true]);
    expect(changes).toEqual(["v2:true"]);
    expect(snapshotV1.text).toContain('"v1"');

    source.setOverride(undefined);
    expect(source.current().version).toBe("v2");
    expect(source.status().override).toBeUndefined();
  });

  it("notices changes by polling alone when file events are not delivered", async () => {
    const mount = new ConfigMapMount(dir);
    mount.publish({ "policy.yaml": policyText("v1") });
    const { source } = open({ location: dir, watch: false });
    await source.start();

    mount.publish({ "policy.yaml": policyText("v2") });
    await eventually(() => expect(source.current().version).toBe("v2"));
  });

  it("reloads when a list file the policy names changes", async () => {
    const withList = policyText("v1", "spec:\n  reputation:\n    lists: [{ name: p, effect: allow, files: [partners.txt] }]");
    const mount = new ConfigMapMount(dir);
    mount.publish({ "policy.yaml": withList, "partners.txt": "203.0.113.0/28\n" });
    const { source, results } = open({ location: dir });
    expect((await source.start()).lists[0]?.entries).toBe(1);

    mount.publish({ "policy.yaml": withList, "partners.txt": "203.0.113.0/28\n192.0.2.0/24\n" });
    await eventually(() => expect(source.current().lists[0]?.entries).toBe(2));
    expect(results).toHaveLength(1);
  });

  it("reloads a plain file, written in place or replaced by rename", async () => {
    const file = join(dir, "policy.yaml");
    writeFileSync(file, policyText("v1"));
    const { source } = open({ location: file });
    await source.start();

    writeFileSync(file, policyText("v2"));
    await eventually(() => expect(source.current().version).toBe("v2"));

    writeFileSync(join(dir, ".policy.yaml.swp"), policyText("v3"));
    renameSync(join(dir, ".policy.yaml.swp"), file);
    await eventually(() => expect(source.current().version).toBe("v3"));
  });

  it("refuses to start without a valid policy", async () => {
    const file = join(dir, "policy.yaml");
    writeFileSync(file, invalidText);
    const { source } = open({ location: file });
    await expect(source.start()).rejects.toBeInstanceOf(PolicyError);
    expect(() => source.current()).toThrow(/before start/);

    const missing = open({ location: join(dir, "absent") }).source;
    await expect(missing.start()).rejects.toThrow(/no such file or directory/);
  });

  it("reload() reports the error that rejects the current files", async () => {
    const file = join(dir, "policy.yaml");
    writeFileSync(file, policyText("v1"));
    const { source } = open({ location: file, watch: false, pollIntervalMs: 60_000 });
    await source.start();

    writeFileSync(file, "");
    const result = await source.reload();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.issues[0]?.message).toMatch(/empty/);
    expect(source.current().version).toBe("v1");
  });

  it("reloads on a worker thread: rejects 10,000 rules unplanned, then applies a valid edit", async () => {
    const file = join(dir, "policy.yaml");
    writeFileSync(file, policyText("v1"));
    const { source } = open({ location: file, watch: false, pollIntervalMs: 60_000, reloadOffThread: true });
    await source.start();

    const rules = Array.from({ length: 10_000 }, (_, i) => `    - { id: r${i}, when: "risk > ${i}", action: block }`).join("\n");
    writeFileSync(file, policyText("v2", `spec:\n  rules:\n${rules}`));
    const rejected = await source.reload();
    expect(!rejected.ok && rejected.error.issues[0]?.message).toBe("too expensive: 10000 rules; at most 500");
    expect(source.current().version).toBe("v1");

    writeFileSync(file, policyText("v3", 'spec:\n  rules: [{ id: r, when: "risk > 50", action: block }]'));
    const applied = await source.reload();
    expect(applied.ok && applied.policy.version).toBe("v3");
    expect(source.current().rules[0]?.cost).toBeGreaterThan(0);
  });

  describe("driven by reload() alone", () => {
    function quiet(version = "v1") {
      const file = join(dir, "policy.yaml");
      writeFileSync(file, policyText(version));
      const opened = open({ location: file, watch: false, pollIntervalMs: 60_000 });
      return { file, ...opened };
    }

    it("logs setting and clearing an override, and shows it in the status", async () => {
      const { file, source, logger } = quiet();
      const v1 = await source.start();
      writeFileSync(file, policyText("v2"));
      await source.reload();
      source.setOverride(v1, "incident 42");
      expect(logger.info).toHaveBeenLastCalledWith({ version: "v1", fileVersion: "v2", reason: "incident 42" }, "policy override set");
      const status = source.status();
      expect(status.override).toEqual({ reason: "incident 42", since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), fileVersion: "v2" });
      expect(Date.parse(status.override!.since)).toBeLessThanOrEqual(Date.now());
      expect(status).toMatchObject({ name: "shop", version: "v1" });

      source.setOverride(undefined);
      expect(logger.info).toHaveBeenLastCalledWith({ version: "v2", fileVersion: "v2", reason: "" }, "policy override cleared");
      expect(source.status().override).toBeUndefined();
      expect(source.current().version).toBe("v2");
    });

    it("warns about a policy that loads but will not do what it says, at the first load and at each reload", async () => {
      const unmarkedSignUp = 'spec: { endpoints: [{ name: signup, match: { path: /register }, registration: true }] }';
      const { file, source, logger } = quiet();
      writeFileSync(file, policyText("v1", unmarkedSignUp));
      await source.start();
      const warnings = [{ path: "spec.endpoints[0].outcome.createdHeader", message: expect.stringContaining("teaches no account history") }];
      expect(logger.warn).toHaveBeenCalledWith({ version: "v1", warnings }, "policy loaded with warnings");
      writeFileSync(file, policyText("v2", unmarkedSignUp));
      await source.reload();
      expect(logger.warn).toHaveBeenLastCalledWith({ version: "v2", warnings }, "policy loaded with warnings");
      writeFileSync(file, policyText("v3"));
      await source.reload();
      expect(logger.warn).toHaveBeenCalledTimes(2);
    });

    it("does not log clearing an override that was never set", async () => {
      const { source, logger } = quiet();
      await source.start();
      logger.info.mockClear();
      source.setOverride(undefined);
      expect(logger.info).not.toHaveBeenCalled();
    });

    it("logs an override to the version already in force", async () => {
      const { source, logger } = quiet();
      const v1 = await source.start();
      source.setOverride(v1, "pin");
      expect(logger.info).toHaveBeenLastCalledWith({ version: "v1", fileVersion: "v1", reason: "pin" }, "policy override set");
    });

    it("tells file-change listeners about each applied change until they unsubscribe, whatever another listener throws", async () => {
      const { file, source, logger } = quiet();
      await source.start();
      const seen: string[] = [];
      source.onFileChange(() => {
        throw new Error("listener broke");
      });
      const unsubscribe = source.onFileChange((policy, snapshot) => seen.push(`${policy.version} ${snapshot.source}`));

      writeFileSync(file, policyText("v2"));
      await source.reload();
      expect(seen).toEqual([`v2 ${file}`]);
      expect(logger.error).toHaveBeenCalledWith({ err: expect.objectContaining({ message: "listener broke" }) }, "policy reload listener failed");

      writeFileSync(file, invalidText);
      await source.reload();
      expect(seen).toHaveLength(1);

      unsubscribe();
      writeFileSync(file, policyText("v3"));
      await source.reload();
      expect(seen).toHaveLength(1);
      expect(source.fileSnapshot().text).toBe(policyText("v3"));
    });

    it("shows the last rejection with its time, source and issues", async () => {
      const { file, source } = quiet();
      await source.start();
      writeFileSync(file, invalidText);
      await source.reload();
      const { lastError } = source.status();
      expect(lastError).toEqual({
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        source: file,
        issues: [{ path: "spec.mode", message: 'expected one of "enforce", "shadow"; got "loud"' }],
      });
      expect(source.status().loadedAt <= lastError!.at).toBe(true);
    });

    it("reports a policy file that went missing, and keeps the last good one", async () => {
      const { file, source } = quiet();
      await source.start();
      rmSync(file);
      const result = await source.reload();
      expect(!result.ok && result.error.issues).toEqual([{ path: "", message: "cannot read: no such file or directory" }]);
      expect(source.current().version).toBe("v1");
    });
  });

  it("accepts pino as its logger", async () => {
    const file = join(dir, "policy.yaml");
    writeFileSync(file, policyText("v1"));
    const logger: PolicyLogger = pino({ level: "silent" });
    const source = new PolicySource({ location: file, logger });
    sources.push(source);
    expect((await source.start()).version).toBe("v1");
  });
});
