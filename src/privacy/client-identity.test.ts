import { describe, expect, it } from "vitest";
import { parseAddress } from "../domain/client-address.js";
import { clientIdentity } from "./client-identity.js";
import { HmacPseudonymiser } from "./pseudonymiser.js";

const pseudonymiser = new HmacPseudonymiser({ current: Buffer.alloc(32, 3) });
const prefixes = { subnetPrefixV4: 24, subnetPrefixV6: 48 };

describe("clientIdentity", () => {
  it("gives one identity to one client however its address and username are spelled", () => {
    const a = clientIdentity({ address: parseAddress("203.0.113.7"), username: "Alice" }, prefixes, pseudonymiser);
    const b = clientIdentity({ address: parseAddress("[::ffff:203.0.113.7]:443"), username: " ＡＬＩＣＥ " }, prefixes, pseudonymiser);
    expect(b).toEqual(a);
    expect(a.subnet).toBe("203.0.113.0/24");
    expect(a.ipId).not.toContain("203.0.113.7");
    expect(a.usernameId).not.toMatch(/alice/i);
  });

  it("leaves out what it was not given, and an empty username is none", () => {
    expect(clientIdentity({ username: "  " }, prefixes, pseudonymiser)).toEqual({ ipId: undefined, subnet: undefined, usernameId: undefined });
    expect(clientIdentity({ address: parseAddress("2001:db8:1:2::9") }, prefixes, pseudonymiser).subnet).toBe("2001:db8:1::/48");
  });
});
