import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { shortDigest } from "./digests.js";

const direct = (algorithm: string, text: string, chars: number) => createHash(algorithm).update(text).digest("base64url").slice(0, chars);

describe("shortDigest", () => {
  it("gives the digest itself, remembered or not, for short and long inputs alike", () => {
    for (const text of ["", "/wp-login.php", "q=shoes", "x".repeat(513), "é\u0000ü", "lone \ud800 surrogate"]) {
      for (let round = 0; round < 2; round++) {
        expect(shortDigest("sha1", text, 16)).toBe(direct("sha1", text, 16));
        expect(shortDigest("sha256", text, 22)).toBe(direct("sha256", text, 22));
      }
    }
  });

  it("keeps algorithms and lengths apart for the same text", () => {
    expect(shortDigest("sha256", "a", 16)).toBe(direct("sha256", "a", 16));
    expect(shortDigest("sha1", "a", 22)).toBe(direct("sha1", "a", 22));
  });
});
