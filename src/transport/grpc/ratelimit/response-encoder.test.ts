import { describe, expect, it } from "vitest";
import type { RateLimitDecision } from "../../../ratelimit/request.js";
import { palisadeServices, toStruct, type RateLimitResponse } from "../protos.js";
import { toRateLimitResponse } from "./converter.js";
import { encodeRateLimitResponse, withHandEncodedResponses } from "./response-encoder.js";

const method = palisadeServices().rateLimit.definition.ShouldRateLimit;
const viaProtobufjs = (response: RateLimitResponse) => method.responseDeserialize(method.responseSerialize(response));
const byHand = (response: RateLimitResponse) => {
  const bytes = encodeRateLimitResponse(response);
  expect(bytes).toBeInstanceOf(Buffer);
  return method.responseDeserialize(bytes!);
};

const limit = (requestsPerUnit: number, name?: string) => ({ requestsPerUnit, unit: "minute" as const, windowMs: 60_000, ...(name === undefined ? {} : { name }) });

const decisions: Record<string, RateLimitDecision> = {
  "two statuses, headers, metadata": {
    overallCode: "OK",
    statuses: [
      { code: "OK", currentLimit: limit(600), limitRemaining: 590, durationUntilResetMs: 31_500 },
      { code: "OK", currentLimit: limit(20, "per_ip"), limitRemaining: 12, durationUntilResetMs: 999 },
    ],
    responseHeaders: [["x-ratelimit-limit", "20, 600;w=60, 20;w=60;name=\"per_ip\""], ["x-ratelimit-remaining", "12"], ["x-ratelimit-reset", "1"]],
    metadata: { domain: "storefront" },
  },
  "over limit, no limit, unlimited, zeros": {
    overallCode: "OVER_LIMIT",
    statuses: [
      { code: "OVER_LIMIT", currentLimit: limit(0), limitRemaining: 0, durationUntilResetMs: 0 },
      { code: "OK", limitRemaining: 0 },
      { code: "OK", limitRemaining: 0xffff_ffff + 10 },
    ],
    responseHeaders: [],
    metadata: { domain: "", risk: 80, degraded: true, shadow_over_limit: true },
  },
  "long and non-ASCII text, nested metadata": {
    overallCode: "OK",
    statuses: [{ code: "OK", currentLimit: limit(1e9, "é".repeat(70) + "🙂"), limitRemaining: 123_456_789, durationUntilResetMs: 86_400_000 * 400 + 1 }],
    responseHeaders: [["x-long", "v".repeat(300)], ["x-ütf", "日本語"]],
    metadata: {
      domain: "d",
      metadata: { tier: "gold", nested: { list: [1, "two", null, true, { deep: [] }], nan: Number.NaN, big: 2 ** 60, negative: -1.5 }, "": "" },
    },
  },
  "envoyproxy's own metadata": {
    overallCode: "OK",
    statuses: [{ code: "OK", limitRemaining: 0 }],
    responseHeaders: [],
    metadata: { domain: "shop" },
    envoyMetadata: { domain: "shop", descriptors: [{ entries: ["a=b", "c=" + "x".repeat(200)], hitsAddend: 3 }], hitsAddend: 2 },
  },
};

describe("encodeRateLimitResponse", () => {
  for (const [name, decision] of Object.entries(decisions)) {
    it(`decodes as protobufjs' encoding does: ${name}`, () => {
      const response = toRateLimitResponse(decision);
      expect(byHand(response)).toEqual(viaProtobufjs(response));
    });
  }

  it("encodes a large Struct whose lengths take several bytes", () => {
    const fields = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, { s: "x".repeat(i % 50), n: i }]));
    const response: RateLimitResponse = { overall_code: "OK", statuses: [], response_headers_to_add: [], dynamic_metadata: toStruct({ fields }) };
    expect(byHand(response)).toEqual(viaProtobufjs(response));
    expect(encodeRateLimitResponse(response)!.length).toBeGreaterThan(16_384);
  });

  it("encodes enums given as numbers, as the warm-up sends them", () => {
    const response: RateLimitResponse = { overall_code: 2, statuses: [{ code: 1, current_limit: { requests_per_unit: 10, unit: 7 }, limit_remaining: 5 }] };
    expect(byHand(response)).toEqual(viaProtobufjs(response));
  });

  it("leaves what it does not encode to protobufjs, and the service definition falls back to it", () => {
    const unsupported: RateLimitResponse[] = [
      { overall_code: "OK", quota: { requests: 1 } },
      { overall_code: "OK", request_headers_to_add: [{ key: "a", value: "b" }] },
      { overall_code: "OK", raw_body: Buffer.from("x") },
      { overall_code: "SOMETHING_NEW" as "OK" },
      { statuses: [{ code: "OK", limit_remaining: -1 }] },
      { statuses: [{ code: "OK", limit_remaining: 1.5 }] },
      { statuses: [{ code: "OK", quota: { requests: 1 } }] },
      { statuses: [{ code: "OK", duration_until_reset: { seconds: "x", nanos: 0 } }] },
      { response_headers_to_add: [{ key: "a", raw_value: Buffer.from("b") }] },
      { dynamic_metadata: { fields: { a: { stringValue: 7 as unknown as string } } } },
    ];
    const definition = withHandEncodedResponses(palisadeServices().rateLimit.definition);
    for (const response of unsupported) {
      expect(encodeRateLimitResponse(response)).toBeUndefined();
      const fallback = (() => {
        try {
          return { bytes: method.responseSerialize(response) };
        } catch (error) {
          return { error };
        }
      })();
      if ("bytes" in fallback) expect(definition.ShouldRateLimit.responseSerialize(response)).toEqual(fallback.bytes);
      else expect(() => definition.ShouldRateLimit.responseSerialize(response)).toThrow();
    }
  });

  it("gives each answer its own bytes, not a view of the shared scratch buffer", () => {
    const first = encodeRateLimitResponse({ overall_code: "OK" })!;
    const copy = Buffer.from(first);
    encodeRateLimitResponse({ overall_code: "OVER_LIMIT", response_headers_to_add: [{ key: "k", value: "v" }] });
    expect(first).toEqual(copy);
  });
});
