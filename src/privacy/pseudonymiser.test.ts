import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HmacPseudonymiser, PSEUDONYM_CACHE_ENTRIES } from "./pseudonymiser.js";

const key = (byte: number) => Buffer.alloc(32, byte);
const expected = (k: Buffer, kind: string, value: string) =>
  createHmac("sha256", k).update(kind).update("\u0000").update(value).digest("base64url").slice(0, 22);

describe("HmacPseudonymiser's remembered pseudonyms", () => {
  it("answers from memory exactly what the HMAC gives, per kind", () => {
    const pseudonymiser = new HmacPseudonymiser({ current: key(1) });
    for (let round = 0; round < 2; round++) {
      expect(pseudonymiser.pseudonymise("ip", "203.0.113.7")).toBe(expected(key(1), "ip", "203.0.113.7"));
      expect(pseudonymiser.pseudonymise("username", "203.0.113.7")).toBe(expected(key(1), "username", "203.0.113.7"));
    }
  });

  it("forgets every pseudonym of the old key on rotation", () => {
    const pseudonymiser = new HmacPseudonymiser({ current: key(1) });
    const before = pseudonymiser.pseudonymise("username", "alice");
    pseudonymiser.rotate({ current: key(2), previous: { key: key(1), validUntilMs: Number.MAX_SAFE_INTEGER } });
    expect(pseudonymiser.pseudonymise("username", "alice")).toBe(expected(key(2), "username", "alice"));
    expect(pseudonymiser.candidates("username", "alice", 0)).toEqual([expected(key(2), "username", "alice"), before]);
  });

  it("stays correct past its bound (older entries dropped, recomputed on demand)", () => {
    const pseudonymiser = new HmacPseudonymiser({ current: key(3) });
    const count = PSEUDONYM_CACHE_ENTRIES * 2 + 10;
    for (let i = 0; i < count; i++) pseudonymiser.pseudonymise("ip", `v${i}`);
    for (const i of [0, 1, count - 1, PSEUDONYM_CACHE_ENTRIES]) expect(pseudonymiser.pseudonymise("ip", `v${i}`)).toBe(expected(key(3), "ip", `v${i}`));
  });

  it("stays correct when long values fill a generation by size rather than by count", () => {
    const pseudonymiser = new HmacPseudonymiser({ current: key(5) });
    const long = (i: number) => `${i}-${"y".repeat(1000)}`;
    for (let i = 0; i < 10_000; i++) pseudonymiser.pseudonymise("fingerprint", long(i));
    for (const i of [0, 5_000, 9_999]) expect(pseudonymiser.pseudonymise("fingerprint", long(i))).toBe(expected(key(5), "fingerprint", long(i)));
  });

  it("takes any string, including separators and huge values", () => {
    const pseudonymiser = new HmacPseudonymiser({ current: key(4) });
    for (const value of ["", "\u0000", "a\u0000b", "x".repeat(100_000), "名前"]) {
      expect(pseudonymiser.pseudonymise("token", value)).toBe(expected(key(4), "token", value));
    }
  });
});
