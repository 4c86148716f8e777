import { describe, expect, it } from "vitest";
import {
  compareDecoders,
  delimited,
  doubleField,
  entry,
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
import { ProtobufDecodeError } from "../protobuf-reader.js";
import type { CheckRequest, Struct, Value } from "../protos.js";
import { decodeCheckRequest } from "./check-request-decoder.js";
import { toHttpAttributes } from "./converter.js";

const protobufjs = protobufjsRequests<CheckRequest>("envoy.service.auth.v3.Authorization", "Check");

const stringEntry = (rng: Random, field: number) => () =>
  entry(field, rng.chance(0.9) ? someText(rng) : undefined, rng.chance(0.9) ? text(2, someText(rng)) : undefined);

function socketAddress(rng: Random): Bytes {
  return message(rng, [
    () => varintField(1, rng.pick([0, 1, 7])),
    () => text(2, rng.pick(["203.0.113.7", "2001:db8::1", "", "not an address"])),
    () => varintField(3, rng.pick([0, 443, 65535, 70000])),
    () => text(4, someText(rng)),
    () => text(5, someText(rng)),
    () => varintField(6, rng.below(2)),
  ]);
}

function peer(rng: Random): Bytes {
  const address = message(rng, [() => delimited(1, socketAddress(rng)), () => delimited(2, [...text(1, "/tmp/sock"), ...varintField(2, 420)])]);
  return message(rng, [
    () => delimited(1, address),
    () => text(2, someText(rng)),
    () => repeat(rng, 3, stringEntry(rng, 3)),
    () => text(4, someText(rng)),
    () => text(5, someText(rng)),
  ]);
}

function value(rng: Random, depth: number): Bytes {
  const kinds = [
    () => varintField(1, 0),
    () => doubleField(2, rng.pick([0, -0, 1.5, -2e300, Number.NaN, Number.POSITIVE_INFINITY])),
    () => text(3, someText(rng)),
    () => varintField(4, rng.pick([0, 1, 2])),
  ];
  if (depth < 4) {
    kinds.push(() => delimited(5, struct(rng, depth + 1)));
    kinds.push(() => delimited(6, repeat(rng, 3, () => delimited(1, value(rng, depth + 1)))));
  }
  // Mostly one member of the oneof, sometimes several: both decoders keep every one.
  return rng.chance(0.85) ? rng.pick(kinds)() : message(rng, kinds, 0.05);
}

function struct(rng: Random, depth: number): Bytes {
  return repeat(rng, 4, () => entry(1, someText(rng), delimited(2, value(rng, depth))));
}

function metadata(rng: Random): Bytes {
  return message(rng, [
    () => repeat(rng, 3, () => entry(1, someText(rng), delimited(2, struct(rng, 0)))),
    () => repeat(rng, 2, () => entry(2, someText(rng), delimited(2, [...text(1, "type.googleapis.com/x"), ...text(2, [0, 255, 1])]))),
  ]);
}

function headerMap(rng: Random): Bytes {
  const header = () =>
    delimited(
      1,
      message(rng, [
        () => text(1, someText(rng)),
        () => text(2, someText(rng)),
        () => text(3, rng.chance(0.2) ? [] : someText(rng)),
      ]),
    );
  return repeat(rng, 6, header);
}

function httpRequest(rng: Random): Bytes {
  return message(rng, [
    () => text(1, someText(rng)),
    () => text(2, rng.pick(["GET", "POST", ""])),
    () => repeat(rng, 6, stringEntry(rng, 3)),
    () => text(4, someText(rng)),
    () => text(5, someText(rng)),
    () => text(6, rng.pick(["https", "http", ""])),
    () => text(7, someText(rng)),
    () => text(8, someText(rng)),
    () => varintField(9, rng.pick([0, 42, -1, 2n ** 62n])),
    () => text(10, rng.pick(["HTTP/1.1", "HTTP/2", ""])),
    () => text(11, someText(rng)),
    () => text(12, rng.chance(0.3) ? [] : someText(rng)),
    () => delimited(13, headerMap(rng)),
  ]);
}

function timestamp(rng: Random): Bytes {
  return message(rng, [
    () => varintField(1, rng.pick([0, 1, 1_700_000_123, -5, 2n ** 62n, -(2n ** 63n), 2n ** 53n + 1n])),
    () => varintField(2, rng.pick([0, 456_000_000, 999_999_999, -3])),
  ]);
}

function attributeContext(rng: Random): Bytes {
  return message(rng, [
    () => delimited(1, peer(rng)),
    () => delimited(2, peer(rng)),
    () => delimited(4, message(rng, [() => delimited(1, timestamp(rng)), () => delimited(2, httpRequest(rng))])),
    () => repeat(rng, 4, stringEntry(rng, 10)),
    () => delimited(11, metadata(rng)),
    () => delimited(12, text(1, someText(rng))),
    () => delimited(13, metadata(rng)),
  ]);
}

function checkRequest(seed: number): Buffer {
  const rng = random(seed);
  return Buffer.from(message(rng, [() => delimited(1, attributeContext(rng))]));
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

const hex = (bytes: unknown) => (bytes instanceof Uint8Array ? Buffer.from(bytes).toString("hex") : "");
const ownEntries = (object: unknown): [string, unknown][] => (object && typeof object === "object" ? Object.entries(object) : []);

function projectValue(item: Value | null | undefined): unknown {
  if (!item) return item;
  return { string: item.stringValue, number: item.numberValue, bool: item.boolValue, struct: item.structValue ? projectStruct(item.structValue) : undefined };
}

function projectStruct(struct: Struct | null | undefined): unknown {
  return ownEntries(struct?.fields).map(([key, item]) => [key, projectValue(item as Value)]);
}

/**
 * Every field the decoder keeps, with proto3's defaults ("" and 0) in place of absent ones:
 * protobufjs fills them in, the hand decoder leaves them out, and toHttpAttributes reads both alike.
 */
function project(request: CheckRequest) {
  const attributes = request.attributes;
  const time = attributes?.request?.time;
  const http = attributes?.request?.http;
  return {
    attributes: attributes ? true : undefined,
    peer: attributes?.source?.address?.socket_address?.address ?? "",
    time: time ? [Number(time.seconds ?? 0), time.nanos ?? 0] : undefined,
    http: http ? {
      text: [http.id, http.method, http.path, http.host, http.scheme, http.protocol, http.body].map((field) => field ?? ""),
      rawBody: hex(http.raw_body),
      headers: ownEntries(http.headers),
      headerMap: http.header_map?.headers?.map((header) => [header.key, header.value, hex(header.raw_value)]) ?? [],
    } : undefined,
    contextExtensions: ownEntries(attributes?.context_extensions),
    routeMetadata: ownEntries(attributes?.route_metadata_context?.filter_metadata).map(([key, struct]) => [key, projectStruct(struct as Struct)]),
  };
}

/** The decoder's contract on any bytes (compareDecoders), with the attributes read from both alike. */
function compare(bytes: Buffer): Outcome {
  return compareDecoders(bytes, decodeCheckRequest, protobufjs, (ours, reference, context) => {
    expect(project(ours), context).toEqual(project(reference));
    expect(toHttpAttributes(ours), context).toEqual(toHttpAttributes(reference));
  });
}

const SEEDS = Array.from({ length: 1000 }, (_, i) => i + 1);

describe("decodeCheckRequest", () => {
  it("reads generated requests as protobufjs does: fields in any order, repeated, unknown ones of every wire type", () => {
    for (const seed of SEEDS) expect(compare(checkRequest(seed)), `seed ${seed}`).toBe("both read");
  });

  it("reads a request as Envoy's protos write it, to the same attributes", () => {
    const bytes = checkRequest(7);
    expect(toHttpAttributes(decodeCheckRequest(bytes))).toEqual(toHttpAttributes(protobufjs(bytes)));
    const empty = Buffer.alloc(0);
    expect(decodeCheckRequest(empty)).toEqual({});
    expect(toHttpAttributes(decodeCheckRequest(empty))).toEqual({ headers: new Map() });
  });

  it("refuses every truncation protobufjs refuses, and reads the rest alike", () => {
    const outcomes: Outcome[] = [];
    for (const seed of SEEDS.slice(0, 300)) for (const bytes of truncations(checkRequest(seed), seed, 8)) outcomes.push(compare(bytes));
    const counts = tally(outcomes);
    expect(counts["only protobufjs read"]).toBe(0);
    expect(counts["both refused"]).toBeGreaterThan(1500);
  });

  it("on corrupted bytes, reads only what protobufjs reads alike and throws nothing but ProtobufDecodeError", () => {
    const counts = outcomesOnCorruption(checkRequest, compare, SEEDS);
    // Both kinds of agreement occur, so the comparison is not vacuous.
    expect(counts["both read"]).toBeGreaterThan(500);
    expect(counts["both refused"]).toBeGreaterThan(500);
  });

  it("keeps a `__proto__` name as an own key, as protobufjs does", () => {
    const bytes = Buffer.from(delimited(1, delimited(4, delimited(2, entry(3, [...Buffer.from("__proto__")], text(2, "x"))))));
    const headers = decodeCheckRequest(bytes).attributes?.request?.http?.headers;
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.entries(headers ?? {})).toEqual([["__proto__", "x"]]);
    expect(compare(bytes)).toBe("both read");
  });

  it("refuses what protobufjs would read leniently, each with a ProtobufDecodeError naming the byte", () => {
    const http = (payload: Bytes) => Buffer.from(delimited(1, delimited(4, delimited(2, payload))));
    const cases: [string, Buffer][] = [
      // A string longer than its message: protobufjs cuts it short.
      ["past the end", http([...tag(1, 2), 10, 0x61])],
      // The path as a varint: protobufjs reads it as a string anyway.
      ["wire type", http([...tag(4, 0), 3, 0x61, 0x62, 0x63])],
      // A 7-byte length: protobufjs takes 10 bytes for it, and reads "d" where the id is "a".
      ["6 to 9 bytes", http([...tag(1, 2), 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x61, 0x62, 0x63, 0x64])],
    ];
    for (const [problem, bytes] of cases) {
      expect(() => decodeCheckRequest(bytes), problem).toThrow(ProtobufDecodeError);
      expect(() => decodeCheckRequest(bytes), problem).toThrow(/at byte \d+ of \d+/);
      expect(compare(bytes)).toBe("only protobufjs read");
    }
  });

  it("refuses a map entry whose message value is missing (protobufjs throws reading it back)", () => {
    const route = (struct: Bytes) => Buffer.from(delimited(1, delimited(13, entry(1, [...Buffer.from("palisade")], struct))));
    expect(compare(route([]))).toBe("both refused");
    expect(compare(route(delimited(2, [])))).toBe("both read");
  });

  it("nests as deep as protobufjs (48 Structs in a route's metadata), no deeper", () => {
    const nested = (levels: number): Bytes => {
      let struct: Bytes = entry(1, [...Buffer.from("leaf")], delimited(2, text(3, "x")));
      for (let i = 0; i < levels; i++) struct = entry(1, [...Buffer.from("k")], delimited(2, delimited(5, struct)));
      return struct;
    };
    const route = (levels: number) => Buffer.from(delimited(1, delimited(13, entry(1, [...Buffer.from("p")], delimited(2, nested(levels))))));
    expect(compare(route(48))).toBe("both read");
    expect(compare(route(49))).toBe("both refused");
    const checked = (levels: number) => Buffer.from(delimited(1, delimited(11, entry(1, [...Buffer.from("p")], delimited(2, nested(levels))))));
    expect(compare(checked(48))).toBe("both read");
    expect(compare(checked(49))).toBe("both refused");
  });
});
