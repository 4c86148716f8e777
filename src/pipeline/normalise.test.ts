import { describe, expect, it } from "vitest";
import { examplePolicy, minimalPolicy } from "../../test/support/policies.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { normalise, type NormaliseContext } from "./normalise.js";
import type { HttpAttributes } from "../domain/request.js";

const pseudonymiser = new HmacPseudonymiser({ current: Buffer.alloc(32, 7) });
const NOW = Date.UTC(2026, 10, 24, 12);

function context(overrides: Partial<NormaliseContext> = {}): NormaliseContext {
  return {
    policy: minimalPolicy(),
    pseudonymiser,
    eventTime: { maxSkewMs: 60_000, trust: false },
    nowMs: NOW,
    ...overrides,
  };
}

function attrs(overrides: Partial<HttpAttributes> = {}): HttpAttributes {
  return { method: "POST", path: "/login", headers: new Map(), ...overrides };
}

function jsonBody(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

describe("normalise", () => {
  it("takes the client from X-Forwarded-For, skipping trusted hops from the right", () => {
    const policy = minimalPolicy({ client: { ipSource: "x-forwarded-for", trustedHops: 1 } });
    const headers = new Map([["x-forwarded-for", "203.0.113.9, 10.0.0.1"]]);
    const { request } = normalise(attrs({ headers, peerAddress: "10.0.0.2" }), context({ policy }));
    expect(request.clientIp).toBe("203.0.113.9");
    expect(request.subnet).toBe("203.0.113.0/24");
  });

  it("falls back to the peer and flags it when X-Forwarded-For is too short", () => {
    const policy = minimalPolicy({ client: { ipSource: "x-forwarded-for", trustedHops: 2 } });
    const headers = new Map([["x-forwarded-for", "203.0.113.9"]]);
    const { request } = normalise(attrs({ headers, peerAddress: "10.0.0.2" }), context({ policy }));
    expect(request.clientIp).toBe("10.0.0.2");
    expect(request.anomalies).toContain("client_address_missing");
  });

  it("reads x-envoy-external-address when configured and handles IPv6 with a /48 subnet", () => {
    const policy = minimalPolicy({ client: { ipSource: "x-envoy-external-address" } });
    const headers = new Map([["x-envoy-external-address", "2001:DB8:1:2::5"]]);
    const { request } = normalise(attrs({ headers }), context({ policy }));
    expect(request.clientIp).toBe("2001:db8:1:2::5");
    expect(request.subnet).toBe("2001:db8:1::/48");
  });

  it("unwraps IPv4-mapped IPv6 peers so one client has one identity", () => {
    const policy = minimalPolicy({ client: { ipSource: "peer" } });
    const { request } = normalise(attrs({ peerAddress: "::ffff:192.0.2.4" }), context({ policy }));
    expect(request.clientIp).toBe("192.0.2.4");
  });

  it("decides without a client address and says so", () => {
    const { request } = normalise(attrs(), context());
    expect(request.clientIp).toBeUndefined();
    expect(request.ipId).toBeUndefined();
    expect(request.anomalies).toContain("no_client_address");
  });

  it("pseudonymises the username after NFKC and case folding, never keeping it raw", () => {
    const plain = normalise(attrs({ body: jsonBody({ username: "Alice" }) }), context()).request;
    const wide = normalise(attrs({ body: jsonBody({ username: "ＡＬＩＣＥ" }) }), context()).request;
    expect(plain.usernameId).toBeDefined();
    expect(plain.usernameId).toBe(wide.usernameId);
    expect(JSON.stringify(plain, (_k, v) => (v instanceof Map ? [...v] : v))).not.toContain("lice");
  });

  it("hashes a login name's neighbourhood only when the login has a session to count it on", () => {
    const policy = examplePolicy();
    const login = (cookie?: string) => normalise(attrs({ path: "/api/v1/login", headers: new Map(cookie ? [["cookie", cookie]] : []), body: jsonBody({ username: "ann@example.com", password: "x" }) }), context({ policy })).request;
    expect(login("sid=s1").usernameNeighbourhood?.length).toBeGreaterThan(10);
    expect(login().usernameId).toBeDefined();
    expect(login().usernameNeighbourhood).toBeUndefined(); // a sessionless bot's name: nothing reads it
    expect(login("theme=dark").usernameNeighbourhood).toBeUndefined();
  });

  it("flags bodies that are not JSON, not UTF-8 or too large, and still answers", () => {
    const bad = [
      { body: new TextEncoder().encode("{not json"), code: "body_unparsable" },
      { body: new Uint8Array([0xff, 0xfe, 0x00]), code: "body_not_utf8" },
      { body: new Uint8Array(70 * 1024).fill(0x61), code: "body_too_large" },
    ];
    for (const { body, code } of bad) {
      const { request } = normalise(attrs({ body }), context());
      expect(request.anomalies).toContain(code);
      expect(request.usernameId).toBeUndefined();
    }
  });

  it("reads form fields and cookies", () => {
    const policy = minimalPolicy({
      endpoints: [
        {
          name: "token",
          match: { path: "/oauth/token" },
          identity: { username: { formField: "username" }, session: { cookie: "sid" } },
        },
      ],
    });
    const headers = new Map([
      ["content-type", "application/x-www-form-urlencoded"],
      ["cookie", "a=1; sid=abc123"],
    ]);
    const body = new TextEncoder().encode("grant_type=password&username=bob&password=hunter2");
    const { request } = normalise(attrs({ path: "/oauth/token", headers, body }), context({ policy }));
    expect(request.usernameId).toBe(pseudonymiser.pseudonymise("username", "bob"));
    expect(request.sessionId).toBe(pseudonymiser.pseudonymise("session", "abc123"));
  });

  it("bounds headers by count and size", () => {
    const headers = new Map(Array.from({ length: 5000 }, (_, i) => [`x-h${i}`, "v".repeat(50)] as [string, string]));
    const { request } = normalise(attrs({ headers }), context());
    expect(request.headers.size).toBeLessThanOrEqual(200);
    expect(request.anomalies).toEqual(expect.arrayContaining(["headers_too_many"]));
  });

  it("normalises paths: query dropped, unreserved escapes decoded, dot segments resolved", () => {
    const cases: [string, string][] = [
      ["/api/%76%31/search?q=1", "/api/v1/search"],
      ["//api///v1/./products/../search", "/api/v1/search"],
      ["/a%2Fb", "/a%2Fb"],
      ["/../../etc/passwd", "/etc/passwd"],
    ];
    for (const [raw, expected] of cases) {
      expect(normalise(attrs({ method: "GET", path: raw }), context()).request.path).toBe(expected);
    }
  });

  it("gives every path without escapes what resolving its segments gives, already-normal ones unchanged", () => {
    // The segment steps of normalisePath restated, to hold its shortcut for already-normal paths to them.
    const resolved = (raw: string) => {
      const segments: string[] = [];
      for (const segment of raw.split("/")) {
        if (segment === "" || segment === ".") continue;
        if (segment === "..") segments.pop();
        else segments.push(segment);
      }
      return `/${segments.join("/")}${raw.length > 1 && raw.endsWith("/") && segments.length > 0 ? "/" : ""}`;
    };
    const pieces = ["/", ".", "..", "a", ".a", "a.", "/.", "//", "/..", "b/"];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 3000; i++) {
      let raw = "";
      for (let n = next() % 7; n >= 0; n--) raw += pieces[next() % pieces.length]!;
      const { request } = normalise(attrs({ method: "GET", path: raw }), context());
      expect(request.path, raw).toBe(resolved(raw));
      expect(request.anomalies.includes("path_traversal"), raw).toBe(raw.split("/").includes(".."));
    }
  });

  it("uses event time within the skew, the local clock outside it, and trusts it in replay mode", () => {
    expect(normalise(attrs({ timeMs: NOW - 1000 }), context()).request.timeMs).toBe(NOW - 1000);
    const skewed = normalise(attrs({ timeMs: NOW - 3_600_000 }), context()).request;
    expect(skewed.timeMs).toBe(NOW);
    expect(skewed.anomalies).toContain("event_time_skewed");
    const replay = context({ eventTime: { maxSkewMs: 60_000, trust: true } });
    expect(normalise(attrs({ timeMs: NOW - 3_600_000 }), replay).request.timeMs).toBe(NOW - 3_600_000);
  });

  it("matches endpoint templates on one segment only", () => {
    const policy = minimalPolicy({ endpoints: [{ name: "product", match: { path: "/p/{id}" } }] });
    const ctx = context({ policy });
    expect(normalise(attrs({ method: "GET", path: "/p/42" }), ctx).request.endpoint).toBe("product");
    expect(normalise(attrs({ method: "GET", path: "/p/42/x" }), ctx).request.endpoint).toBeUndefined();
    expect(normalise(attrs({ method: "GET", path: "/p/" }), ctx).request.endpoint).toBeUndefined();
  });
});
