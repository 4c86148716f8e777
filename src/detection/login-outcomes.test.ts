import { describe, expect, it } from "vitest";
import { defaultOutcome } from "../policy/schema.js";
import { classifyOutcome, contextFromMetadata } from "./login-outcomes.js";

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

describe("contextFromMetadata", () => {
  it("rebuilds the attempt from the ext_authz metadata Envoy copied into the entry", () => {
    const authzMetadata = new Map<string, string | number | boolean>([
      ["endpoint", "login"],
      ["action", "step_up"],
      ["ip_id", "ipX"],
      ["username_id", "userY"],
      ["subnet", "192.0.2.0/24"],
    ]);
    const context = contextFromMetadata({ responseHeaders: new Map(), authzMetadata, timeMs: 5 });
    expect(context).toMatchObject({ endpoint: "login", ipId: "ipX", usernameId: "userY", subnet: "192.0.2.0/24", allowed: true, timeMs: 5 });
  });

  it("gives nothing for entries without Palisade's metadata", () => {
    expect(contextFromMetadata({ responseHeaders: new Map(), authzMetadata: new Map() })).toBeUndefined();
  });
});
