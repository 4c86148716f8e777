import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HmacSha256 } from "./hmac-sha256.js";

const byNode = (key: Buffer, kind: string, value: string) => createHmac("sha256", key).update(kind).update("\u0000").update(value).digest("base64url");

describe("HmacSha256", () => {
  it("gives createHmac's bytes for keys shorter than, as long as and longer than a block", () => {
    for (const length of [1, 32, 48, 63, 64, 65, 100, 200]) {
      const key = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + length) & 0xff));
      const mac = new HmacSha256(key);
      for (const value of ["203.0.113.7", "alice@example.com", ""]) expect(mac.digest("ip", value), `${length} ${value}`).toBe(byNode(key, "ip", value));
    }
  });

  it("gives createHmac's bytes for any value: separators, non-ASCII, lone surrogates, around and past its buffer", () => {
    const key = Buffer.alloc(32, 0xa5);
    const mac = new HmacSha256(key);
    const values = ["\u0000", "a\u0000b", "名前", "😀", "lone \ud800 half", "\udfff", "x".repeat(1_356), "x".repeat(1_357), "é".repeat(2_000), "名".repeat(1_400), "y".repeat(100_000)];
    for (const value of values) {
      // Twice: a long message must leave the shared buffer as a short one finds it.
      expect(mac.digest("username", value)).toBe(byNode(key, "username", value));
      expect(mac.digest("ip", "198.51.100.1")).toBe(byNode(key, "ip", "198.51.100.1"));
    }
  });

  it("keeps keys apart: two instances do not share pads", () => {
    const first = new HmacSha256(Buffer.alloc(32, 1));
    const second = new HmacSha256(Buffer.alloc(32, 2));
    expect(first.digest("ip", "v")).toBe(byNode(Buffer.alloc(32, 1), "ip", "v"));
    expect(second.digest("ip", "v")).toBe(byNode(Buffer.alloc(32, 2), "ip", "v"));
  });
});
