/**
 * ext_authz wire contract: what Envoy encodes with its protos we decode with ours, and what we
 * encode Envoy decodes, for every field Palisade reads or writes.
 */
import { describe, expect, it } from "vitest";
import type { Decision } from "../../src/domain/decision.js";
import { toCheckResponse, toHttpAttributes } from "../../src/transport/grpc/authz/converter.js";
import { fromStruct, palisadeServices, toStruct } from "../../src/transport/grpc/protos.js";
import { codecs, readWire, wireMessage, wireStruct } from "./upstream.js";

const check = codecs("envoy.service.auth.v3.Authorization", "Check");

/** A CheckRequest as Envoy sends it, in decoded form (enum names, numbers for int64). */
const envoyCheckRequest = {
  attributes: {
    source: {
      address: { socket_address: { protocol: "TCP", address: "203.0.113.7", port_value: 51234 } },
      principal: "spiffe://cluster.local/ns/edge/sa/lb",
      labels: { app: "edge" },
    },
    destination: {
      address: { socket_address: { address: "10.0.0.5", port_value: 8443 } },
      service: "api",
    },
    request: {
      time: { seconds: 1_700_000_123, nanos: 456_000_000 },
      http: {
        id: "8f3c-req",
        method: "POST",
        headers: { "user-agent": "curl/8.5", "x-palisade-action": "allow" },
        header_map: {
          headers: [
            { key: "user-agent", value: "", raw_value: Buffer.from("curl/8.5") },
            { key: "x-palisade-action", value: "", raw_value: Buffer.from("allow") },
          ],
        },
        path: "/login?next=%2F",
        host: "api.example",
        scheme: "https",
        query: "",
        fragment: "",
        size: 42,
        protocol: "HTTP/2",
        body: "",
        raw_body: Buffer.from('{"username":"alice","password":"hunter2"}'),
      },
    },
    context_extensions: { endpoint: "login", sensitivity: "high" },
    metadata_context: {
      filter_metadata: { "envoy.filters.http.jwt_authn": { fields: { sub: { stringValue: "u-1", kind: "stringValue" } } } },
    },
    route_metadata_context: {
      filter_metadata: { palisade: { fields: { tier: { stringValue: "gold", kind: "stringValue" } } } },
    },
    tls_session: { sni: "api.example" },
  },
};

const decision: Decision = {
  decisionId: "01J-decision",
  action: "allow",
  risk: 35,
  reasons: [{ code: "ip.distinct_usernames", value: 12, threshold: 10, weight: 35 }],
  rule: "stuffing",
  policyVersion: "2024-05-01",
  subject: "psn:abc",
  degraded: false,
  shadowed: [],
  eventTimeMs: 1_700_000_123_456,
};

const options = { challenge: { wwwAuthenticate: 'Palisade realm="api"', url: "https://challenge.example/" } };

describe("CheckRequest", () => {
  it("decodes everything Envoy sends", () => {
    const decoded = check.ours.request.decode(check.upstream.request.encode(envoyCheckRequest));
    expect(decoded).toMatchObject(envoyCheckRequest);
  });

  it("encodes what Envoy's protos decode (replay and test clients)", () => {
    const decoded = check.upstream.request.decode(check.ours.request.encode(envoyCheckRequest));
    expect(decoded).toMatchObject(envoyCheckRequest);
  });

  it("reaches the domain intact through toHttpAttributes", () => {
    const attributes = toHttpAttributes(check.ours.request.decode(check.upstream.request.encode(envoyCheckRequest)));
    expect(attributes).toMatchObject({
      requestId: "8f3c-req",
      method: "POST",
      path: "/login?next=%2F",
      host: "api.example",
      scheme: "https",
      protocol: "HTTP/2",
      peerAddress: "203.0.113.7",
      timeMs: 1_700_000_123_456,
    });
    expect(attributes.headers.get("user-agent")).toBe("curl/8.5");
    expect(Buffer.from(attributes.body ?? []).toString()).toContain('"username":"alice"');
    expect(attributes.contextExtensions?.get("endpoint")).toBe("login");
    expect(attributes.contextExtensions?.get("palisade.tier")).toBe("gold");
  });

  it("the server's decoder (written by hand) reads what Envoy sends as protobufjs does", () => {
    const bytes = check.upstream.request.encode(envoyCheckRequest);
    const served = palisadeServices().authorization.definition.Check.requestDeserialize(bytes);
    expect(toHttpAttributes(served)).toEqual(toHttpAttributes(check.ours.request.decode(bytes)));
    expect(toHttpAttributes(served).contextExtensions?.get("palisade.tier")).toBe("gold");
  });

  it("tolerates an empty request", () => {
    const decoded = check.ours.request.decode(check.upstream.request.encode({}));
    expect(toHttpAttributes(decoded)).toEqual({ headers: new Map() });
  });
});

describe("CheckResponse", () => {
  it("allow: Envoy sees ok_response headers, append_action, headers_to_remove and metadata", () => {
    const response = toCheckResponse(decision, { ...options, incomingHeaderNames: ["x-palisade-action", "x-palisade-debug"] });
    const decoded = check.upstream.response.decode(check.ours.response.encode(response));
    expect(decoded).toMatchObject({
      status: { code: 0 },
      http_response: "ok_response",
      ok_response: {
        headers: [
          { header: { key: "x-palisade-action", value: "allow" }, append: null, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          { header: { key: "x-palisade-risk", value: "35" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          { header: { key: "x-palisade-decision-id", value: "01J-decision" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          { header: { key: "x-palisade-reasons", value: "ip.distinct_usernames" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
        ],
        headers_to_remove: ["x-palisade-step-up", "x-palisade-debug"],
      },
    });
    expect(fromStruct(decoded.dynamic_metadata as never)).toEqual({
      action: "allow",
      risk: 35,
      risk_text: "35",
      reasons: ["ip.distinct_usernames"],
      rule: "stuffing",
      policy_version: "2024-05-01",
      decision_id: "01J-decision",
      subject: "psn:abc",
      degraded: false,
    });
  });

  it("dynamic_metadata is on the wire under Envoy's field numbers", () => {
    const bytes = check.ours.response.encode(toCheckResponse({ ...decision, action: "block", endpoint: "login" }, options));
    const metadata = wireStruct(wireMessage(readWire(bytes), 4));
    expect(metadata).toEqual({
      action: "block",
      risk: 35,
      risk_text: "35",
      reasons: ["ip.distinct_usernames"],
      rule: "stuffing",
      policy_version: "2024-05-01",
      decision_id: "01J-decision",
      subject: "psn:abc",
      degraded: false,
      endpoint: "login",
    });
  });

  it("the Struct trap: snake_case Value keys are silently dropped, toStruct's are not", () => {
    const snakeCase = { status: { code: 0 }, dynamic_metadata: { fields: { action: { string_value: "allow" } } } };
    const dropped = wireStruct(wireMessage(readWire(check.ours.response.encode(snakeCase)), 4));
    expect(dropped).toEqual({ action: undefined });

    const built = { status: { code: 0 }, dynamic_metadata: toStruct({ action: "allow", n: 1, ok: true, none: null, list: ["a"], nested: { k: "v" } }) };
    const seen = wireStruct(wireMessage(readWire(check.ours.response.encode(built)), 4));
    expect(seen).toEqual({ action: "allow", n: 1, ok: true, none: null, list: ["a"], nested: { k: "v" } });
  });

  it("challenge: Envoy sees 401, the headers and the problem body", () => {
    const decoded = check.upstream.response.decode(check.ours.response.encode(toCheckResponse({ ...decision, action: "challenge" }, options)));
    expect(decoded).toMatchObject({ status: { code: 7 }, http_response: "denied_response" });
    const denied = decoded.denied_response as { status: { code: string }; headers: { header: { key: string; value: string } }[]; body: string };
    expect(denied.status.code).toBe("Unauthorized");
    const headers = Object.fromEntries(denied.headers.map(({ header }) => [header.key, header.value]));
    expect(headers).toMatchObject({
      "x-palisade-action": "challenge",
      "x-palisade-decision-id": "01J-decision",
      "content-type": "application/problem+json",
      "www-authenticate": 'Palisade realm="api"',
    });
    expect(JSON.parse(denied.body)).toMatchObject({ status: 401, decision_id: "01J-decision", challenge_url: "https://challenge.example/" });
    expect(fromStruct(decoded.dynamic_metadata as never)).toMatchObject({ action: "challenge", decision_id: "01J-decision" });
  });

  it("throttle: Envoy sees 429 with Retry-After and RateLimit headers", () => {
    const throttled = toCheckResponse(
      { ...decision, action: "throttle", retryAfterSeconds: 20, rateLimit: { limit: 10, remaining: 0, resetSeconds: 20, windowSeconds: 60 } },
      options,
    );
    const decoded = check.upstream.response.decode(check.ours.response.encode(throttled));
    const denied = decoded.denied_response as { status: { code: string }; headers: { header: { key: string; value: string } }[] };
    expect(decoded.status).toMatchObject({ code: 8 });
    expect(denied.status.code).toBe("TooManyRequests");
    const headers = Object.fromEntries(denied.headers.map(({ header }) => [header.key, header.value]));
    expect(headers).toMatchObject({ "retry-after": "20", "ratelimit-policy": '"default";q=10;w=60', ratelimit: '"default";r=0;t=20' });
  });

  it("decodes every CheckResponse field we keep when Envoy's protos encode it", () => {
    const full = {
      status: { code: 0, message: "ok", details: [] },
      ok_response: {
        headers: [{ header: { key: "a", value: "1" }, append_action: "ADD_IF_ABSENT", keep_empty_value: true }],
        headers_to_remove: ["x-palisade-x"],
        response_headers_to_add: [{ header: { key: "b", value: "2" }, append_action: "APPEND_IF_EXISTS_OR_ADD" }],
        query_parameters_to_set: [{ key: "q", value: "v" }],
        query_parameters_to_remove: ["drop"],
      },
      dynamic_metadata: { fields: { action: { stringValue: "allow", kind: "stringValue" } } },
    };
    expect(check.ours.response.decode(check.upstream.response.encode(full))).toMatchObject(full);
    const denied = {
      status: { code: 7 },
      denied_response: { status: { code: "Forbidden" }, headers: [{ header: { key: "c", value: "3" } }], body: "{}" },
    };
    expect(check.ours.response.decode(check.upstream.response.encode(denied))).toMatchObject(denied);
  });
});
