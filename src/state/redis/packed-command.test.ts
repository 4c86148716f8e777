import fc from "fast-check";
import { Command } from "ioredis";
import { describe, expect, it } from "vitest";
import { encodeCommand, PackedCommand } from "./packed-command.js";

/** What ioredis writes for the same call: its Command's RESP text, as UTF-8 on the socket. */
function ioredisBytes(name: string, head: (string | number)[], keys: string[], args: (string | number)[]): Buffer {
  const written = new Command(name, [...head, keys, args]).toWritable({});
  return typeof written === "string" ? Buffer.from(written, "utf8") : written;
}

describe("PackedCommand", () => {
  it("writes the bytes ioredis writes for a script call", () => {
    const keys = ["palisade:{ip:abc}:w:login:60000:28333", "palisade:{ip:abc}:w:login:60000:28332"];
    const args = ["w", 1, 120000, "d", 120000, "member", ";", -0, 1.5e-7, Number.NaN, ""];
    const packed = new PackedCommand("evalsha", ["0123456789abcdef0123456789abcdef01234567", keys.length], keys, args);
    expect(packed.toWritable()).toEqual(ioredisBytes("evalsha", ["0123456789abcdef0123456789abcdef01234567", keys.length], keys, args));
  });

  it("writes non-ASCII text, long arguments and long commands as ioredis does", () => {
    const long = "x".repeat(100_000);
    const keys = ["k:é", "k:😀", `k:${long}`];
    const args = ["ünïcode ✓", long, "\ud800 lone surrogate", 12345678901234];
    expect(encodeCommand("eval", ["return 1", 3], keys, args)).toEqual(ioredisBytes("eval", ["return 1", 3], keys, args));
  });

  it("agrees with ioredis on arbitrary keys and arguments", () => {
    const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: "grapheme", maxLength: 80 }), fc.string({ unit: "binary", maxLength: 20 }));
    const arg = fc.oneof(text, fc.integer(), fc.double(), fc.nat());
    fc.assert(
      fc.property(fc.array(text, { maxLength: 40 }), fc.array(arg, { maxLength: 60 }), (keys, args) => {
        expect(encodeCommand("evalsha", ["sha", keys.length], keys, args)).toEqual(ioredisBytes("evalsha", ["sha", keys.length], keys, args));
      }),
      { numRuns: 300 },
    );
  });
});
