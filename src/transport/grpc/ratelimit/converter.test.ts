import { describe, expect, it } from "vitest";
import type { RateLimitDecision } from "../../../ratelimit/request.js";
import { fromStruct, type RateLimitRequest } from "../protos.js";
import { toRateLimitRequest, toRateLimitResponse } from "./converter.js";

describe("toRateLimitRequest", () => {
  it("reads domain, entries, overrides and costs as Envoy sends them", () => {
    const request: RateLimitRequest = {
      domain: "shop",
      hits_addend: 3,
      descriptors: [
        { entries: [{ key: "remote_address", value: "192.0.2.1" }], limit: null, hits_addend: null },
        { entries: [{ key: "user", value: "u1" }], limit: { requests_per_unit: 5, unit: "MINUTE" }, hits_addend: { value: "0" } },
      ],
    };
    expect(toRateLimitRequest(request)).toEqual({
      domain: "shop",
      hits: 3,
      descriptors: [
        { entries: [{ key: "remote_address", value: "192.0.2.1" }] },
        { entries: [{ key: "user", value: "u1" }], limit: { requestsPerUnit: 5, unit: "minute" }, hits: 0 },
      ],
    });
  });

  it("never throws: malformed fields become empty ones, unknown override units are ignored", () => {
    expect(toRateLimitRequest(undefined)).toEqual({ domain: "", descriptors: [], hits: 0 });
    const odd = {
      domain: 7,
      hits_addend: -1,
      descriptors: [null, { entries: [null, { key: "k" }, { key: "k", value: "v" }], limit: { requests_per_unit: 5, unit: "UNKNOWN" } }, { limit: { unit: 9 } }],
    } as unknown as RateLimitRequest;
    expect(toRateLimitRequest(odd)).toEqual({
      domain: "",
      hits: 0,
      descriptors: [{ entries: [] }, { entries: [{ key: "k", value: "v" }] }, { entries: [] }],
    });
  });
});

describe("toRateLimitResponse", () => {
  const decision: RateLimitDecision = {
    overallCode: "OVER_LIMIT",
    statuses: [
      { code: "OVER_LIMIT", currentLimit: { name: "per_ip", requestsPerUnit: 20, unit: "minute", windowMs: 300_000 }, limitRemaining: 0, durationUntilResetMs: 61_500 },
      { code: "OK", limitRemaining: 0xffff_ffff + 10 },
    ],
    responseHeaders: [["x-ratelimit-remaining", "0"]],
    metadata: { domain: "shop", risk: 80 },
  };

  it("maps statuses in order, units to Envoy's names, and clamps to uint32", () => {
    const response = toRateLimitResponse(decision);
    expect(response.overall_code).toBe("OVER_LIMIT");
    expect(response.statuses).toEqual([
      {
        code: "OVER_LIMIT",
        current_limit: { name: "per_ip", requests_per_unit: 20, unit: "MINUTE" },
        limit_remaining: 0,
        duration_until_reset: { seconds: 61, nanos: 500_000_000 },
      },
      { code: "OK", current_limit: null, limit_remaining: 0xffff_ffff, duration_until_reset: null },
    ]);
    expect(response.response_headers_to_add).toEqual([{ key: "x-ratelimit-remaining", value: "0" }]);
    expect(fromStruct(response.dynamic_metadata)).toEqual({ domain: "shop", risk: 80 });
  });
});
