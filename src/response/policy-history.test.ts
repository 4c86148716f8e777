import { describe, expect, it } from "vitest";
import type { CompiledPolicy } from "../policy/compile.js";
import type { PolicySnapshot } from "../policy/loader.js";
import { MemorySharedBackend } from "../state/shared-backend.js";
import { ResponseError } from "./errors.js";
import { decodeVersion, PolicyHistory, snapshotOf, versionIdOf, versionRef } from "./policy-history.js";

const T0 = Date.UTC(2026, 10, 24, 9);

const snapshot = (text: string, lists: [string, string][] = []): PolicySnapshot => ({ source: "/etc/palisade/policy.yaml", text, listFiles: new Map(lists), listPaths: [] });
/** Only what the history reads of a compiled policy. */
const policy = (version: string, keep = 5) => ({ name: "shop", version, response: { audit: { maxAgeMs: 86_400_000 }, history: { versions: keep } } }) as unknown as CompiledPolicy;

function history() {
  const clock = { now: T0 };
  const backend = new MemorySharedBackend({ clock: () => clock.now });
  const map = backend.map("policies");
  return { history: new PolicyHistory(map), map, clock };
}

describe("policy versions", () => {
  it("names a version by the hash of its text and list files, whatever their order", () => {
    const id = versionIdOf(snapshot("a", [["x", "1"], ["y", "2"]]));
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(versionIdOf(snapshot("a", [["y", "2"], ["x", "1"]]))).toBe(id);
    expect(versionIdOf(snapshot("a", [["x", "1"], ["y", "3"]]))).not.toBe(id);
    expect(versionIdOf(snapshot("a", [["x", "1"]]))).not.toBe(id);
    expect(versionIdOf(snapshot("b", [["x", "1"], ["y", "2"]]))).not.toBe(id);
    // Name and text are kept apart: moving a character from one to the other is another version.
    expect(versionIdOf(snapshot("a", [["xy", "z"]]))).not.toBe(versionIdOf(snapshot("a", [["x", "yz"]])));
    expect(versionRef({ version: "v1", id: "abc" })).toBe("v1@abc");
    expect(snapshotOf({ source: "s", text: "t", listFiles: [["x", "1"]] })).toEqual({ source: "s", text: "t", listFiles: new Map([["x", "1"]]), listPaths: [] });
    expect(decodeVersion('{"id":"a"}')).toBeUndefined();
  });

  it("records a version once, with its time and files, for as long as the audit trail", async () => {
    const { history: h, map, clock } = history();
    const first = await h.record(snapshot("text-1", [["bad.txt", "192.0.2.0/24"]]), policy("v1"), T0);
    expect(first).toEqual({
      created: true,
      version: { id: versionIdOf(snapshot("text-1", [["bad.txt", "192.0.2.0/24"]])), name: "shop", version: "v1", source: "/etc/palisade/policy.yaml", loadedAtMs: T0, text: "text-1", listFiles: [["bad.txt", "192.0.2.0/24"]] },
    });
    clock.now += 1_000;
    const again = await h.record(snapshot("text-1", [["bad.txt", "192.0.2.0/24"]]), policy("v1"), T0 + 1_000);
    expect(again).toEqual({ created: false, version: first.version });
    const { entries } = await map.snapshot();
    expect(entries.get(first.version.id)!.ttlMs).toBe(86_400_000 - 1_000);
  });

  it("keeps only the newest N, newest first", async () => {
    const { history: h } = history();
    for (let i = 1; i <= 4; i++) await h.record(snapshot(`text-${i}`), policy(`v${i}`, 2), T0 + i);
    expect((await h.list()).map((v) => v.version)).toEqual(["v4", "v3"]);
  });

  it("finds a version by id, a prefix of four or more, version@id, or an unambiguous version string", async () => {
    const { history: h } = history();
    const { version: one } = await h.record(snapshot("one"), policy("v1"), T0);
    const { version: two } = await h.record(snapshot("two"), policy("v2"), T0 + 1);
    expect(await h.find(one.id)).toEqual(one);
    expect(await h.find(two.id.slice(0, 4))).toEqual(two);
    expect(await h.find(two.id.slice(0, 3))).toBeUndefined();
    expect(await h.find(`v1@${one.id}`)).toEqual(one);
    expect(await h.find(`v2@${one.id}`)).toBeUndefined();
    expect(await h.find("v2")).toEqual(two);
    expect(await h.find("v3")).toBeUndefined();
    expect(await h.find(`@${one.id}`)).toBeUndefined();
  });

  it("refuses a version string two kept versions share, naming the refs to use", async () => {
    const { history: h } = history();
    const { version: a } = await h.record(snapshot("a"), policy("v1"), T0);
    const { version: b } = await h.record(snapshot("b"), policy("v1"), T0 + 1);
    const error = (await h.find("v1").catch((e: unknown) => e)) as ResponseError;
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.code).toBe("conflict");
    expect(error.message).toBe(`"v1" names 2 kept versions (v1@${b.id}, v1@${a.id}); give one of these refs`);
    expect(await h.find(`v1@${a.id.slice(0, 6)}`)).toEqual(a);
  });
});
