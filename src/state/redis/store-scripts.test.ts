import { describe, expect, it } from "vitest";
import { appendEntityCall, encodeEntityBatch, type ScriptCall } from "./store-scripts.js";

const NOW = 1_800_000_000_000;
const MINUTE = 60_000;

describe("encodeEntityBatch", () => {
  it("sends each op's one-letter code and only the arguments it uses, its keys laid out as keys.ts says", () => {
    const call = encodeEntityBatch("palisade", "ip:1", [
      { op: "window.add", name: "pages", windowMs: MINUTE, amount: 0 },
      { op: "window.add", name: "pages", windowMs: MINUTE, amount: 1 },
      { op: "window.add", name: "pages", windowMs: MINUTE, amount: 3 },
      { op: "distinct.add", name: "probe", windowMs: MINUTE },
      { op: "distinct.add", name: "clients", windowMs: MINUTE, member: "c1" },
      { op: "distinct.add", name: "logins", windowMs: MINUTE, member: "u1", count: false },
      { op: "value.swap", name: "seen" },
      { op: "value.swap", name: "seen", value: 7, retentionMs: MINUTE },
    ], NOW);
    const bucket = Math.floor(NOW / MINUTE);
    const buckets = (structure: string) => [`palisade:{ip:1}:${structure}:${MINUTE}:${bucket}`, `palisade:{ip:1}:${structure}:${MINUTE}:${bucket - 1}`];
    expect(call.keys).toEqual([...buckets("w:pages"), ...buckets("w:pages"), ...buckets("w:pages"), ...buckets("d:probe"), ...buckets("d:clients"), ...buckets("d:logins"), "palisade:{ip:1}:v:seen", "palisade:{ip:1}:v:seen"]);
    // Reads carry no arguments, nor an add of 1 its amount; nothing carries an argument count.
    expect(call.args).toEqual(["p", "i", 2 * MINUTE, "w", 3, 2 * MINUTE, "r", "d", 2 * MINUTE, "c1", "D", 2 * MINUTE, "u1", "g", "s", 7, MINUTE]);
  });

  it("puts a guard's value keys after the op's own and its withinMs and nowMs after the op's arguments", () => {
    const when = { newer: "read", than: "asset", withinMs: 5_000 };
    const call = encodeEntityBatch("palisade", "ck:1", [
      { op: "window.add", name: "orphans", windowMs: MINUTE, amount: 1, when },
      { op: "value.swap", name: "last", value: 3, retentionMs: MINUTE, when },
    ], NOW);
    expect(call.keys.slice(2, 4)).toEqual(["palisade:{ck:1}:v:read", "palisade:{ck:1}:v:asset"]);
    expect(call.keys.slice(4)).toEqual(["palisade:{ck:1}:v:last", "palisade:{ck:1}:v:read", "palisade:{ck:1}:v:asset"]);
    expect(call.args).toEqual(["W", 1, 2 * MINUTE, 5_000, NOW, "S", 3, MINUTE, 5_000, NOW]);
  });

  it("ends one entity's takes with a commit before another entity's, and one caller's call before the next", () => {
    const take = { op: "window.take", name: "rl", windowMs: MINUTE, algorithm: "fixed", limit: 5, amount: 1 } as const;
    const call = encodeEntityBatch("palisade", "a", [take], NOW);
    encodeEntityBatch("palisade", "b", [take], NOW, call);
    // A fixed take's time to live: its window and a slack of one more (keys.ts takeTtlMs).
    expect(call.args).toEqual(["t", 1, 5, "0", 2 * MINUTE, ";", "t", 1, 5, "0", 2 * MINUTE]);
    const merged: ScriptCall = { keys: [], args: [] };
    appendEntityCall(merged, encodeEntityBatch("palisade", "c", [{ op: "value.swap", name: "v" }], NOW));
    appendEntityCall(merged, encodeEntityBatch("palisade", "d", [{ op: "value.swap", name: "v" }], NOW));
    expect(merged).toEqual({ keys: ["palisade:{c}:v:v", "palisade:{d}:v:v"], args: ["g", ";", "g"] });
  });
});
