import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { parseAddress } from "./client-address.js";

/** What ipaddr.js itself makes of a candidate IPv4 text: its canonical form, or nothing. */
const byIpaddr = (text: string) => (ipaddr.IPv4.isValid(text) ? ipaddr.IPv4.parse(text).toString() : undefined);

describe("parseAddress", () => {
  it("reads dotted quads as ipaddr.js does, leading zeros (octal to it), out-of-range octets and short forms included", () => {
    const texts = ["203.0.113.7", "0.0.0.0", "255.255.255.255", "010.1.1.1", "1.2.3.04", "00.1.2.3", "1.2.3.256", "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", "0x7f.0.0.1", "4294967295", "1.2.3.999999"];
    // And every text of up to eight characters over digits and dots that a generator walks through.
    const alphabet = ["0", "1", "2", "5", "9", "."];
    for (let n = 0; n < 20_000; n++) {
      let text = "";
      for (let rest = n; text.length < 8 && (text === "" || rest > 0); rest = Math.floor(rest / alphabet.length)) text += alphabet[rest % alphabet.length];
      texts.push(text, `1.${text}`, `${text}.9`);
    }
    const differing = texts.filter((text) => parseAddress(text)?.ip !== byIpaddr(text.trim()));
    expect(differing).toEqual([]);
  });

  it("gives a hand-read quad a working ipaddr.js address", () => {
    const parsed = parseAddress("198.51.100.23")!;
    expect(parsed.address.kind()).toBe("ipv4");
    expect(parsed.address.toString()).toBe("198.51.100.23");
    expect(parsed.address.match(ipaddr.parseCIDR("198.51.100.0/24"))).toBe(true);
  });

  it("still unwraps brackets, ports, IPv4-mapped IPv6 and zone ids", () => {
    expect(parseAddress("203.0.113.7:443")?.ip).toBe("203.0.113.7");
    expect(parseAddress(" [::ffff:203.0.113.7]:443 ")?.ip).toBe("203.0.113.7");
    expect(parseAddress("fe80::1%eth0")?.ip).toBe("fe80::1");
    expect(parseAddress("garbage")).toBeUndefined();
  });
});
