/** Global rate-limit service (RLS) wire contract against Envoy's protos. */
import { describe, expect, it } from "vitest";
import { fromStruct, toStruct, type RateLimitRequest, type RateLimitResponse } from "../../src/transport/grpc/protos.js";
import { codecs, readWire, wireMessage, wireStruct } from "./upstream.js";

const rls = codecs("envoy.service.ratelimit.v3.RateLimitService", "ShouldRateLimit");

const envoyRequest = {
  domain: "palisade",
  descriptors: [
    { entries: [{ key: "remote_address", value: "203.0.113.7" }], limit: null },
    {
      entries: [
        { key: "endpoint", value: "login" },
        { key: "user", value: "psn:abc" },
      ],
      limit: { requests_per_unit: 5, unit: "MINUTE" },
    },
  ],
  hits_addend: 3,
};

describe("RateLimitRequest", () => {
  it("decodes what Envoy sends, including hits_addend and limit overrides", () => {
    const decoded = rls.ours.request.decode(rls.upstream.request.encode(envoyRequest)) as RateLimitRequest;
    expect(decoded).toMatchObject(envoyRequest);
    expect(decoded.descriptors?.[0]?.hits_addend).toBeNull();
  });

  it("encodes what Envoy's protos decode", () => {
    expect(rls.upstream.request.decode(rls.ours.request.encode(envoyRequest))).toMatchObject(envoyRequest);
  });

  it("carries per-descriptor hits_addend as a UInt64Value in field 3, which older Envoys skip", () => {
    const request: RateLimitRequest = { domain: "d", descriptors: [{ entries: [{ key: "k", value: "v" }], hits_addend: { value: 7 } }] };
    const bytes = rls.ours.request.encode(request);
    const descriptor = wireMessage(readWire(bytes), 2);
    expect(wireMessage(descriptor, 3).get(1)?.[0]?.int).toBe(7n);
    expect((rls.ours.request.decode(bytes) as RateLimitRequest).descriptors?.[0]?.hits_addend).toEqual({ value: 7 });
    expect(rls.upstream.request.decode(bytes)).toMatchObject({ domain: "d", descriptors: [{ entries: [{ key: "k", value: "v" }] }] });
  });
});

describe("RateLimitResponse", () => {
  const response: RateLimitResponse = {
    overall_code: "OVER_LIMIT",
    statuses: [
      { code: "OK", current_limit: { name: "per-ip", requests_per_unit: 100, unit: "MINUTE" }, limit_remaining: 57, duration_until_reset: { seconds: 12, nanos: 500_000_000 } },
      {
        code: "OVER_LIMIT",
        current_limit: { name: "per-user", requests_per_unit: 5, unit: "HOUR" },
        limit_remaining: 0,
        duration_until_reset: { seconds: 1800, nanos: 0 },
        quota: { requests: 2, valid_until: { seconds: 1_700_000_000, nanos: 0 }, id: "q1" },
      },
    ],
    response_headers_to_add: [
      { key: "retry-after", value: "1800" },
      { key: "ratelimit", value: '"default";r=0;t=1800' },
    ],
    request_headers_to_add: [{ key: "x-palisade-action", value: "throttle" }],
    raw_body: Buffer.from('{"title":"Too many requests"}'),
    dynamic_metadata: toStruct({ action: "throttle", decision_id: "d-9" }),
    quota: { requests: 10, id: "q-all" },
  };

  it("Envoy decodes statuses, headers, body, quota and duration_until_reset", () => {
    const decoded = rls.upstream.response.decode(rls.ours.response.encode(response));
    const { dynamic_metadata: _metadata, ...rest } = response;
    expect(decoded).toMatchObject(rest);
    expect(fromStruct(decoded.dynamic_metadata as never)).toEqual({ action: "throttle", decision_id: "d-9" });
  });

  it("dynamic_metadata is on the wire under Envoy's field numbers", () => {
    expect(wireStruct(wireMessage(readWire(rls.ours.response.encode(response)), 6))).toEqual({ action: "throttle", decision_id: "d-9" });
  });

  it("decodes a response encoded with Envoy's protos", () => {
    const decoded = rls.ours.response.decode(rls.upstream.response.encode(response));
    const { dynamic_metadata: _metadata, ...rest } = response;
    expect(decoded).toMatchObject(rest);
    expect(fromStruct(decoded.dynamic_metadata as never)).toEqual({ action: "throttle", decision_id: "d-9" });
  });
});
