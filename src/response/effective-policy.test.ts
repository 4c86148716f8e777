import { afterEach, describe, expect, it } from "vitest";
import { quiet, responsePolicy } from "../../test/support/response.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { compileSnapshot, type PolicySnapshot } from "../policy/loader.js";
import { ReplicatedMap } from "../state/replicated-map.js";
import { MemorySharedBackend } from "../state/shared-backend.js";
import { controlKey, decodeControl, EffectivePolicy, ROLLBACK_KEY, type Control, type PolicySourcePort } from "./effective-policy.js";
import { invalid, notFound, ResponseError } from "./errors.js";

/**
 * EffectivePolicy over a replicated memory map of controls and a policy source that holds a
 * file policy and the override it is given, as PolicySource does.
 */
class Source implements PolicySourcePort {
  override: CompiledPolicy | undefined;
  reason: string | undefined;
  readonly #listeners: ((policy: CompiledPolicy, snapshot: PolicySnapshot) => void)[] = [];
  #snapshot: PolicySnapshot;
  #file: CompiledPolicy;

  constructor(text: string) {
    this.#snapshot = snapshotOf(text);
    this.#file = compileSnapshot(this.#snapshot);
  }
  current = () => this.override ?? this.#file;
  filePolicy = () => this.#file;
  fileSnapshot = () => this.#snapshot;
  setOverride(policy: CompiledPolicy | undefined, reason?: string) {
    this.override = policy;
    this.reason = reason;
  }
  onFileChange(listener: (policy: CompiledPolicy, snapshot: PolicySnapshot) => void) {
    this.#listeners.push(listener);
    return () => {};
  }
  load(text: string) {
    this.#snapshot = snapshotOf(text);
    this.#file = compileSnapshot(this.#snapshot);
    for (const listener of this.#listeners) listener(this.#file, this.#snapshot);
  }
}

const snapshotOf = (text: string): PolicySnapshot => ({ source: "policy.yaml", text, listFiles: new Map(), listPaths: [] });
const T0 = Date.UTC(2026, 10, 24, 9);
const common = { actor: "token:a", atMs: T0, untilMs: T0 + 60_000 };
const rule = (id: string): Control => ({ kind: "rule", rule: id, ...common });
const threshold = (path: string, value: number): Control => ({ kind: "threshold", path, value, previous: 100, ...common });
const SEARCH = "endpoints/search/velocity/ip/threshold";

const maps: ReplicatedMap<Control>[] = [];
afterEach(async () => {
  await Promise.all(maps.splice(0).map((m) => m.stop()));
});

async function effective(text = responsePolicy("v1")) {
  const backend = new MemorySharedBackend({ clock: () => T0 });
  const store = backend.map("controls");
  const map = new ReplicatedMap({ store, decode: decodeControl });
  maps.push(map);
  await map.start();
  const source = new Source(text);
  const changes: string[] = [];
  const errors: string[] = [];
  const e = new EffectivePolicy(source, map, { ...quiet, error: (_o, message) => errors.push(message) }, (policy) => changes.push(policy.version));
  e.start();
  const put = (control: Control) => map.put(controlKey(control), JSON.stringify(control), 60_000);
  return { e, source, map, put, changes, errors };
}

describe("the effective policy", () => {
  it("is the file's policy with no control set, and no override", async () => {
    const { e, source, changes } = await effective();
    expect(source.override).toBeUndefined();
    expect(e.currentVersion()).toBe("v1");
    expect(e.compose([])).toEqual({ policy: source.filePolicy(), inactive: [] });
    expect(e.inactive()).toEqual([]);
    expect(e.problems()).toEqual([]);
    expect(changes).toEqual([]);
  });

  it("leaves disabled rules out and puts overridden numbers in, under a version that names the set", async () => {
    const { e, source, put, changes } = await effective();
    await put(rule("deny"));
    await put(threshold(SEARCH, 2));
    const policy = source.current();
    expect(policy.rules.map((r) => r.id)).not.toContain("deny");
    expect(policy.rules).toHaveLength(source.filePolicy().rules.length - 1);
    expect(policy.endpoints.find((x) => x.name === "search")!.velocity?.ip?.threshold).toBe(2);
    expect(policy.version).toMatch(/^v1\+rt\.[0-9a-f]{6}$/);
    expect(source.reason).toBe("rule deny disabled; endpoints/search/velocity/ip/threshold=2");
    // The version depends on the set, not the order it was made in.
    expect(e.compose([threshold(SEARCH, 2), rule("deny")]).policy.version).toBe(policy.version);
    expect(e.compose([rule("trap"), rule("deny")]).policy.version).toBe(e.compose([rule("deny"), rule("trap")]).policy.version);
    const WEIGHT = "endpoints/search/velocity/ip/weight";
    expect(e.compose([threshold(WEIGHT, 5), threshold(SEARCH, 2)]).policy.version).toBe(e.compose([threshold(SEARCH, 2), threshold(WEIGHT, 5)]).policy.version);
    expect(e.compose([rule("deny")]).policy.version).not.toBe(policy.version);
    expect(e.compose([rule("deny"), threshold(SEARCH, 3)]).policy.version).not.toBe(policy.version);
    expect(e.versionWith([threshold(SEARCH, 2), rule("deny")])).toBe(policy.version);
    expect(changes).toEqual([e.compose([rule("deny")]).policy.version, policy.version]);
  });

  it("says which controls have nothing to act on, and applies the rest", async () => {
    const { e, source, put } = await effective();
    await put(rule("gone"));
    await put(threshold("endpoints/nope/velocity/ip/threshold", 5));
    await put(rule("deny"));
    expect(e.inactive()).toEqual([
      { key: "rule:gone", why: "no such rule in the policy in force" },
      { key: "threshold:endpoints/nope/velocity/ip/threshold", why: "no number at this path in the policy in force" },
    ]);
    expect(source.current().rules.map((r) => r.id)).not.toContain("deny");
  });

  it("refuses numbers the policy's schema rejects, naming the path", () => {
    return effective().then(({ e }) => {
      const attempt = () => e.compose([threshold(SEARCH, -1)]);
      expect(attempt).toThrow(ResponseError);
      expect(attempt).toThrow(/^spec\/endpoints\/\d+\/velocity\/ip\/threshold: /);
    });
  });

  it("keeps the other controls when the overridden numbers make the policy invalid, and says so", async () => {
    // Written when it was valid (or by another version): the policy in force rejects it now.
    const { e, source, put, errors } = await effective();
    await put(rule("deny"));
    await put(threshold(SEARCH, -1));
    expect(e.problems()).toHaveLength(1);
    expect(e.problems()[0]).toMatch(/^threshold overrides not applied: spec\/endpoints\/\d+\/velocity\/ip\/threshold: /);
    expect(errors).toEqual(["threshold overrides make the policy invalid; applying the others only"]);
    expect(source.current().rules.map((r) => r.id)).not.toContain("deny");
    expect(source.current().endpoints.find((x) => x.name === "search")!.velocity?.ip?.threshold).toBe(100);
    expect(e.versionWith([rule("deny"), threshold(SEARCH, -1)])).toBe(source.current().version);
    // A file reload recomputes: the problem stays until the override goes.
    source.load(responsePolicy("v2"));
    expect(source.current().version).toMatch(/^v2\+rt\./);
    expect(e.problems()).toHaveLength(1);
  });

  it("rolls back to a kept version's text, and drops the rollback when it no longer compiles", async () => {
    const { e, source, put, errors } = await effective();
    const old = responsePolicy("v0").replace('{ id: deny, endpoints: [deny], when: "true", action: block', '{ id: deny, endpoints: [deny], when: "true", action: challenge');
    const rollback: Control = { kind: "rollback", id: "abc", name: "response-test", version: "v0", fromVersion: "v1", source: "policy.yaml", text: old, listFiles: [], ...common };
    expect(e.versionWith([rollback])).toBe("v0");
    expect(e.versionWith([rollback, rule("deny")])).toMatch(/^v0\+rt\./);
    await put(rollback);
    expect(source.current().version).toBe("v0");
    expect(e.base().policy.version).toBe("v0");
    expect(e.filePolicy().version).toBe("v1");
    expect(source.reason).toBe("rollback to v0");
    expect(e.versionWith([rollback])).toBe("v0");

    const broken: Control = { ...rollback, id: "def", text: "not: a policy" };
    await put(broken);
    expect(source.current().version).toBe("v1");
    expect(errors).toEqual(["rolled-back policy does not compile here; the file's policy stays in force"]);
  });

  it("reads stored controls, and keys them by kind", () => {
    expect(decodeControl(JSON.stringify(rule("deny")))).toEqual(rule("deny"));
    expect(decodeControl(JSON.stringify({ ...rule("deny"), kind: "other" }))).toBeUndefined();
    // Text that is not JSON (another program's value, a cut write) is ignored, not thrown.
    expect(decodeControl("{not json")).toBeUndefined();
    expect(controlKey(rule("deny"))).toBe("rule:deny");
    expect(controlKey(threshold("a/b", 1))).toBe("threshold:a/b");
    expect(ROLLBACK_KEY).toBe("rollback");
  });
});

describe("the effective policy at its edges", () => {
  it("names every set of controls by its own version: no two sets' texts run together", async () => {
    const { e } = await effective();
    const versionOf = (...controls: Control[]) => e.compose(controls).policy.version;
    // Rules alone: which rules, not only that there are some; and "ab","c" is not "a","bc".
    expect(versionOf(rule("deny"))).not.toBe(versionOf(rule("trap")));
    expect(versionOf(rule("ab"), rule("c"))).not.toBe(versionOf(rule("a"), rule("bc")));
    // A rule and a number are kept apart from a rule whose id reads like both.
    expect(versionOf(rule("r"), threshold("p", 1))).not.toBe(versionOf(rule("rp=1")));
    // Two numbers are not one number at a path that reads like both.
    expect(versionOf(threshold("a", 1), threshold("b", 2))).not.toBe(versionOf(threshold("a=1b", 2)));
  });

  it("replaces only numbers: a path to a mapping or to text is inactive, not overwritten", async () => {
    const { e, source } = await effective();
    const composed = e.compose([threshold("endpoints/search/velocity/ip", 5), threshold("endpoints/search/match/path", 5)]);
    expect(composed.inactive).toEqual([
      { key: "threshold:endpoints/search/velocity/ip", why: "no number at this path in the policy in force" },
      { key: "threshold:endpoints/search/match/path", why: "no number at this path in the policy in force" },
    ]);
    const search = composed.policy.endpoints.find((x) => x.name === "search")!;
    expect(search.velocity?.ip?.threshold).toBe(source.filePolicy().endpoints.find((x) => x.name === "search")!.velocity?.ip?.threshold);
  });

  it("has nothing inactive and no problems before it first computes", async () => {
    const backend = new MemorySharedBackend({ clock: () => T0 });
    const map = new ReplicatedMap({ store: backend.map("controls"), decode: decodeControl });
    maps.push(map);
    const e = new EffectivePolicy(new Source(responsePolicy("v1")), map, quiet, () => {});
    expect(e.inactive()).toEqual([]);
    expect(e.problems()).toEqual([]);
  });

  it("compiles a rolled-back version once, not on every read of the base", async () => {
    const { e, put } = await effective();
    const rollback: Control = { kind: "rollback", id: "once", name: "response-test", version: "v0", fromVersion: "v1", source: "policy.yaml", text: responsePolicy("v0"), listFiles: [], ...common };
    await put(rollback);
    const first = e.base().policy;
    expect(first.version).toBe("v0");
    expect(e.base().policy).toBe(first);
  });

  it("logs the error with the problems it reports", async () => {
    const backend = new MemorySharedBackend({ clock: () => T0 });
    const map = new ReplicatedMap({ store: backend.map("controls"), decode: decodeControl });
    maps.push(map);
    await map.start();
    const logged: { fields: Record<string, unknown>; message: string }[] = [];
    const log = { ...quiet, error: (fields: Record<string, unknown>, message: string) => void logged.push({ fields, message }) };
    const e = new EffectivePolicy(new Source(responsePolicy("v1")), map, log, () => {});
    e.start();
    await map.put(controlKey(threshold(SEARCH, -1)), JSON.stringify(threshold(SEARCH, -1)), 60_000);
    const broken: Control = { kind: "rollback", id: "bad", name: "response-test", version: "v9", fromVersion: "v1", source: "policy.yaml", text: "not: a policy", listFiles: [], ...common };
    await map.put(ROLLBACK_KEY, JSON.stringify(broken), 60_000);
    expect(logged.map(({ fields }) => fields.err instanceof Error)).toEqual(logged.map(() => true));
    expect(logged.find(({ message }) => message.startsWith("rolled-back policy"))?.fields.version).toBe("v9");
    expect(logged.some(({ message }) => message.startsWith("threshold overrides"))).toBe(true);
  });
});

describe("response errors", () => {
  it("carry the stable codes the error catalogue maps to statuses", () => {
    expect([notFound("x"), invalid("y"), new ResponseError("conflict", "z")].map((e) => [e.name, e.code, e.message])).toEqual([
      ["ResponseError", "not_found", "x"],
      ["ResponseError", "invalid", "y"],
      ["ResponseError", "conflict", "z"],
    ]);
  });
});
