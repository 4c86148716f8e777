import { describe, expect, it } from "vitest";
import { defaultOutcome } from "../policy/schema.js";
import { classifyOutcome } from "./login-outcomes.js";

const headers = (entries: Record<string, string> = {}) => new Map(Object.entries(entries));

describe("classifyOutcome", () => {
  const spec = {
    ...defaultOutcome(),
    failureHeader: { name: "x-auth-result", values: ["failed"] },
    unknownUserHeader: { name: "x-auth-result", values: ["unknown-user"] },
  };

  it("reads the status by default", () => {
    expect(classifyOutcome(defaultOutcome(), 200, headers())).toBe("success");
    expect(classifyOutcome(defaultOutcome(), 401, headers())).toBe("failure");
    expect(classifyOutcome(defaultOutcome(), 503, headers())).toBeUndefined();
    expect(classifyOutcome(defaultOutcome(), undefined, headers())).toBeUndefined();
  });

  it("lets the identity service's header win over a 200 login page", () => {
    expect(classifyOutcome(spec, 200, headers({ "x-auth-result": "failed" }))).toBe("failure");
    expect(classifyOutcome(spec, 200, headers({ "x-auth-result": "unknown-user" }))).toBe("unknown_user");
    expect(classifyOutcome(spec, 200, headers({ "x-auth-result": "ok" }))).toBe("success");
  });
});
