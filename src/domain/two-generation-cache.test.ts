import { describe, expect, it } from "vitest";
import { JoinedNames, TwoGenerationCache } from "./two-generation-cache.js";

describe("TwoGenerationCache", () => {
  it("keeps what was used in the last two generations and drops the rest", () => {
    const cache = new TwoGenerationCache(2, 1_000);
    cache.set("a", "1");
    cache.set("b", "2");
    cache.set("c", "3"); // a and b become the old generation
    expect(cache.get("a")).toBe("1"); // moved back to the young one, which is now full (c, a)
    cache.set("d", "4"); // c and a become old; b is dropped
    expect(cache.get("b")).toBeUndefined();
    expect([cache.get("c"), cache.get("d")]).toEqual(["3", "4"]);
  });

  it("starts a new generation when the characters held reach the bound", () => {
    const cache = new TwoGenerationCache(100, 10);
    cache.set("aaaa", "1111"); // 8 characters
    cache.set("bb", "22"); // 12: full
    cache.set("c", "3");
    cache.set("d", "4");
    expect(cache.get("aaaa")).toBe("1111");
  });

  it("keeps spaces apart and counts their entries together", () => {
    const cache = new TwoGenerationCache(3, 1_000);
    cache.set("k", "ip", "ip");
    cache.set("k", "user", "username");
    cache.set("k", "ip again", "ip"); // replaces: still two entries
    expect([cache.get("k", "ip"), cache.get("k", "username"), cache.get("k")]).toEqual(["ip again", "user", undefined]);
    cache.set("j", "1", "ip"); // three: full
    cache.set("x", "2"); // a new generation
    expect(cache.get("k", "username")).toBe("user"); // from the old one
  });

  it("holds values of any type, counted as told", () => {
    const cache = new TwoGenerationCache<{ n: number } | null>(100, 10, () => 4);
    cache.set("aaa", { n: 1 }); // 7 characters
    cache.set("b", null); // 12: full
    expect(cache.get("b")).toBeNull();
    cache.set("c", { n: 3 });
    expect(cache.get("aaa")).toEqual({ n: 1 }); // old generation
  });
});

describe("JoinedNames", () => {
  it("joins a prefix and a value, the same string each time, and joins long values without keeping them", () => {
    const names = new JoinedNames(2, 8);
    expect(names.join("ip:", "abc")).toBe("ip:abc");
    expect(names.join("ip:", "abc")).toBe("ip:abc");
    expect(names.join("net:", "abc")).toBe("net:abc"); // the prefix is part of the look-up
    expect(names.join("ip:", "x".repeat(9))).toBe(`ip:${"x".repeat(9)}`);
    for (let i = 0; i < 10; i++) expect(names.join("fp:", String(i))).toBe(`fp:${i}`); // past its bound: still right
  });
});
