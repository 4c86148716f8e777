import { afterEach, describe, expect, it, vi } from "vitest";
import { engineHarness, responsePolicy, type EngineHarness } from "../../test/support/response.js";
import { ResponseError } from "./errors.js";

let h: EngineHarness;
afterEach(async () => h?.stop());

const alice = { actor: "token:alice", reason: "investigating" };
const refusal = (code: string) => expect.objectContaining({ name: "ResponseError", code });

describe("rule disable and enable", () => {
  it("takes the rule out of the policy in force, under a version that says so, and puts it back", async () => {
    h = await engineHarness();
    await h.engine.controls.disableRule("deny", alice);
    const version = h.source.current().version;
    expect(version).toMatch(/^v1\+rt\.[0-9a-f]{6}$/);
    const { decision } = await h.check("/deny", "192.0.2.1");
    expect(decision).toMatchObject({ action: "allow", policyVersion: version });
    expect(h.events.at(-1)).toMatchObject({ type: "rule.disabled", rule: "deny", actor: "token:alice", policyVersion: version });

    await h.engine.controls.enableRule("deny", alice);
    expect(h.source.current().version).toBe("v1");
    expect(h.source.status().override).toBeUndefined();
    expect((await h.check("/deny", "192.0.2.1")).decision.action).toBe("block");
  });

  it("refuses unknown rules and enabling what is not disabled, changing nothing", async () => {
    h = await engineHarness();
    await expect(h.engine.controls.disableRule("nope", alice)).rejects.toEqual(refusal("not_found"));
    await expect(h.engine.controls.enableRule("deny", alice)).rejects.toEqual(refusal("not_found"));
    await expect(h.engine.controls.disableRule("deny", { ...alice, forMs: 365 * 86_400_000 })).rejects.toEqual(refusal("invalid"));
    expect(h.engine.controls.list()).toEqual([]);
    expect(h.events.filter((e) => e.type.startsWith("rule."))).toEqual([]);
  });

  it("lapses at its expiry", async () => {
    // The replicated copy expires entries on its own monotonic clock and prune timer: both fake
    // here, so the test steps time instead of waiting for it (setTimeout stays real).
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
    try {
      h = await engineHarness();
      await h.engine.controls.disableRule("deny", { ...alice, forMs: 60_000 });
      const disabled = h.source.current().version;
      await vi.advanceTimersByTimeAsync(59_000);
      expect(h.source.current().version).toBe(disabled);
      expect((await h.check("/deny", "192.0.2.2")).decision.action).toBe("allow");
      await vi.advanceTimersByTimeAsync(2_000);
      expect(h.source.current().version).toBe("v1");
      expect((await h.check("/deny", "192.0.2.2")).decision.action).toBe("block");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("control requests at their edges", () => {
  it("takes a duration up to the policy's limit, refuses one longer and numbers that are not finite, and says why", async () => {
    h = await engineHarness();
    const thirtyDays = 30 * 86_400_000;
    await expect(h.engine.controls.disableRule("deny", { ...alice, forMs: thirtyDays + 1 })).rejects.toThrow("an override lasts at most 2592000s (spec.response.overrides.maxDuration)");
    const control = await h.engine.controls.disableRule("deny", { ...alice, forMs: thirtyDays });
    expect(control.untilMs - control.atMs).toBe(thirtyDays);
    // Without a duration, the policy's longest.
    expect((await h.engine.controls.disableRule("trap", alice)).untilMs).toBe(h.clock.now + thirtyDays);
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(h.engine.controls.overrideThreshold("endpoints/search/velocity/ip/threshold", value, alice)).rejects.toThrow("value must be a finite number");
    }
    await expect(h.engine.controls.disableRule("nope", alice)).rejects.toThrow('no rule "nope" in the policy in force');
    await expect(h.engine.controls.enableRule("step", alice)).rejects.toThrow('rule "step" is not disabled');
    await expect(h.engine.controls.clearThreshold("a/b", alice)).rejects.toThrow('no override at "a/b"');
    await expect(h.engine.controls.clearRollback(alice)).rejects.toThrow("no rollback is in force");
    await expect(h.engine.controls.rollback("v9", alice)).rejects.toThrow('no kept policy version "v9" (GET /v1/policy/versions lists them)');
    await expect(h.engine.controls.overrideThreshold("endpoints/nope/x", 1, alice)).rejects.toThrow('no number at "endpoints/nope/x" in the policy in force');
  });

  it("records the version in force after a change that replaces an earlier one, and announces a repeated write once", async () => {
    h = await engineHarness();
    const path = "endpoints/search/velocity/ip/threshold";
    await h.engine.controls.overrideThreshold(path, 2, alice);
    await h.engine.controls.overrideThreshold(path, 3, alice);
    expect(h.engine.controls.list()).toHaveLength(1);
    expect(h.events.at(-1)).toMatchObject({ type: "threshold.overridden", value: 3, previous: 100, policyVersion: h.source.current().version });
    await h.engine.controls.disableRule("deny", alice);
    await h.engine.controls.clearThreshold(path, alice);
    expect(h.events.at(-1)).toMatchObject({ type: "threshold.cleared", path, policyVersion: h.source.current().version });
    await h.engine.controls.enableRule("deny", alice);
    expect(h.events.at(-1)).toMatchObject({ type: "rule.enabled", policyVersion: "v1" });

    const id = { key: "same-request" };
    await h.engine.controls.disableRule("trap", { ...alice, id });
    await h.engine.controls.disableRule("trap", { ...alice, id });
    expect(h.events.filter((e) => e.type === "rule.disabled" && e.rule === "trap")).toHaveLength(1);
    await h.engine.controls.enableRule("trap", { ...alice, id: { key: "enable-once" } });
    expect(h.events.filter((e) => e.type === "rule.enabled" && e.rule === "trap")).toHaveLength(1);
  });
});

describe("threshold overrides", () => {
  it("replaces a number, validated like the file, and clears again", async () => {
    h = await engineHarness();
    const path = "endpoints/search/velocity/ip/threshold";
    await h.engine.controls.overrideThreshold(path, 2, alice);
    expect(h.events.at(-1)).toMatchObject({ type: "threshold.overridden", path, value: 2, previous: 100 });
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await h.check("/search", "192.0.2.3")).decision.reasons.some((r) => r.code === "velocity.ip"));
    expect(results).toEqual([false, false, true]);
    await h.engine.controls.clearThreshold(path, alice);
    expect(h.source.current().version).toBe("v1");
  });

  it("refuses a path that leads to no number and a value the schema rejects", async () => {
    h = await engineHarness();
    await expect(h.engine.controls.overrideThreshold("endpoints/nope/velocity/ip/threshold", 5, alice)).rejects.toEqual(refusal("not_found"));
    await expect(h.engine.controls.overrideThreshold("endpoints/search/name", 5, alice)).rejects.toEqual(refusal("not_found"));
    const negative = h.engine.controls.overrideThreshold("endpoints/search/velocity/ip/threshold", -1, alice);
    await expect(negative).rejects.toBeInstanceOf(ResponseError);
    await expect(negative).rejects.toEqual(refusal("invalid"));
    await expect(h.engine.controls.clearThreshold("endpoints/search/velocity/ip/threshold", alice)).rejects.toEqual(refusal("not_found"));
    expect(h.engine.controls.list()).toEqual([]);
  });
});

describe("rollback", () => {
  it("restores a kept version over a newer file until cleared, and keeps it across file reloads", async () => {
    h = await engineHarness(responsePolicy("v1"));
    const v2 = responsePolicy("v2").replace("{ id: deny, endpoints: [deny], when: \"true\", action: block", "{ id: deny, endpoints: [deny], when: \"true\", action: challenge");
    await h.publish(v2);
    expect((await h.check("/deny", "192.0.2.4")).decision).toMatchObject({ action: "challenge", policyVersion: "v2" });
    expect((await h.engine.history.list()).map((v) => v.version)).toEqual(["v2", "v1"]);

    await h.engine.controls.rollback("v1", alice);
    expect(h.events.at(-1)).toMatchObject({ type: "policy.rolled_back", fromVersion: "v2", policyVersion: "v1" });
    expect((await h.check("/deny", "192.0.2.4")).decision).toMatchObject({ action: "block", policyVersion: "v1" });

    await h.publish(responsePolicy("v3"));
    expect(h.source.filePolicy().version).toBe("v3");
    expect(h.source.current().version).toBe("v1");

    await h.engine.controls.clearRollback(alice);
    expect(h.source.current().version).toBe("v3");
    expect(h.events.at(-1)).toMatchObject({ type: "policy.override_cleared", clearedVersion: "v1", policyVersion: "v3" });
  });

  it("applies disabled rules on top of a rollback", async () => {
    h = await engineHarness(responsePolicy("v1"));
    await h.publish(responsePolicy("v2"));
    await h.engine.controls.rollback("v1", alice);
    await h.engine.controls.disableRule("deny", alice);
    expect(h.source.current().version).toMatch(/^v1\+rt\./);
    await expect(h.engine.controls.rollback("v9", alice)).rejects.toEqual(refusal("not_found"));
    await expect(h.engine.controls.clearRollback(alice)).resolves.toBeUndefined();
    await expect(h.engine.controls.clearRollback(alice)).rejects.toEqual(refusal("not_found"));
    expect(h.source.current().version).toMatch(/^v2\+rt\./);
  });

  it("refuses a version string two kept versions share, and the version in force, changing nothing", async () => {
    h = await engineHarness(responsePolicy("v1"));
    // An edit that kept metadata.version: two kept versions, one version string.
    await h.publish(responsePolicy("v1").replace('action: block', 'action: challenge'));
    const [edited, original] = await h.engine.history.list();
    expect([edited!.version, original!.version]).toEqual(["v1", "v1"]);
    const ambiguous = (await h.engine.controls.rollback("v1", alice).catch((error: unknown) => error)) as ResponseError;
    expect(ambiguous).toEqual(refusal("conflict"));
    expect(ambiguous.message).toContain(`v1@${original!.id}`);
    await expect(h.engine.controls.rollback(`v1@${edited!.id}`, alice)).rejects.toEqual(refusal("conflict")); // in force
    await expect(h.engine.controls.rollback(edited!.id, alice)).rejects.toEqual(refusal("conflict"));
    expect(h.engine.controls.list()).toEqual([]);

    await h.engine.controls.rollback(`v1@${original!.id.slice(0, 6)}`, alice);
    expect((await h.check("/deny", "192.0.2.9")).decision.action).toBe("block");
    await expect(h.engine.controls.rollback(original!.id, alice)).rejects.toEqual(refusal("conflict")); // now in force
  });

  it("records each file version once, and only the newest N", async () => {
    h = await engineHarness(responsePolicy("v1", "", "  response: { history: { versions: 2 } }"));
    for (const version of ["v2", "v3", "v3"]) await h.publish(responsePolicy(version, "", "  response: { history: { versions: 2 } }"));
    await expect.poll(async () => (await h.engine.history.list()).map((v) => v.version)).toEqual(["v3", "v2"]);
    expect(h.events.filter((e) => e.type === "policy.loaded").map((e) => "version" in e && e.version)).toEqual(["v1", "v2", "v3"]);
  });
});

describe("control changes as announced", () => {
  it("announces a write with its expiry, actor and reason at the time of the change, and a removal without an expiry", async () => {
    h = await engineHarness();
    const heard: { type: string; atMs: number; auditId?: string; untilMs?: number; reason?: string }[] = [];
    h.engine.events.on((event, atMs, meta) => heard.push({ type: event.type, atMs, auditId: meta.auditId, untilMs: "untilMs" in event ? event.untilMs : undefined, reason: "reason" in event ? event.reason : undefined }));
    const started = h.clock.now;
    const control = await h.engine.controls.disableRule("deny", { ...alice, forMs: 60_000 });
    expect(control).toMatchObject({ kind: "rule", rule: "deny", actor: "token:alice", reason: "investigating", atMs: started, untilMs: started + 60_000 });
    expect(h.engine.controls.list()).toEqual([control]);
    h.clock.now += 5_000;
    await h.engine.controls.enableRule("deny", { actor: "token:bob" });
    expect(heard).toEqual([
      { type: "rule.disabled", atMs: started, auditId: expect.any(String), untilMs: started + 60_000, reason: "investigating" },
      { type: "rule.enabled", atMs: started + 5_000, auditId: expect.any(String), untilMs: undefined, reason: undefined },
    ]);
    expect(heard[0]!.auditId).not.toBe(heard[1]!.auditId);
    expect(h.events.at(-1)).toMatchObject({ actor: "token:bob" });
  });

  it("refuses a removal that lost a race with another change to the same override, keeping the newer one", async () => {
    h = await engineHarness();
    const path = "endpoints/search/velocity/ip/threshold";
    await h.engine.controls.overrideThreshold(path, 2, alice);
    // Another replica's change reaches the shared map after this one read its copy.
    const shared = h.backend.map("controls");
    const remove = shared.remove.bind(shared);
    const [mine] = h.engine.controls.list();
    const newer = JSON.stringify({ ...mine, value: 3, actor: "token:bob" });
    shared.remove = async (...args) => (await shared.put(`threshold:${path}`, newer, 60_000), remove(...args));
    const cleared = h.engine.controls.clearThreshold(path, alice);
    await expect(cleared).rejects.toEqual(refusal("conflict"));
    await expect(cleared).rejects.toThrow(`threshold:${path} was changed or removed meanwhile; nothing done`);
    expect([...(await shared.snapshot()).entries.values()].map((e) => e.value)).toEqual([newer]);
    expect(h.events.filter((e) => e.type === "threshold.cleared")).toEqual([]);
  });

  it("refuses a rollback to a kept version that no longer compiles, changing nothing", async () => {
    h = await engineHarness();
    const broken = { id: "0123456789abcdef", name: "old", version: "v0", source: "policy.yaml", loadedAtMs: h.clock.now - 60_000, text: "apiVersion: nope\n", listFiles: [] };
    await h.backend.map("policies").putIfAbsent(broken.id, JSON.stringify(broken), 3_600_000);
    const refused = h.engine.controls.rollback("v0", alice);
    await expect(refused).rejects.toEqual(refusal("invalid"));
    await expect(refused).rejects.toThrow(/^policy version v0 no longer compiles here: /);
    expect(h.engine.controls.list()).toEqual([]);
    expect(h.source.current().version).toBe("v1");
  });

  it("checks an override together with the others in force, replacing only its own path", async () => {
    h = await engineHarness();
    const path = "endpoints/search/velocity/ip/threshold";
    await h.engine.controls.disableRule("deny", alice);
    await h.engine.controls.overrideThreshold(path, 2, alice);
    await h.engine.controls.overrideThreshold(path, 5, alice);
    expect(h.engine.controls.list().map((c) => c.kind).sort()).toEqual(["rule", "threshold"]);
    expect((await h.check("/deny", "192.0.2.20")).decision.action).toBe("allow");
    expect(h.events.at(-1)).toMatchObject({ type: "threshold.overridden", value: 5, previous: 100, policyVersion: h.source.current().version });
  });
});
