import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { FeedFormatError, parseFeed } from "./feed-formats.js";

/**
 * The edges of the feed formats that test/policy/range-set.test.ts's tour leaves out: how many
 * bad lines a feed may hold and how they are reported, CSV headers and quoting, the line
 * formats' comment rules, and how deep a JSON document is searched.
 */

const has = (feed: { set: { has(address: ipaddr.IPv4 | ipaddr.IPv6): boolean } }, text: string) => feed.set.has(ipaddr.parse(text));
const lines = (count: number, make: (i: number) => string) => Array.from({ length: count }, (_, i) => make(i));

describe("bad lines", () => {
  it("accepts up to one line in ten that is not an address, and refuses more", () => {
    const nine = [...lines(9, (i) => `10.0.${i}.0/24`), "junk"].join("\n");
    expect(parseFeed(nine, { format: "plain" })).toMatchObject({ entries: 9, invalid: 1, invalidLines: [10] });
    const eight = [...lines(8, (i) => `10.0.${i}.0/24`), "junk", "junk"].join("\n");
    expect(() => parseFeed(eight, { format: "plain" })).toThrow(new FeedFormatError("2 of 10 lines are not addresses or CIDRs (first: 9, 10); is the format right?"));
  });

  it("keeps the numbers of the first five bad lines only", () => {
    const text = [...lines(100, (i) => `10.${i}.0.0/16`), ...lines(7, () => "junk")].join("\n");
    expect(parseFeed(text, { format: "plain" })).toMatchObject({ entries: 100, invalid: 7, invalidLines: [101, 102, 103, 104, 105] });
  });

  it("names the first bad lines of a feed without a single address", () => {
    expect(() => parseFeed("\n<html>\n\n<p>gone</p>\n", { format: "plain" })).toThrow(new FeedFormatError("no address or CIDR on any line (first bad lines: 2, 4)"));
  });

  it("counts an empty text as an empty list", () => {
    expect(parseFeed("", { format: "plain" })).toMatchObject({ entries: 0, invalid: 0, invalidLines: [] });
    expect(parseFeed("", { format: "csv", column: "ip" }).entries).toBe(0);
  });
});

describe("line formats", () => {
  it("reads a ';' as part of a plain line but as a comment in Spamhaus text", () => {
    expect(() => parseFeed("192.0.2.0/24;SBL1\n", { format: "plain" })).toThrow(FeedFormatError);
    const feed = parseFeed("192.0.2.0/24;SBL1\n  198.51.100.0/24 ; SBL2 # note\n", { format: "spamhaus" });
    expect(feed.entries).toBe(2);
    expect(has(feed, "198.51.100.200")).toBe(true);
  });

  it("takes the first word of a line, before a tab or spaces", () => {
    const feed = parseFeed("192.0.2.0/24\t2024-01-01\n  198.51.100.7   42  \n", { format: "plain" });
    expect(feed.entries).toBe(2);
    expect(has(feed, "198.51.100.7")).toBe(true);
  });

  it("counts a Spamhaus JSON line that does not parse as a bad line", () => {
    const text = [...lines(10, (i) => JSON.stringify({ cidr: `10.${i}.0.0/16`, sblid: `SBL${i}` })), '{"cidr": "10.99.0.0/16"'].join("\n");
    expect(parseFeed(text, { format: "spamhaus" })).toMatchObject({ entries: 10, invalid: 1, invalidLines: [11] });
  });

  it("skips a Spamhaus JSON line whose cidr is not a string", () => {
    expect(parseFeed('{"cidr": 7}\n{"cidr": "192.0.2.0/24"}\n', { format: "spamhaus" })).toMatchObject({ entries: 1, invalid: 0 });
  });
});

describe("csv", () => {
  it("takes the first column when none is named, and a first line that is not an address as the header", () => {
    const feed = parseFeed("address,added\n192.0.2.1,2024\n198.51.100.0/24,2025\n", { format: "csv" });
    expect(feed).toMatchObject({ entries: 2, invalid: 0 });
  });

  it("counts a later line that is not an address as bad, not as a header", () => {
    const text = ["ip", ...lines(10, (i) => `10.0.${i}.1`), "unknown"].join("\n");
    expect(parseFeed(text, { format: "csv", column: "1" })).toMatchObject({ entries: 10, invalid: 1, invalidLines: [12] });
  });

  it("skips comment lines and blank cells before the header", () => {
    const feed = parseFeed("# exported\n\nIP , note\n192.0.2.1,\n,no address\n", { format: "csv", column: " ip " });
    expect(feed).toMatchObject({ entries: 1, invalid: 0 });
  });

  it("names a header without the column", () => {
    expect(() => parseFeed("addr,note\n192.0.2.1,x\n", { format: "csv", column: "ip" })).toThrow(new FeedFormatError('the header has no column "ip"'));
  });

  it("unquotes cells, doubled quotes included, and keeps quoted commas in their cell", () => {
    const text = 'note,ip\n"say ""hi"", then go","192.0.2.9"\n"a,b",198.51.100.1\n';
    const feed = parseFeed(text, { format: "csv", column: "ip" });
    expect(feed).toMatchObject({ entries: 2, invalid: 0 });
    expect(has(feed, "192.0.2.9")).toBe(true);
    expect(has(feed, "198.51.100.1")).toBe(true);
  });

  it("reads a missing cell as nothing", () => {
    expect(parseFeed("192.0.2.1\n198.51.100.1,192.0.2.7\n", { format: "csv", column: 2 })).toMatchObject({ entries: 1, invalid: 0 });
  });
});

describe("json", () => {
  it("matches the prefix keys in any case, trims values and ignores other types", () => {
    const document = { Prefixes: [{ IPv4Prefix: " 192.0.2.0/24 " }, { CIDR: "198.51.100.0/24" }, { prefix: 7 }, { ipv6prefix: null }] };
    const feed = parseFeed(JSON.stringify(document), { format: "json" });
    expect(feed).toMatchObject({ entries: 2, invalid: 0, invalidLines: [] });
    expect(has(feed, "192.0.2.1")).toBe(true);
  });

  it("reads nested arrays, and no deeper than sixteen levels", () => {
    let deep: unknown = { cidr: "192.0.2.0/24" };
    for (let i = 0; i < 16; i++) deep = { next: deep };
    expect(parseFeed(JSON.stringify(deep), { format: "json" }).entries).toBe(1);
    expect(parseFeed(JSON.stringify({ wrap: deep }), { format: "json" }).entries).toBe(0);
    expect(parseFeed(JSON.stringify([["192.0.2.0/24"], [{ cidr: "198.51.100.0/24" }]]), { format: "json" }).entries).toBe(2);
  });

  it("names bad prefixes by count", () => {
    expect(() => parseFeed(JSON.stringify(["192.0.2.0/24", "x", "y"]), { format: "json" })).toThrow(new FeedFormatError("2 of 3 prefixes are not addresses or CIDRs"));
    expect(() => parseFeed("{", { format: "json" })).toThrow(new FeedFormatError("not a JSON document"));
    expect(parseFeed("null", { format: "json" }).entries).toBe(0);
  });
});
