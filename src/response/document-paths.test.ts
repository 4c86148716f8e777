import { describe, expect, it } from "vitest";
import { diffDocuments, numberAt } from "./document-paths.js";

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
