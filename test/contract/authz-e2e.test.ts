/**
 * End to end over a real HTTP/2 connection: a grpc-js server built from our Authorization
 * definition answers with encodeCheckResponse()'s bytes, as the service does; a grpc-js client built from Envoy's own protos calls it,
 * as Envoy would.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Action, Decision } from "../../src/domain/decision.js";
import { encodeCheckResponse } from "../../src/transport/grpc/authz/check-response-encoder.js";
import { toHttpAttributes } from "../../src/transport/grpc/authz/converter.js";
import { fromStruct, palisadeServices, type AuthorizationImplementation } from "../../src/transport/grpc/protos.js";
import { codecs, readWire, startServer, upstreamGrpc, wireMessage, wireStruct, type RunningServer } from "./upstream.js";

const decision: Decision = {
  decisionId: "01J-e2e",
  action: "allow",
  risk: 61,
  reasons: [
    { code: "ip.distinct_usernames", value: 14, threshold: 10, weight: 40 },
    { code: "ua.automation", value: 1, weight: 21 },
  ],
  rule: "stuffing",
  policyVersion: "v3",
  subject: "psn:e2e",
  degraded: false,
  shadowed: [],
  eventTimeMs: 0,
};

const options = { challenge: { wwwAuthenticate: 'Palisade realm="api"' } };

let server: RunningServer;
let client: grpc.Client;

beforeAll(async () => {
  server = await startServer((s) => {
    const implementation: AuthorizationImplementation = {
      Check: (call, callback) => {
        const attributes = toHttpAttributes(call.request);
        const action = (attributes.headers.get("x-test-action") ?? "allow") as Action;
        // The bytes the service sends (service.ts), decoded by a client built from Envoy's protos.
        callback(null, encodeCheckResponse({ ...decision, action }, { ...options, incomingHeaderNames: attributes.headers.keys() }));
      },
    };
    s.addService(palisadeServices().authorization.definition, implementation);
  });
  const Authorization = ((upstreamGrpc().envoy as grpc.GrpcObject).service as grpc.GrpcObject).auth as grpc.GrpcObject;
  const Client = (Authorization.v3 as grpc.GrpcObject).Authorization as grpc.ServiceClientConstructor;
  client = new Client(server.address, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await server?.stop();
});

function checkRequest(headers: Record<string, string>) {
  return {
    attributes: {
      source: { address: { socket_address: { address: "203.0.113.7", port_value: 5000 } } },
      request: { time: { seconds: 1_700_000_000, nanos: 0 }, http: { id: "r-1", method: "POST", path: "/login", host: "api.example", headers } },
    },
  };
}

function call(request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    (client as unknown as { Check: (r: object, cb: (e: grpc.ServiceError | null, v?: Record<string, unknown>) => void) => void }).Check(
      request,
      (error, value) => (error ? reject(error) : resolve(value ?? {})),
    );
  });
}

/** The raw response bytes, for a check that does not depend on protobufjs at all. */
function callRaw(request: object): Promise<Buffer> {
  const encode = codecs("envoy.service.auth.v3.Authorization", "Check").upstream.request.encode;
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest("/envoy.service.auth.v3.Authorization/Check", encode, (bytes: Buffer) => bytes, request, (error, value) =>
      error ? reject(error) : resolve(value as Buffer),
    );
  });
}

describe("Authorization over gRPC, called with Envoy's protos", () => {
  it("allow: the client sees upstream headers, removals and dynamic metadata", async () => {
    const response = await call(checkRequest({ "x-palisade-risk": "0", "x-palisade-admin": "1" }));
    expect(response).toMatchObject({ status: { code: 0 }, http_response: "ok_response" });
    const ok = response.ok_response as { headers: { header: { key: string; value: string }; append_action: string }[]; headers_to_remove: string[] };
    expect(Object.fromEntries(ok.headers.map(({ header }) => [header.key, header.value]))).toEqual({
      "x-palisade-action": "allow",
      "x-palisade-risk": "61",
      "x-palisade-decision-id": "01J-e2e",
      "x-palisade-reasons": "ip.distinct_usernames,ua.automation",
    });
    expect(ok.headers.every((option) => option.append_action === "OVERWRITE_IF_EXISTS_OR_ADD")).toBe(true);
    expect(ok.headers_to_remove).toContain("x-palisade-admin");
    expect(ok.headers_to_remove).not.toContain("x-palisade-risk");
    expect(fromStruct(response.dynamic_metadata as never)).toEqual({
      action: "allow",
      risk: 61,
      risk_text: "61",
      reasons: ["ip.distinct_usernames", "ua.automation"],
      rule: "stuffing",
      policy_version: "v3",
      decision_id: "01J-e2e",
      subject: "psn:e2e",
      degraded: false,
    });
  });

  it("block: the client sees the denial, its headers and metadata by field number", async () => {
    const request = checkRequest({ "x-test-action": "block" });
    const response = await call(request);
    expect(response).toMatchObject({ status: { code: 7 }, denied_response: { status: { code: "Forbidden" } } });
    const metadata = wireStruct(wireMessage(readWire(await callRaw(request)), 4));
    expect(metadata).toMatchObject({ action: "block", risk: 61, decision_id: "01J-e2e", reasons: ["ip.distinct_usernames", "ua.automation"] });
  });
});
