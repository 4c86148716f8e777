import { describe, expect, it } from "vitest";
import {
  compareDecoders,
  delimited,
  message,
  outcomesOnCorruption,
  protobufjsRequests,
  random,
  repeat,
  someText,
  tag,
  tally,
  text,
  truncations,
  varintField,
  type Bytes,
  type Outcome,
  type Random,
} from "../../../../test/support/protobuf-bytes.js";
import { ProtobufDecodeError, malformation } from "../protobuf-reader.js";
import type { RateLimitRequest } from "../protos.js";
import { toRateLimitRequest } from "./converter.js";
import { decodeRateLimitRequest, deserializeRateLimitRequest } from "./request-decoder.js";

const protobufjs = protobufjsRequests<RateLimitRequest>("envoy.service.ratelimit.v3.RateLimitService", "ShouldRateLimit");

function descriptor(rng: Random): Bytes {
  const entry = () => delimited(1, message(rng, [() => text(1, rng.chance(0.5) ? rng.pick(["remote_address", "endpoint", "generic_key"]) : someText(rng)), () => text(2, someText(rng))]));
  const override = () => delimited(2, message(rng, [() => varintField(1, rng.pick([0, 1, 20, 4_294_967_295, 4_294_967_296])), () => varintField(2, rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 300, -1]))]));
  const hits = () => delimited(3, message(rng, [() => varintField(1, rng.pick([0, 1, 5, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, -1]))]));
  return message(rng, [() => repeat(rng, 4, entry), override, hits]);
}

function rateLimitRequest(seed: number): Buffer {
  const rng = random(seed);
  return Buffer.from(
    message(rng, [
      () => text(1, rng.chance(0.6) ? "storefront" : someText(rng)),
      () => repeat(rng, 4, () => delimited(2, descriptor(rng))),
      () => varintField(3, rng.pick([0, 1, 7, 4_294_967_295, 2n ** 33n, -1])),
    ]),
  );
}

/** The decoder's contract on any bytes (compareDecoders), with the core request read from both alike. */
function compare(bytes: Buffer): Outcome {
  return compareDecoders(bytes, decodeRateLimitRequest, protobufjs, (ours, reference, context) => {
    expect(toRateLimitRequest(ours), context).toEqual(toRateLimitRequest(reference));
  });
}

const SEEDS = Array.from({ length: 1000 }, (_, i) => i + 1);

describe("decodeRateLimitRequest", () => {
  it("reads generated requests as protobufjs does: fields in any order, repeated, unknown ones of every wire type", () => {
    for (const seed of SEEDS) expect(compare(rateLimitRequest(seed)), `seed ${seed}`).toBe("both read");
  });

  it("reads Envoy's request to the same core request, defaults included", () => {
    const limited = [...text(1, "remote_address"), ...text(2, "10.0.0.1")];
    const keyOnly = text(1, "endpoint");
    const override = delimited(2, varintField(2, 2)); // MINUTE, requests_per_unit left at 0
    const bytes = Buffer.from([
      ...text(1, "storefront"),
      ...delimited(2, [...delimited(1, limited), ...delimited(1, keyOnly), ...override, ...delimited(3, varintField(1, 2n ** 64n - 1n))]),
      ...varintField(3, 3),
    ]);
    expect(toRateLimitRequest(decodeRateLimitRequest(bytes))).toEqual({
      domain: "storefront",
      descriptors: [
        {
          entries: [{ key: "remote_address", value: "10.0.0.1" }, { key: "endpoint", value: "" }],
          limit: { requestsPerUnit: 0, unit: "minute" },
          hits: 2 ** 64,
        },
      ],
      hits: 3,
    });
    expect(compare(bytes)).toBe("both read");
    expect(toRateLimitRequest(decodeRateLimitRequest(Buffer.alloc(0)))).toEqual({ domain: "", descriptors: [], hits: 0 });
  });

  it("refuses every truncation protobufjs refuses, reads the rest alike or refuses a text cut short", () => {
    const outcomes: Outcome[] = [];
    for (const seed of SEEDS.slice(0, 300)) {
      for (const bytes of truncations(rateLimitRequest(seed), seed, 8)) {
        const outcome = compare(bytes);
        // The domain is a field of the request itself: protobufjs reads it cut at the end, the stricter reader refuses.
        if (outcome === "only protobufjs read") expect(() => decodeRateLimitRequest(bytes), bytes.toString("hex")).toThrow(/past the end of its message/);
        outcomes.push(outcome);
      }
    }
    expect(tally(outcomes)["both refused"]).toBeGreaterThan(1000);
  });

  it("on corrupted bytes, reads only what protobufjs reads alike and throws nothing but ProtobufDecodeError", () => {
    const counts = outcomesOnCorruption(rateLimitRequest, compare, SEEDS);
    // Both kinds of agreement occur, so the comparison is not vacuous.
    expect(counts["both read"]).toBeGreaterThan(500);
    expect(counts["both refused"]).toBeGreaterThan(500);
  });

  it("refuses what protobufjs would read leniently, with a ProtobufDecodeError naming the byte", () => {
    const cases: [string, Buffer][] = [
      ["past the end", Buffer.from([...tag(1, 2), 10, 0x61])],
      ["wire type", Buffer.from(delimited(2, delimited(1, [...tag(2, 0), 3])))],
    ];
    for (const [problem, bytes] of cases) {
      expect(() => decodeRateLimitRequest(bytes), problem).toThrow(/at byte \d+ of \d+/);
      expect(compare(bytes), problem).toBe("only protobufjs read");
    }
  });

  it("gives grpc-js a request that names its malformation instead of throwing", () => {
    const request = deserializeRateLimitRequest(Buffer.from([0x0a, 0x05, 0x22]));
    expect(malformation(request)).toBeInstanceOf(ProtobufDecodeError);
    expect(malformation(deserializeRateLimitRequest(Buffer.from(text(1, "storefront"))))).toBeUndefined();
  });
});
