import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { parseFeed, FeedFormatError } from "../../src/policy/feed-formats.js";
import { parseV4Cidr, RangeSet } from "../../src/policy/range-set.js";

const address = (text: string) => ipaddr.parse(text);

function setOf(...cidrs: string[]): RangeSet {
  const builder = RangeSet.builder();
  for (const cidr of cidrs) expect(builder.addText(cidr)).toBe(true);
  return builder.build();
}

describe("RangeSet", () => {
  it("answers membership for IPv4 and IPv6 ranges and bare addresses", () => {
    const set = setOf("10.0.0.0/8", "192.0.2.7", "2001:db8:bad::/48", "2001:db8::1");
    expect(set.has(address("10.255.255.255"))).toBe(true);
    expect(set.has(address("11.0.0.0"))).toBe(false);
    expect(set.has(address("9.255.255.255"))).toBe(false);
    expect(set.has(address("192.0.2.7"))).toBe(true);
    expect(set.has(address("192.0.2.8"))).toBe(false);
    expect(set.has(address("2001:db8:bad:ffff::1"))).toBe(true);
    expect(set.has(address("2001:db8:bae::"))).toBe(false);
    expect(set.has(address("2001:db8::1"))).toBe(true);
    expect(set.has(address("2001:db8::2"))).toBe(false);
    // An IPv4-mapped IPv6 address is the IPv4 address.
    expect(set.has(address("::ffff:10.1.2.3"))).toBe(true);
  });

  it("merges overlapping and adjacent ranges, and masks host bits", () => {
    const set = setOf("10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "10.0.0.5/8", "0.0.0.0/0");
    expect(set.size).toBe(1);
    expect(set.has(address("255.255.255.255"))).toBe(true);
    expect(setOf("::/0").has(address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))).toBe(true);
    expect(setOf("2001:db8::/33", "2001:db8:8000::/33").size).toBe(1);
  });

  it("is empty-safe", () => {
    expect(RangeSet.EMPTY.has(address("1.2.3.4"))).toBe(false);
    expect(RangeSet.EMPTY.has(address("::1"))).toBe(false);
  });

  it("refuses what is not an address or CIDR", () => {
    const builder = RangeSet.builder();
    for (const bad of ["", "1.2.3", "1.2.3.4/33", "256.1.1.1", "01.2.3.4", "1.2.3.4/", "1.2.3.4 x", "2001:db8::/129", "example.com"]) {
      expect(builder.addText(bad), bad).toBe(false);
    }
    expect(builder.count).toBe(0);
  });

  it("parses dotted quads like ipaddr.js does", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, bits) => {
        expect(parseV4Cidr(`${ip}/${bits}`)).toEqual([ipaddr.IPv4.parse(ip).toByteArray().reduce((n, b) => n * 256 + b, 0), bits]);
      }),
    );
  });

  it("accepts exactly four decimal parts of 0 to 255 without leading zeros, and a prefix of 0 to 32", () => {
    // A reference written from the rule, not from the parser: a regular expression, then the bounds.
    const reference = (text: string): [number, number] | undefined => {
      const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(text);
      if (!match) return undefined;
      const numbers = match.slice(1).filter((part) => part !== undefined);
      if (numbers.some((part) => part.length > 1 && part.startsWith("0"))) return undefined;
      const [a, b, c, d, prefix = 32] = numbers.map(Number) as [number, number, number, number, number?];
      if ([a, b, c, d].some((octet) => octet > 255) || prefix > 32) return undefined;
      return [((a * 256 + b) * 256 + c) * 256 + d, prefix];
    };
    const near = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 40 })).chain(([ip, bits]) =>
      fc.tuple(fc.constant(`${ip}/${bits}`), fc.nat(), fc.constantFrom("", "0", "1", "9", "00", ".", "/", " ", ":", "a", "256", "1000")).map(([text, at, insert]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i);
      }),
    );
    const noise = fc.string({ unit: fc.constantFrom("0", "1", "2", "5", "9", ".", "/", "3", " "), maxLength: 24 });
    fc.assert(
      fc.property(fc.oneof(near, noise, fc.ipV4()), (text) => {
        expect(parseV4Cidr(text), text).toEqual(reference(text));
      }),
      { numRuns: 500 },
    );
    for (const text of ["0.0.0.0", "255.255.255.255/32", "1.2.3.4/0", "1.2.3.4/07", "1.2.3.4/320", "1.2.3.04", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4/3a", "1.2.3.4:8", "1.2.3.4 8", "1 2 3 4"]) {
      expect(parseV4Cidr(text), text).toEqual(reference(text));
    }
  });

  it("agrees with a linear scan over ipaddr.js ranges", () => {
    const cidrV4 = fc.tuple(fc.ipV4(), fc.integer({ min: 8, max: 32 })).map(([ip, bits]) => `${ip}/${bits}`);
    const cidrV6 = fc.tuple(fc.ipV6(), fc.integer({ min: 16, max: 128 })).map(([ip, bits]) => `${ip}/${bits}`);
    fc.assert(
      fc.property(fc.array(fc.oneof(cidrV4, cidrV6), { maxLength: 40 }), fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 40 }), (cidrs, probes) => {
        const set = setOf(...cidrs);
        // Palisade reads an IPv4-mapped IPv6 address as the IPv4 address (src/domain/client-address.ts).
        const ranges = cidrs.map((cidr) => {
          const [range, bits] = ipaddr.parseCIDR(cidr);
          return range.kind() === "ipv6" && (range as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96
            ? ([(range as ipaddr.IPv6).toIPv4Address(), bits - 96] as const)
            : ([range, bits] as const);
        });
        const candidates = [...probes, ...cidrs.map((cidr) => cidr.split("/")[0]!)];
        for (const probe of candidates) {
          const raw = ipaddr.parse(probe);
          const parsed = raw.kind() === "ipv6" && (raw as ipaddr.IPv6).isIPv4MappedAddress() ? (raw as ipaddr.IPv6).toIPv4Address() : raw;
          const linear = ranges.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
          expect(set.has(parsed), probe).toBe(linear);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("RangeSet's edges", () => {
  it("counts and sizes what it holds", () => {
    const set = setOf("10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32");
    expect(set.size).toBe(3);
    // Two 4-byte words per IPv4 interval, two 16-byte addresses per IPv6 one.
    expect(set.bytes).toBe(2 * 2 * 4 + 2 * 16);
    expect(RangeSet.EMPTY.size).toBe(0);
    expect(RangeSet.EMPTY.bytes).toBe(0);
  });

  it("hands its arrays to another thread and is rebuilt from them, refusing anything else", () => {
    const set = setOf("192.0.2.0/24", "2001:db8::/48");
    const rebuilt = RangeSet.fromArrays(set.toArrays());
    expect(rebuilt.has(address("192.0.2.9"))).toBe(true);
    expect(rebuilt.has(address("2001:db8::9"))).toBe(true);
    expect(rebuilt.has(address("2001:db9::"))).toBe(false);
    const [a, b, c, d] = set.toArrays();
    for (const arrays of [[a, b, c], [a, b, c, d, d], [a, new Uint32Array(2), c, d], [a, b, c, new Uint32Array(3)], [a, b, new Uint32Array(3), new Uint32Array(3)], [a, b, c, [0, 0, 0, 0]]]) {
      expect(() => RangeSet.fromArrays(arrays), String(arrays.length)).toThrow(new TypeError("not the arrays of a RangeSet"));
    }
  });

  it("takes an IPv4-mapped IPv6 range as the IPv4 range it is", () => {
    const set = setOf("::ffff:192.0.2.0/120");
    expect(set.has(address("192.0.2.200"))).toBe(true);
    expect(set.has(address("192.0.3.0"))).toBe(false);
    // Wider than the mapped space, it stays an IPv6 range.
    const wide = setOf("::ffff:0:0/95");
    expect(wide.has(address("::fffe:1:2"))).toBe(true);
    expect(wide.has(address("::fffd:1:2"))).toBe(false);
  });

  it("keeps every range past its first thousand", () => {
    const builder = RangeSet.builder();
    for (let i = 0; i < 3000; i += 2) builder.addText(`10.${i >> 8}.${i & 255}.0/24`);
    expect(builder.count).toBe(1500);
    const set = builder.build();
    expect(set.size).toBe(1500);
    expect(set.has(address("10.11.182.1"))).toBe(true);
    expect(set.has(address("10.11.183.1"))).toBe(false);
  });

  it("merges IPv6 ranges that touch across a word boundary, and not ones a single address apart", () => {
    expect(setOf("2001:db8::/64", "2001:db8:0:1::/64").size).toBe(1);
    expect(setOf("2001:db8::/64", "2001:db8:0:2::/64").size).toBe(2);
    expect(setOf("2001:db8::ffff:ffff/128", "2001:db8::1:0:0/128").size).toBe(1);
    expect(setOf("::/1", "8000::/1").size).toBe(1);
    expect(setOf("2001:db8::/48", "2001:db8::5/128").size).toBe(1);
    expect(setOf("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::").size).toBe(2);
  });

  it("answers at both ends of an IPv6 interval and beside them", () => {
    const set = setOf("2001:db8::10/124", "2001:db8::100/120");
    for (const inside of ["2001:db8::10", "2001:db8::1f", "2001:db8::100", "2001:db8::1ff"]) expect(set.has(address(inside)), inside).toBe(true);
    for (const outside of ["2001:db8::f", "2001:db8::20", "2001:db8::ff", "2001:db8::200", "::"]) expect(set.has(address(outside)), outside).toBe(false);
  });
});

describe("parseFeed", () => {
  it("reads plain lists and FireHOL netsets with comments and a second column", () => {
    const text = "# FireHOL netset\n#\n1.2.3.0/24\n\n5.6.7.8   # a comment\n2001:db8::/32 1234\r\n";
    const feed = parseFeed(text, { format: "netset" });
    expect(feed.entries).toBe(3);
    expect(feed.set.has(address("1.2.3.9"))).toBe(true);
    expect(feed.set.has(address("5.6.7.8"))).toBe(true);
    expect(feed.set.has(address("2001:db8:1::1"))).toBe(true);
  });

  it("reads Spamhaus DROP text and JSON lines", () => {
    const text = "; Spamhaus DROP List\n; Last-Modified: whenever\n1.10.16.0/20 ; SBL256894\n1.19.0.0/16 ; SBL434604\n";
    expect(parseFeed(text, { format: "spamhaus" }).entries).toBe(2);
    const json = '{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}\n{"cidr":"2001:db8::/32","sblid":"SBL1"}\n{"type":"metadata","timestamp":1,"size":2,"records":2}\n';
    const feed = parseFeed(json, { format: "spamhaus" });
    expect(feed.entries).toBe(2);
    expect(feed.set.has(address("1.10.31.255"))).toBe(true);
  });

  it("reads a CSV column by name or number, with quoted cells", () => {
    const text = 'id,source,ip,reason\n1,crowdsec,"192.0.2.1",ssh-bf\n2,crowdsec,198.51.100.0/24,"http, probing"\n';
    expect(parseFeed(text, { format: "csv", column: "ip" }).entries).toBe(2);
    const numbered = parseFeed(text, { format: "csv", column: 3 });
    expect(numbered.entries).toBe(2);
    expect(numbered.set.has(address("198.51.100.77"))).toBe(true);
    expect(() => parseFeed(text, { format: "csv", column: "address" })).toThrow(FeedFormatError);
  });

  it("tolerates a few bad lines and reports their numbers, not their contents", () => {
    const lines = ["192.0.2.1", ...Array.from({ length: 20 }, (_, i) => `10.0.${i}.0/24`), "not-an-ip"];
    const feed = parseFeed(lines.join("\n"), { format: "plain" });
    expect(feed).toMatchObject({ entries: 21, invalid: 1, invalidLines: [22] });
  });

  it("rejects something that is not a list at all (an HTML error page)", () => {
    expect(() => parseFeed("<html>\n<body>503 Service Unavailable</body>\n</html>\n", { format: "plain" })).toThrow(FeedFormatError);
    expect(() => parseFeed("1.2.3.4\n<html>\n<body>\n</body>\n</html>", { format: "plain" })).toThrow(/lines are not addresses/);
  });

  it("reads the JSON range files crawler and cloud operators publish", () => {
    const google = JSON.stringify({ creationTime: "x", prefixes: [{ ipv4Prefix: "66.249.64.0/27" }, { ipv6Prefix: "2001:4860:4801:10::/64" }] });
    expect(parseFeed(google, { format: "json" }).entries).toBe(2);
    const cloud = JSON.stringify({ prefixes: [{ ip_prefix: "3.5.140.0/22", region: "x" }], ipv6_prefixes: [{ ipv6_prefix: "2600:1f14::/35" }] });
    const feed = parseFeed(cloud, { format: "json" });
    expect(feed.set.has(address("3.5.141.1"))).toBe(true);
    expect(feed.set.has(address("2600:1f14::1"))).toBe(true);
    expect(parseFeed('["192.0.2.0/24", "198.51.100.7"]', { format: "json" }).entries).toBe(2);
    expect(() => parseFeed("<html>", { format: "json" })).toThrow(FeedFormatError);
    expect(() => parseFeed('{"prefixes": [{"ipv4Prefix": "nonsense"}]}', { format: "json" })).toThrow(FeedFormatError);
  });

  it("accepts an empty feed as an empty list", () => {
    expect(parseFeed("# nothing listed today\n", { format: "plain" }).entries).toBe(0);
  });
});
