import { describe, expect, it } from "vitest";
import { parseAddress, type ParsedAddress } from "../domain/client-address.js";
import { listsContaining, parseCidr, rangesContain, type CidrList, type FeedLookup } from "./cidr-lists.js";
import { RangeSet } from "./range-set.js";

/**
 * CIDR text as bots' ranges are written, and which lists an address is on: the inline and file
 * ranges of each list, and the feeds the service loaded for it.
 */

const address = (text: string): ParsedAddress => parseAddress(text)!;

function list(name: string, cidrs: string[], options: Partial<CidrList> = {}): CidrList {
  const builder = RangeSet.builder();
  for (const cidr of cidrs) builder.addText(cidr);
  return { name, effect: "block", weight: 0, set: builder.build(), entries: cidrs.length, feeds: [], ...options };
}

describe("parseCidr", () => {
  it("reads a range with its prefix length", () => {
    const [range, bits] = parseCidr("192.0.2.0/24")!;
    expect(range.toString()).toBe("192.0.2.0");
    expect(bits).toBe(24);
    const [v6, v6bits] = parseCidr("2001:db8::/32")!;
    expect(v6.kind()).toBe("ipv6");
    expect(v6bits).toBe(32);
  });

  it("takes a bare address as a single-address range of its family", () => {
    expect(parseCidr("192.0.2.7")?.[1]).toBe(32);
    expect(parseCidr("2001:db8::7")?.[1]).toBe(128);
    expect(parseCidr("192.0.2.7")?.[0].toString()).toBe("192.0.2.7");
  });

  it("ignores the spaces around the text", () => {
    expect(parseCidr("  198.51.100.0/25 \n")?.[1]).toBe(25);
    expect(parseCidr(" 198.51.100.9 ")?.[1]).toBe(32);
  });

  it("answers undefined for what is not an address or range, without throwing", () => {
    for (const text of ["", "example.com", "192.0.2.0/33", "192.0.2.0/", "300.1.1.1", "2001:db8::/129", "/24"]) {
      expect(parseCidr(text), text).toBeUndefined();
    }
  });
});

describe("rangesContain", () => {
  const ranges = ["192.0.2.0/24", "2001:db8:1::/48"].map((text) => parseCidr(text)!);

  it("matches an address inside a range of its own family", () => {
    expect(rangesContain(ranges, address("192.0.2.200"))).toBe(true);
    expect(rangesContain(ranges, address("2001:db8:1:ffff::1"))).toBe(true);
  });

  it("does not match outside the ranges", () => {
    expect(rangesContain(ranges, address("192.0.3.1"))).toBe(false);
    expect(rangesContain(ranges, address("2001:db8:2::1"))).toBe(false);
    expect(rangesContain([], address("192.0.2.1"))).toBe(false);
  });

  it("never compares an address with a range of the other family", () => {
    // ipaddr.js throws when asked to match across families: the family check keeps that away.
    expect(rangesContain([parseCidr("::/0")!], address("192.0.2.1"))).toBe(false);
    expect(rangesContain([parseCidr("0.0.0.0/0")!], address("2001:db8::1"))).toBe(false);
  });
});

describe("listsContaining", () => {
  const partners = list("partners", ["203.0.113.0/24"], { effect: "allow", weight: 0 });
  const drop = list("drop", ["203.0.113.7", "198.51.100.0/24"], { effect: "block", weight: 80 });
  const tor = list("tor", [], { effect: "label", weight: 15, feeds: [{ source: "tor.txt", format: "plain", refreshMs: 3_600_000 }] });

  it("names every list holding the address, with its effect and weight, in list order", () => {
    expect(listsContaining([partners, drop, tor], address("203.0.113.7"))).toEqual([
      { name: "partners", effect: "allow", weight: 0 },
      { name: "drop", effect: "block", weight: 80 },
    ]);
    expect(listsContaining([partners, drop], address("198.51.100.1"))).toEqual([{ name: "drop", effect: "block", weight: 80 }]);
  });

  it("is empty for an address on no list, and for a request without a usable address", () => {
    expect(listsContaining([partners, drop], address("192.0.2.1"))).toEqual([]);
    expect(listsContaining([partners, drop], undefined)).toEqual([]);
  });

  it("asks the loaded feeds only about lists that have feeds, by list name", () => {
    const asked: string[] = [];
    const feeds: FeedLookup = {
      has(name, parsed) {
        asked.push(`${name} ${parsed.ip}`);
        return name === "tor";
      },
    };
    expect(listsContaining([partners, drop, tor], address("192.0.2.1"), feeds)).toEqual([{ name: "tor", effect: "label", weight: 15 }]);
    expect(asked).toEqual(["tor 192.0.2.1"]);
  });

  it("does not ask the feeds when the list's own ranges already hold the address", () => {
    const both = list("both", ["192.0.2.0/24"], { feeds: tor.feeds });
    const feeds: FeedLookup = { has: () => expect.unreachable("the feeds were asked") };
    expect(listsContaining([both], address("192.0.2.1"), feeds)).toEqual([{ name: "both", effect: "block", weight: 0 }]);
  });

  it("leaves a feed-only list out when no feeds are loaded, or they do not hold the address", () => {
    expect(listsContaining([tor], address("192.0.2.1"))).toEqual([]);
    expect(listsContaining([tor], address("192.0.2.1"), { has: () => false })).toEqual([]);
  });
});
