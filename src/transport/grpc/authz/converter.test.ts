import { describe, expect, it } from "vitest";
import type { Action, Decision } from "../../../domain/decision.js";
import { ACTIONS } from "../../../domain/decision.js";
import { HEADER_CEILING } from "../../../domain/request.js";
import { fromStruct, type CheckRequest, type CheckResponse, type HeaderValueOption } from "../protos.js";
import { toCheckResponse, toHttpAttributes, type CheckResponseOptions } from "./converter.js";

const options: CheckResponseOptions = {
  challenge: { wwwAuthenticate: 'Palisade realm="login"', url: "https://challenge.example/verify" },
};

function decision(overrides: Partial<Decision> = {}): Decision {
  return {
    decisionId: "d-123",
    action: "allow",
    risk: 42,
    reasons: [
      { code: "ip.distinct_usernames", value: 12, threshold: 10, weight: 30 },
      { code: "velocity.ip", value: 80, threshold: 60, weight: 12 },
    ],
    rule: "stuffing-ip",
    policyVersion: "v7",
    subject: "sub-abc",
    degraded: false,
    shadowed: [],
    eventTimeMs: 1_700_000_000_000,
    ...overrides,
  };
}

function headerMap(options: HeaderValueOption[] | undefined): Map<string, string> {
  return new Map((options ?? []).map((option) => [option.header?.key ?? "", option.header?.value ?? ""]));
}

describe("toHttpAttributes", () => {
  const fullRequest: CheckRequest = {
    attributes: {
      source: { address: { socket_address: { address: "203.0.113.7", port_value: 51234 } } },
      request: {
        time: { seconds: 1_700_000_000, nanos: 250_000_000 },
        http: {
          id: "req-1",
          method: "POST",
          path: "/login?next=/home",
          host: "api.example",
          scheme: "https",
          protocol: "HTTP/2",
          headers: { "User-Agent": "curl/8", "x-forwarded-for": "198.51.100.1" },
          raw_body: new TextEncoder().encode('{"username":"alice"}'),
          body: "ignored when raw_body is present",
        },
      },
      context_extensions: { endpoint: "login" },
      route_metadata_context: {
        filter_metadata: { palisade: { fields: { sensitivity: { stringValue: "high" }, weight: { numberValue: 3 } } } },
      },
    },
  };

  it("maps every attribute Envoy sends", () => {
    const attributes = toHttpAttributes(fullRequest);
    expect(attributes).toMatchObject({
      requestId: "req-1",
      method: "POST",
      path: "/login?next=/home",
      host: "api.example",
      scheme: "https",
      protocol: "HTTP/2",
      peerAddress: "203.0.113.7",
      timeMs: 1_700_000_000_250,
    });
    expect(attributes.headers).toEqual(new Map([["user-agent", "curl/8"], ["x-forwarded-for", "198.51.100.1"]]));
    expect(new TextDecoder().decode(attributes.body)).toBe('{"username":"alice"}');
    expect(attributes.contextExtensions).toEqual(
      new Map([["palisade.sensitivity", "high"], ["palisade.weight", "3"], ["endpoint", "login"]]),
    );
  });

  it("prefers header_map, joining repeated headers and decoding raw values", () => {
    const attributes = toHttpAttributes({
      attributes: {
        request: {
          http: {
            headers: { ignored: "yes" },
            header_map: {
              headers: [
                { key: "Accept", value: "text/html" },
                { key: "accept", value: "application/json" },
                { key: "cookie", raw_value: new TextEncoder().encode("a=1") },
                { key: "cookie", raw_value: new TextEncoder().encode("b=2") },
              ],
            },
          },
        },
      },
    });
    expect(attributes.headers).toEqual(new Map([["accept", "text/html,application/json"], ["cookie", "a=1; b=2"]]));
  });

  it("falls back to the string body", () => {
    const attributes = toHttpAttributes({ attributes: { request: { http: { body: "user=bob", raw_body: new Uint8Array() } } } });
    expect(new TextDecoder().decode(attributes.body)).toBe("user=bob");
  });

  it("never throws on missing, partial or mistyped input", () => {
    const malformed: unknown[] = [
      undefined,
      null,
      {},
      { attributes: null },
      { attributes: { request: null, source: { address: null } } },
      { attributes: { request: { time: { seconds: "soon" }, http: { headers: { a: 1, b: null }, raw_body: "nope", id: 7 } } } },
      { attributes: { request: { http: { header_map: { headers: [null, { key: 3 }, { key: "ok" }] } } } } },
      { attributes: { context_extensions: { a: 1 }, route_metadata_context: { filter_metadata: { f: null } } } },
    ];
    for (const input of malformed) {
      const attributes = toHttpAttributes(input as CheckRequest);
      expect(attributes.headers).toBeInstanceOf(Map);
      expect(attributes.timeMs).toBeUndefined();
      expect(attributes.requestId).toBeUndefined();
      expect(attributes.body).toBeUndefined();
    }
  });

  it("stops reading headers past the ceiling, for both header encodings", () => {
    const count = 100_000;
    const plain = Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-h${i}`, "v"]));
    const list = Array.from({ length: count }, (_, i) => ({ key: "x-repeated", value: `value-${i}` }));
    const fromPlain = toHttpAttributes({ attributes: { request: { http: { headers: plain } } } });
    const fromList = toHttpAttributes({ attributes: { request: { http: { header_map: { headers: list } } } } });
    expect(fromPlain.headers.size).toBe(HEADER_CEILING.entries + 1);
    // One header name, joined: the bound is on entries read, not on distinct names.
    expect(fromList.headers.get("x-repeated")!.split(",")).toHaveLength(HEADER_CEILING.entries + 1);
    const huge = "v".repeat(HEADER_CEILING.bytes / 2);
    const bytes = toHttpAttributes({ attributes: { request: { http: { headers: { a: huge, b: huge, c: huge } } } } });
    expect([...bytes.headers.keys()]).toEqual(["a", "b"]);
  });

  it("leaves proto3 empty defaults out", () => {
    const attributes = toHttpAttributes({ attributes: { request: { time: { seconds: 0, nanos: 0 }, http: { id: "", method: "", headers: {} } } } });
    expect(attributes).toEqual({ headers: new Map() });
  });
});

describe("toCheckResponse", () => {
  it("allows with upstream headers, removing forgeable ones but not those it sets", () => {
    const response = toCheckResponse(decision(), {
      ...options,
      incomingHeaderNames: ["X-Palisade-Action", "x-palisade-admin", "user-agent"],
    });
    expect(response.status?.code).toBe(0);
    expect(response.denied_response).toBeUndefined();
    const headers = headerMap(response.ok_response?.headers);
    expect(headers).toEqual(
      new Map([
        ["x-palisade-action", "allow"],
        ["x-palisade-risk", "42"],
        ["x-palisade-decision-id", "d-123"],
        ["x-palisade-reasons", "ip.distinct_usernames,velocity.ip"],
      ]),
    );
    for (const option of response.ok_response?.headers ?? []) {
      expect(option.append_action).toBe("OVERWRITE_IF_EXISTS_OR_ADD");
    }
    // Envoy applies headers before headers_to_remove: a name in both would vanish.
    const removed = response.ok_response?.headers_to_remove ?? [];
    expect(removed.sort()).toEqual(["x-palisade-admin", "x-palisade-step-up"]);
  });

  it("removes the reasons header instead of sending it empty", () => {
    const response = toCheckResponse(decision({ reasons: [] }), options);
    expect(headerMap(response.ok_response?.headers).has("x-palisade-reasons")).toBe(false);
    expect(response.ok_response?.headers_to_remove).toContain("x-palisade-reasons");
  });

  it("asks upstream for MFA on step_up", () => {
    const response = toCheckResponse(decision({ action: "step_up" }), options);
    expect(response.status?.code).toBe(0);
    expect(headerMap(response.ok_response?.headers).get("x-palisade-step-up")).toBe("mfa");
    expect(response.ok_response?.headers_to_remove).not.toContain("x-palisade-step-up");
  });

  it("challenges with 401, www-authenticate and the challenge url", () => {
    const response = toCheckResponse(decision({ action: "challenge" }), options);
    expect(response.status?.code).toBe(7);
    expect(response.denied_response?.status?.code).toBe(401);
    const headers = headerMap(response.denied_response?.headers);
    expect(headers.get("www-authenticate")).toBe('Palisade realm="login"');
    expect(JSON.parse(response.denied_response?.body ?? "")).toEqual({
      type: "urn:palisade:problem:challenge-required",
      title: "Challenge required",
      status: 401,
      detail: expect.any(String),
      decision_id: "d-123",
      instance: "urn:palisade:decision:d-123",
      challenge_url: "https://challenge.example/verify",
    });
  });

  it("throttles with 429, RESOURCE_EXHAUSTED, Retry-After and RateLimit headers", () => {
    const response = toCheckResponse(
      decision({
        action: "throttle",
        retryAfterSeconds: 12.2,
        rateLimit: { limit: 100, remaining: 0, resetSeconds: 12.2, windowSeconds: 60 },
      }),
      options,
    );
    expect(response.status?.code).toBe(8);
    expect(response.denied_response?.status?.code).toBe(429);
    const headers = headerMap(response.denied_response?.headers);
    expect(headers.get("retry-after")).toBe("13");
    expect(headers.get("ratelimit-policy")).toBe('"default";q=100;w=60');
    expect(headers.get("ratelimit")).toBe('"default";r=0;t=13');
  });

  it("falls back to the rate-limit reset for Retry-After and omits RateLimit headers without figures", () => {
    const fromReset = headerMap(
      toCheckResponse(decision({ action: "throttle", rateLimit: { limit: 5, remaining: 0, resetSeconds: 30, windowSeconds: 60 } }), options)
        .denied_response?.headers,
    );
    expect(fromReset.get("retry-after")).toBe("30");
    const bare = headerMap(toCheckResponse(decision({ action: "throttle" }), options).denied_response?.headers);
    expect(bare.has("retry-after")).toBe(false);
    expect(bare.has("ratelimit")).toBe(false);
  });

  it("quarantines with 403 and Retry-After, blocks with 403 without it", () => {
    const quarantine = toCheckResponse(decision({ action: "quarantine", retryAfterSeconds: 900 }), options);
    expect(quarantine.denied_response?.status?.code).toBe(403);
    expect(headerMap(quarantine.denied_response?.headers).get("retry-after")).toBe("900");
    const block = toCheckResponse(decision({ action: "block", retryAfterSeconds: 900 }), options);
    expect(block.status?.code).toBe(7);
    expect(block.denied_response?.status?.code).toBe(403);
    expect(headerMap(block.denied_response?.headers).has("retry-after")).toBe(false);
  });

  it.each(["challenge", "throttle", "quarantine", "block"] as const)(
    "%s: names the decision for appeals, never the detection details",
    (action) => {
      const response = toCheckResponse(decision({ action }), options);
      const headers = headerMap(response.denied_response?.headers);
      expect(headers.get("x-palisade-action")).toBe(action);
      expect(headers.get("x-palisade-decision-id")).toBe("d-123");
      expect(headers.get("content-type")).toBe("application/problem+json");
      expect(headers.has("x-palisade-risk")).toBe(false);
      expect(headers.has("x-palisade-reasons")).toBe(false);
      const body = response.denied_response?.body ?? "";
      const problem = JSON.parse(body) as Record<string, unknown>;
      expect(problem.decision_id).toBe("d-123");
      const allowedKeys = ["type", "title", "status", "detail", "decision_id", "instance", "challenge_url"];
      expect(Object.keys(problem).filter((key) => !allowedKeys.includes(key))).toEqual([]);
      for (const secret of ["ip.distinct_usernames", "velocity.ip", "stuffing-ip", "sub-abc", "v7"]) {
        expect(body).not.toContain(secret);
      }
    },
  );

  it.each(["challenge", "throttle", "quarantine", "block"] as const)("%s: the problem document is JSON.stringify's text of it, whatever the decision id holds", (action) => {
    const status = { challenge: 401, throttle: 429, quarantine: 403, block: 403 }[action];
    for (const decisionId of ["d-123", 'quote " back\\slash', "ünï ✓ 😀", "\u0000\n\u2028\ud800"]) {
      const body = toCheckResponse(decision({ action, decisionId }), { challenge: { wwwAuthenticate: "x" } }).denied_response?.body;
      const parsed = JSON.parse(body ?? "") as Record<string, unknown>;
      const { type, title, detail } = parsed;
      expect(body).toBe(JSON.stringify({ type, title, detail, status, decision_id: decisionId, instance: `urn:palisade:decision:${decisionId}` }));
    }
  });

  it.each(ACTIONS)("%s: carries the decision as dynamic metadata", (action: Action) => {
    const response: CheckResponse = toCheckResponse(decision({ action, degraded: true, endpoint: "login" }), options);
    expect(fromStruct(response.dynamic_metadata)).toEqual({
      action,
      risk: 42,
      risk_text: "42",
      reasons: ["ip.distinct_usernames", "velocity.ip"],
      rule: "stuffing-ip",
      policy_version: "v7",
      decision_id: "d-123",
      subject: "sub-abc",
      degraded: true,
      endpoint: "login",
    });
  });

  it("carries the attribution in the metadata, in the order the access-log side and Envoy's logs have always seen", () => {
    const attribution = { ipId: "ip-1", subnet: "sn-2", usernameId: "u-3", fingerprintId: "fp-4", deviceId: "dv-5", headerShape: "hs-6", country: "NZ", place: "-41.3,174.8" };
    const metadata = toCheckResponse(decision({ endpoint: "login", attribution }), options).dynamic_metadata!;
    expect(Object.keys(metadata.fields!)).toEqual([
      "action", "risk", "risk_text", "reasons", "rule", "policy_version", "decision_id", "subject", "degraded", "endpoint",
      "ip_id", "subnet", "username_id", "fingerprint_id", "device_id", "header_shape", "country", "place",
    ]);
    expect(fromStruct(metadata)).toMatchObject({ ip_id: "ip-1", subnet: "sn-2", username_id: "u-3", fingerprint_id: "fp-4", device_id: "dv-5", header_shape: "hs-6", country: "NZ", place: "-41.3,174.8" });
    const partial = fromStruct(toCheckResponse(decision({ attribution: { ipId: "ip-1", headerShape: "hs-6" } }), options).dynamic_metadata);
    expect(Object.keys(partial).filter((key) => !["action", "risk", "risk_text", "reasons", "rule", "policy_version", "decision_id", "subject", "degraded"].includes(key))).toEqual(["ip_id", "header_shape"]);
  });

  it("sends a risk that is not a finite number as null, as JSON would", () => {
    expect(toCheckResponse(decision({ risk: Number.NaN }), options).dynamic_metadata?.fields?.risk).toEqual({ nullValue: "NULL_VALUE" });
  });

  it("leaves absent optional fields out of the metadata", () => {
    const metadata = fromStruct(
      toCheckResponse(decision({ rule: undefined, subject: undefined, endpoint: undefined }), options).dynamic_metadata,
    );
    expect(Object.keys(metadata).sort()).toEqual(["action", "decision_id", "degraded", "policy_version", "reasons", "risk", "risk_text"]);
  });
});
