import { describe, expect, it } from "vitest";
import { fromProtoJson, ProtoJsonError } from "./proto-json.js";

const ENTRY = "envoy.data.accesslog.v3.HTTPAccessLogEntry";

describe("fromProtoJson (proto3 JSON mapping)", () => {
  it("reads well-known types, 64-bit strings, enums, maps and both field spellings", () => {
    const entry = fromProtoJson(ENTRY, {
      commonProperties: {
        startTime: "2026-03-02T10:00:01.250+01:00",
        duration: "0.031s",
        metadata: { filterMetadata: { "envoy.filters.http.ext_authz": { action: "throttle", risk: 40 } } },
      },
      protocol_version: "HTTP2",
      request: { requestMethod: "POST", requestBodyBytes: "52", requestHeaders: { "x-a": "1" } },
      response: { responseCode: 429 },
    });
    expect(entry).toEqual({
      common_properties: {
        start_time: { seconds: Date.parse("2026-03-02T09:00:01Z") / 1000, nanos: 250_000_000 },
        duration: { seconds: 0, nanos: 31_000_000 },
        metadata: {
          filter_metadata: {
            "envoy.filters.http.ext_authz": { fields: { action: { stringValue: "throttle" }, risk: { numberValue: 40 } } },
          },
        },
      },
      protocol_version: "HTTP2",
      request: { request_method: "POST", request_body_bytes: 52, request_headers: { "x-a": "1" } },
      response: { response_code: { value: 429 } },
    });
  });

  it("reads bytes from base64 and treats null as absent", () => {
    const check = fromProtoJson("envoy.service.auth.v3.CheckRequest", { attributes: { request: { http: { rawBody: "aGk=", body: null } } } });
    expect((check as any).attributes.request.http).toEqual({ raw_body: Buffer.from("hi") });
  });

  it.each([
    [{ request: { nope: 1 } }, "request.nope: unknown field of envoy.data.accesslog.v3.HTTPRequestProperties"],
    [{ commonProperties: { startTime: "yesterday" } }, "commonProperties.startTime: expected an RFC 3339 timestamp"],
    [{ request: { requestBodyBytes: "many" } }, "request.requestBodyBytes: expected an integer"],
    [{ request: { path: 7 } }, "request.path: expected string"],
    [{ request: [] }, "request: expected an object for envoy.data.accesslog.v3.HTTPRequestProperties"],
  ])("rejects %j naming the path", (json, message) => {
    expect(() => fromProtoJson(ENTRY, json)).toThrow(new ProtoJsonError(message));
  });
});
