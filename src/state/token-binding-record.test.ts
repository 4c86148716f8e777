import { describe, expect, it } from "vitest";
import {
  BINDING_MAX_TIME_MS,
  assertValidBindingUse,
  decodeBindingRecord,
  encodeBindingRecord,
  stepBinding,
  type BindingRecord,
  type BindingRules,
  type BindingUse,
} from "./token-binding-record.js";

const MINUTE = 60_000;
const rules: BindingRules = { retentionMs: 30 * 24 * 60 * MINUTE, alternationMs: 10 * MINUTE };
const use = (atMinute: number, network = "home", device = "phone", companion = "c1", missing = false): BindingUse => ({
  device,
  companion,
  network,
  nowMs: atMinute * MINUTE,
  missing,
});

function steps(uses: BindingUse[]): { kinds: string[]; record: BindingRecord | undefined } {
  let record: BindingRecord | undefined;
  const kinds = uses.map((next) => {
    const step = stepBinding(record, next, rules);
    record = step.next;
    return step.kind;
  });
  return { kinds, record };
}

describe("stepBinding", () => {
  it("binds on the first use, remembers later ones, and binds afresh after the retention", () => {
    const { kinds, record } = steps([use(0), use(5, "mobile"), use(31 * 24 * 60, "other", "new-phone")]);
    expect(kinds).toEqual(["bound", "used", "bound"]);
    expect(record).toEqual({ device: "new-phone", companion: "c1", networks: [["other", 31 * 24 * 60 * MINUTE]], uses: [31 * 24 * 60 * MINUTE], interleavedMs: 0 });
  });

  it("binds nothing on a use without the companion cookie while nothing is bound, and leaves a binding alone otherwise", () => {
    expect(steps([use(0, "proxy", "curl", "", true)])).toEqual({ kinds: ["unbound"], record: undefined });
    expect(steps([use(0), use(1, "proxy", "curl", "", true)]).kinds).toEqual(["bound", "used"]);
  });

  it("lets a single use without the cookie yield to another device carrying it within the window, and only then", () => {
    expect(steps([use(0, "thief", "script", ""), use(0, "home")]).kinds).toEqual(["bound", "claimed"]);
    expect(steps([use(0, "thief", "script", ""), use(11, "home")]).kinds).toEqual(["bound", "used"]);
    expect(steps([use(0, "a", "a", ""), use(1, "a", "a", ""), use(2, "home")]).kinds).toEqual(["bound", "used", "used"]);
  });

  it("takes a late companion cookie, marks a return to a network left within the window, and keeps its bounds", () => {
    const late = steps([use(0, "home", "phone", ""), use(1, "home", "phone", "c9")]).record!;
    expect(late.companion).toBe("c9");
    expect(steps([use(0, "a"), use(1, "b"), use(2, "a")]).record!.interleavedMs).toBe(2 * MINUTE);
    expect(steps([use(0, "a"), use(1, "b"), use(20, "a")]).record!.interleavedMs).toBe(0);
    const busy = steps(Array.from({ length: 50 }, (_, i) => use(i, `n${i % 12}`))).record!;
    expect(busy.networks).toHaveLength(8);
    expect(busy.uses).toHaveLength(32);
    expect(busy.uses[31]).toBe(49 * MINUTE);
  });

  it("does not change the record it is given", () => {
    const { record } = steps([use(0), use(1, "b")]);
    const copy = structuredClone(record);
    stepBinding(record, use(2, "a"), rules);
    expect(record).toEqual(copy);
  });
});

describe("the stored form", () => {
  it("round-trips and stays within 1,326 bytes at the bounds", () => {
    let record: BindingRecord | undefined;
    for (let i = 0; i < 40; i++) {
      record = stepBinding(record, { device: "d".repeat(64), companion: "c".repeat(64), network: `${i}`.padStart(64, "n"), nowMs: BINDING_MAX_TIME_MS - 40 + i, missing: false }, rules).next;
    }
    record!.interleavedMs = BINDING_MAX_TIME_MS;
    const text = encodeBindingRecord(record!);
    expect(text.length).toBe(1_326);
    expect(decodeBindingRecord(text)).toEqual(record);
  });

  it("reads anything else as no binding", () => {
    for (const text of [null, undefined, "", "{", "[]", "null", '{"d":"x"}', '{"d":"x","c":"","n":[],"u":[1],"i":0}', '{"d":"x","c":"","n":[["a",1]],"u":[1.5],"i":0}', '{"d":1,"c":"","n":[["a",1]],"u":[1],"i":0}', 42]) {
      expect(decodeBindingRecord(text), String(text)).toBeUndefined();
    }
  });

  it("refuses fields, times and rules no binding can hold", () => {
    expect(() => assertValidBindingUse(use(0), rules)).not.toThrow();
    expect(() => assertValidBindingUse({ ...use(0), network: "n".repeat(65) }, rules)).toThrow(TypeError);
    expect(() => assertValidBindingUse({ ...use(0), nowMs: BINDING_MAX_TIME_MS + 1 }, rules)).toThrow(TypeError);
    expect(() => assertValidBindingUse({ ...use(0), nowMs: -1 }, rules)).toThrow(TypeError);
    expect(() => assertValidBindingUse(use(0), { ...rules, alternationMs: 1.5 })).toThrow(TypeError);
  });
});
