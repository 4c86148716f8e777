import { describe, expect, it } from "vitest";
import { minimalPolicy } from "../../test/support/policies.js";
import { RECORDED_HEADERS_EXTENSION, type HttpAttributes } from "../domain/request.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { normalise, type NormaliseContext } from "./normalise.js";

/**
 * The edges of normalisation that normalise.test.ts left to chance (normalise.ts had 123
 * surviving mutants): paths' trailing slashes and fragments, host fallbacks, the country header,
 * header limits, and the headers an imported log recorded.
 */

const NOW = Date.UTC(2026, 10, 24, 12);
const policy = minimalPolicy({ limits: { maxHeaders: 3, maxHeaderBytes: 40 }, signals: { geo: { countryHeader: "x-geo-country" } } });
const context = (): NormaliseContext => ({ policy, pseudonymiser: new HmacPseudonymiser({ current: Buffer.alloc(32, 9) }), eventTime: { maxSkewMs: 60_000, trust: false }, nowMs: NOW });
const run = (overrides: Partial<HttpAttributes> = {}) => normalise({ method: "GET", path: "/", headers: new Map(), ...overrides }, context()).request;

describe("normalise, at the edges", () => {
  it("keeps a trailing slash after a segment, not on the root, and drops the fragment", () => {
    expect(run({ path: "/a/b/" }).path).toBe("/a/b/");
    expect(run({ path: "/a/b" }).path).toBe("/a/b");
    expect(run({ path: "/" }).path).toBe("/");
    expect(run({ path: "//" }).path).toBe("/");
    expect(run({ path: "/a/../" }).path).toBe("/");
    expect(run({ path: "/a/b?x=1&y=2#top" })).toMatchObject({ path: "/a/b", query: "x=1&y=2" });
    expect(run({ path: "/a#frag?notquery" })).toMatchObject({ path: "/a", query: "" });
    expect(run({ path: "/a/%7Euser/%2F" }).path).toBe("/a/~user/%2F");
  });

  it("cuts a path past 2,048 characters and says so, and keeps one at the limit", () => {
    const long = run({ path: `/${"a".repeat(3000)}` });
    expect(long.path).toHaveLength(2048);
    expect(long.target).toHaveLength(2048);
    expect(long.anomalies).toContain("path_too_long");
    const atLimit = run({ path: `/${"a".repeat(2047)}` });
    expect(atLimit.path).toHaveLength(2048);
    expect(atLimit.anomalies).not.toContain("path_too_long");
  });

  it("takes the host from the attributes, then :authority, then Host, cut to 256 characters, and the method upper-cased", () => {
    expect(run({ host: "a.example", headers: new Map([[":authority", "b.example"], ["host", "c.example"]]) }).host).toBe("a.example");
    expect(run({ headers: new Map([[":authority", "b.example"], ["host", "c.example"]]) }).host).toBe("b.example");
    expect(run({ headers: new Map([["host", "c.example"]]) }).host).toBe("c.example");
    expect(run({ host: "h".repeat(300) }).host).toHaveLength(256);
    expect(run().host).toBe("");
    expect(run({ method: "post" }).method).toBe("POST");
    expect(run({ method: undefined, headers: new Map([[":method", "put"]]) }).method).toBe("PUT");
    expect(run({ method: "X".repeat(40) }).method).toHaveLength(16);
  });

  it("reads the country header as two letters, whatever their case and spacing, and nothing else", () => {
    const country = (value: string) => run({ headers: new Map([["x-geo-country", value]]) }).country;
    expect(country("nz")).toBe("NZ");
    expect(country(" De ")).toBe("DE");
    expect(country("NZL")).toBeUndefined();
    expect(country("N")).toBeUndefined();
    expect(country("1Z")).toBeUndefined();
    expect(run().country).toBeUndefined();
  });

  it("keeps at most the policy's number and bytes of headers, lower-cased, and flags each excess", () => {
    const many = run({ headers: new Map([["A", "1"], ["B", "2"], ["C", "3"], ["D", "4"]]) });
    expect([...many.headers.keys()]).toEqual(["a", "b", "c"]);
    expect(many.anomalies).toContain("headers_too_many");
    const three = run({ headers: new Map([["a", "1"], ["b", "2"], ["c", "3"]]) });
    expect(three.anomalies).not.toContain("headers_too_many");
    const large = run({ headers: new Map([["a", "x".repeat(20)], ["b", "y".repeat(30)]]) });
    expect([...large.headers.keys()]).toEqual(["a"]);
    expect(large.anomalies).toContain("headers_too_large");
    // 40 bytes exactly (names and values) is within the limit.
    const exact = run({ headers: new Map([["a", "x".repeat(19)], ["b", "y".repeat(19)]]) });
    expect(exact.anomalies).not.toContain("headers_too_large");
    expect([...exact.headers.keys()]).toEqual(["a", "b"]);
  });

  it("knows which headers an imported log recorded, and that a live request recorded them all", () => {
    const imported = run({ contextExtensions: new Map([[RECORDED_HEADERS_EXTENSION, " User-Agent, referer ,,"]]) });
    expect(imported.recordedHeaders).toEqual(new Set(["user-agent", "referer"]));
    expect(run().recordedHeaders).toBeUndefined();
  });
});
