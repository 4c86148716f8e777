/**
 * Protobuf wire bytes written from field numbers (not by protobufjs nor by a hand decoder), seeded
 * random messages built from them, and the comparison that holds a hand decoder
 * (src/transport/grpc/protobuf-reader.ts) to protobufjs on any bytes: the decoder tests' common ground.
 */
import { expect } from "vitest";
import { ProtobufDecodeError } from "../../src/transport/grpc/protobuf-reader.js";
import { loadPackageDefinition } from "../../src/transport/grpc/protos.js";

/** protobufjs' deserializer of a method's requests, as proto-loader builds it: what a hand decoder must agree with. */
export function protobufjsRequests<Message>(service: string, method: string): (bytes: Buffer) => Message {
  const definition = loadPackageDefinition()[service] as unknown as Record<string, { requestDeserialize: (bytes: Buffer) => Message }>;
  const deserialize = definition[method]!.requestDeserialize;
  return (bytes) => deserialize(bytes);
}

export type Bytes = number[];

export function varint(value: number | bigint): Bytes {
  let rest = BigInt.asUintN(64, BigInt(value));
  const out: Bytes = [];
  while (rest > 127n) {
    out.push(Number(rest & 127n) | 128);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}

export const tag = (field: number, wireType: number): Bytes => varint(field * 8 + wireType);
export const delimited = (field: number, payload: Bytes): Bytes => [...tag(field, 2), ...varint(payload.length), ...payload];
export const text = (field: number, value: string | Bytes): Bytes => delimited(field, typeof value === "string" ? [...Buffer.from(value)] : value);
export const varintField = (field: number, value: number | bigint): Bytes => [...tag(field, 0), ...varint(value)];
export function doubleField(field: number, value: number): Bytes {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value);
  return [...tag(field, 1), ...bytes];
}
export const entry = (field: number, key: Bytes | undefined, value: Bytes | undefined): Bytes =>
  delimited(field, [...(key ? text(1, key) : []), ...(value ?? [])]);

/** A seeded generator, so that a failure names the seed that shows it. */
export function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n: number) => Math.floor(next() * n);
  const chance = (p: number) => next() < p;
  const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;
  return { next, below, chance, pick };
}
export type Random = ReturnType<typeof random>;

export const TEXTS = ["", "a", "GET", "/login?next=%2F", "User-Agent", "X-Palisade-Action", "__proto__", "constructor", "1", "07", "é", "ünïcödé 🙂", "a b\tc", "x".repeat(200)];
/** Byte strings that are no valid UTF-8: both decoders must replace them alike. */
export const RAW_TEXTS: Bytes[] = [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0x61, 0x80, 0x62], [0xf0, 0x9f, 0x99]];

export function someText(rng: Random): Bytes {
  return rng.chance(0.15) ? rng.pick(RAW_TEXTS) : [...Buffer.from(rng.pick(TEXTS))];
}

/** A field no message here declares, of any wire type (groups included). */
export function unknownField(rng: Random, depth = 0): Bytes {
  const field = rng.pick([14, 15, 31, 99, 1000, 536870911]);
  switch (rng.below(depth < 2 ? 5 : 4)) {
    case 0:
      return varintField(field, rng.pick([0, 1, 300, -1, 2n ** 63n]));
    case 1:
      return doubleField(field, rng.next());
    case 2:
      return text(field, someText(rng));
    case 3:
      return [...tag(field, 5), 1, 2, 3, 4];
    default:
      return [...tag(field, 3), ...unknownField(rng, depth + 1), ...unknownField(rng, depth + 1), ...tag(field, 4)];
  }
}

/** Fields in a random order, some repeated (the last one wins, maps add up), unknown ones among them. */
export function message(rng: Random, fields: (() => Bytes)[], unknown = 0.2): Bytes {
  const out: Bytes[] = [];
  for (const field of fields) {
    if (rng.chance(0.75)) out.push(field());
    if (rng.chance(0.08)) out.push(field());
  }
  while (rng.chance(unknown)) out.push(unknownField(rng));
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.flat();
}

export const repeat = (rng: Random, most: number, make: () => Bytes): Bytes => Array.from({ length: rng.below(most + 1) }, make).flat();

export type Outcome = "both read" | "both refused" | "only protobufjs read";

function attempt<Message>(decode: () => Message): Message | Error {
  try {
    return decode();
  } catch (error) {
    return error as Error;
  }
}

/**
 * A hand decoder's contract on any bytes: refusals are ProtobufDecodeErrors; what it reads,
 * protobufjs reads alike (`expectAlike` asserts it); what protobufjs refuses, it refuses.
 */
export function compareDecoders<Message>(
  bytes: Buffer,
  ours: (bytes: Buffer) => Message,
  protobufjs: (bytes: Buffer) => Message,
  expectAlike: (ours: Message, reference: Message, context: string) => void,
): Outcome {
  const read = attempt(() => ours(bytes));
  const reference = attempt(() => protobufjs(bytes));
  const context = bytes.toString("hex");
  if (read instanceof Error) {
    expect(read, context).toBeInstanceOf(ProtobufDecodeError);
    return reference instanceof Error ? "both refused" : "only protobufjs read";
  }
  expect(reference, context).not.toBeInstanceOf(Error);
  expectAlike(read, reference as Message, context);
  return "both read";
}

export function tally(outcomes: Outcome[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { "both read": 0, "both refused": 0, "only protobufjs read": 0 };
  for (const outcome of outcomes) counts[outcome]++;
  return counts;
}

/** `count` cuts of `bytes` at random lengths. */
export function truncations(bytes: Buffer, seed: number, count: number): Buffer[] {
  const rng = random(seed * 31);
  return Array.from({ length: count }, () => bytes.subarray(0, rng.below(bytes.length)));
}

/** `count` copies of `bytes` with one to three random bytes overwritten. */
export function corruptions(bytes: Buffer, seed: number, count: number): Buffer[] {
  if (bytes.length === 0) return [];
  const rng = random(seed * 17);
  return Array.from({ length: count }, () => {
    const corrupted = Buffer.from(bytes);
    for (let flips = 1 + rng.below(3); flips > 0; flips--) corrupted[rng.below(corrupted.length)] = rng.below(256);
    return corrupted;
  });
}

/** `count` strings of random bytes, up to 63 long. */
export function randomBytes(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const rng = random(100_000 + i);
    return Buffer.from(Array.from({ length: rng.below(64) }, () => rng.below(256)));
  });
}

/** `compare`'s outcomes on each seed's message with bytes overwritten (six copies each), then on 400 strings of random bytes. */
export function outcomesOnCorruption(generate: (seed: number) => Buffer, compare: (bytes: Buffer) => Outcome, seeds: readonly number[]): Record<Outcome, number> {
  const outcomes: Outcome[] = [];
  for (const seed of seeds) for (const bytes of corruptions(generate(seed), seed, 6)) outcomes.push(compare(bytes));
  for (const bytes of randomBytes(400)) outcomes.push(compare(bytes));
  return tally(outcomes);
}
