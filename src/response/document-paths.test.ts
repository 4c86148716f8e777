import { describe, expect, it } from "vitest";
import { diffDocuments, elementSegment, locate, numberAt, splitPath } from "./document-paths.js";

const spec = {
  endpoints: [
    { name: "login", velocity: { ip: { threshold: 10 } } },
    { name: "v1.search", velocity: {} },
  ],
  rules: [{ id: "burst", action: "throttle", endpoints: ["login"] }],
  limits: { maxHeaders: 200 },
};

describe("document paths", () => {
  it("address list elements by name or id, names with dots included", () => {
    expect(numberAt(spec, "endpoints/login/velocity/ip/threshold")).toBe(10);
    expect(numberAt(spec, "/limits/maxHeaders/")).toBe(200);
    expect(numberAt(spec, "endpoints/v1.search/velocity")).toBeUndefined();
    expect(numberAt(spec, "endpoints/nope/velocity/ip/threshold")).toBeUndefined();
    expect(numberAt(spec, "rules/burst/action")).toBeUndefined();
    expect(numberAt(spec, "")).toBeUndefined();
    expect(numberAt(spec, "limits/maxHeaders/deeper")).toBeUndefined();
  });

  it("diff named lists by name, so reordering is no change", () => {
    const after = structuredClone(spec);
    after.endpoints.reverse();
    after.endpoints[1]!.velocity.ip!.threshold = 5;
    after.rules[0]!.action = "challenge";
    after.rules.push({ id: "new", action: "block", endpoints: [] });
    (after.limits as Record<string, number>).maxBodyBytes = 1024;
    expect(diffDocuments(spec, after)).toEqual([
      { path: "endpoints/login/velocity/ip/threshold", kind: "changed", from: 10, to: 5 },
      { path: "rules/burst/action", kind: "changed", from: "throttle", to: "challenge" },
      { path: "rules/new", kind: "added", to: { id: "new", action: "block", endpoints: [] } },
      { path: "limits/maxBodyBytes", kind: "added", to: 1024 },
    ]);
    expect(diffDocuments(spec, structuredClone(spec))).toEqual([]);
  });
});

describe("document paths, in detail", () => {
  it("splits a path on slashes, ignoring leading, trailing and doubled ones", () => {
    expect(splitPath("//endpoints//login/velocity/")).toEqual(["endpoints", "login", "velocity"]);
    expect(splitPath("/")).toEqual([]);
    expect(splitPath("a.b/c")).toEqual(["a.b", "c"]);
  });

  it("names a list element by its name, else its id, else its position", () => {
    expect(elementSegment({ name: "login", id: "x" }, 3)).toBe("login");
    expect(elementSegment({ id: "burst" }, 3)).toBe("burst");
    expect(elementSegment({ name: 7 }, 3)).toBe("3");
    expect(elementSegment(null, 2)).toBe("2");
    expect(elementSegment("text", 1)).toBe("1");
  });

  it("locates the container and key of the last segment, by position in an unnamed list", () => {
    const root = { lists: [{ name: "tor" }], ports: [80, 443], limits: { maxHeaders: 200 } };
    expect(locate(root, "ports/1")).toEqual({ container: root.ports, key: 1 });
    expect(locate(root, "lists/tor/name")).toEqual({ container: root.lists[0], key: "name" });
    expect(locate(root, "limits")).toEqual({ container: root, key: "limits" });
    expect(numberAt(root, "ports/1")).toBe(443);
    expect(locate(root, "ports/2")).toBeUndefined();
    expect(locate(root, "limits/toString")).toBeUndefined();
    expect(locate(root, "limits/maxHeaders/x")).toBeUndefined();
    expect(locate(null, "a")).toBeUndefined();
    expect(locate(root, "//")).toBeUndefined();
  });

  it("diffs removed keys and elements, and unnamed lists as one value", () => {
    const before = { rules: [{ id: "a" }, { id: "b" }], ports: [80, 443], top: { x: 1 } };
    const after = { rules: [{ id: "b" }], ports: [443, 80], extra: true };
    expect(diffDocuments(before, after)).toEqual([
      { path: "rules/a", kind: "removed", from: { id: "a" } },
      { path: "ports", kind: "changed", from: [80, 443], to: [443, 80] },
      { path: "top", kind: "removed", from: { x: 1 } },
      { path: "extra", kind: "added", to: true },
    ]);
    // A list that is only partly named, or empty, is compared as a whole.
    expect(diffDocuments({ l: [{ id: "a" }, 5] }, { l: [5, { id: "a" }] })).toEqual([{ path: "l", kind: "changed", from: [{ id: "a" }, 5], to: [5, { id: "a" }] }]);
    expect(diffDocuments({ l: [] }, { l: [{ id: "a" }] })).toEqual([{ path: "l", kind: "changed", from: [], to: [{ id: "a" }] }]);
    expect(diffDocuments([{ id: "a" }], { a: {} })).toEqual([{ path: "", kind: "changed", from: [{ id: "a" }], to: { a: {} } }]);
    expect(diffDocuments({ a: { b: 1 } }, { a: { b: 2 } }, "spec")).toEqual([{ path: "spec/a/b", kind: "changed", from: 1, to: 2 }]);
  });
});
