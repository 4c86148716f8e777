import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { minimalPolicy } from "../../test/support/policies.js";
import type { GeoLookup } from "../domain/geo.js";
import type { HttpAttributes } from "../domain/request.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { clientAddressOf, clientSubnet, normalise, type NormaliseContext } from "./normalise.js";

/**
 * What normalise.test.ts and normalise-edges.test.ts left unchecked (normalise.ts scored 70.2%
 * under mutation): which headers make up the fingerprint source, where the client address comes
 * from when the configured source is missing or malformed, and the fields read from a body,
 * a header or a cookie, with the limits on each attribute.
 */

const NOW = Date.UTC(2026, 10, 24, 12);
const pseudonymiser = new HmacPseudonymiser({ current: Buffer.alloc(32, 5) });
const context = (policy = minimalPolicy(), extra: Partial<NormaliseContext> = {}): NormaliseContext => ({
  policy,
  pseudonymiser,
  eventTime: { maxSkewMs: 60_000, trust: false },
  nowMs: NOW,
  ...extra,
});
const request = (overrides: Partial<HttpAttributes> = {}, ctx = context()) =>
  normalise({ method: "GET", path: "/", headers: new Map(), ...overrides }, ctx).request;
const headers = (entries: Record<string, string>) => new Map(Object.entries(entries));
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe("normalise: the fingerprint source", () => {
  const fingerprint = (entries: Record<string, string>, ctx = context()) => request({ headers: headers(entries) }, ctx).fingerprintId;

  it("is the user agent, accept and accept-language headers by default, each one counting", () => {
    const base = { "user-agent": "UA/1", accept: "text/html", "accept-language": "en" };
    const id = fingerprint(base);
    expect(id).toBe(pseudonymiser.pseudonymise("fingerprint", "UA/1\u0000text/html\u0000en"));
    expect(fingerprint({ ...base, "user-agent": "UA/2" })).not.toBe(id);
    expect(fingerprint({ ...base, accept: "*/*" })).not.toBe(id);
    expect(fingerprint({ ...base, "accept-language": "de" })).not.toBe(id);
    // Headers outside the list do not move it.
    expect(fingerprint({ ...base, referer: "https://shop.example/" })).toBe(id);
  });

  it("keeps each header in its place, so a value moved to another header is another fingerprint", () => {
    expect(fingerprint({ "user-agent": "x" })).toBe(pseudonymiser.pseudonymise("fingerprint", "x\u0000\u0000"));
    expect(fingerprint({ accept: "x" })).toBe(pseudonymiser.pseudonymise("fingerprint", "\u0000x\u0000"));
    expect(fingerprint({ "user-agent": "x" })).not.toBe(fingerprint({ accept: "x" }));
  });

  it("is absent when none of the headers is there, or all are empty", () => {
    expect(fingerprint({})).toBeUndefined();
    expect(fingerprint({ "user-agent": "", accept: "" })).toBeUndefined();
    expect(fingerprint({ referer: "https://shop.example/" })).toBeUndefined();
  });

  it("takes the policy's header list and the TLS fingerprint header, which alone is enough", () => {
    const policy = minimalPolicy({ fingerprint: { headers: ["x-client"], tlsHeader: "x-ja4" } });
    const ctx = context(policy);
    expect(fingerprint({ "user-agent": "UA/1" }, ctx)).toBeUndefined();
    expect(fingerprint({ "x-client": "app" }, ctx)).toBe(pseudonymiser.pseudonymise("fingerprint", "app\u0000"));
    expect(fingerprint({ "x-ja4": "t13d" }, ctx)).toBe(pseudonymiser.pseudonymise("fingerprint", "\u0000t13d"));
    expect(fingerprint({ "x-client": "app", "x-ja4": "t13d" }, ctx)).toBe(pseudonymiser.pseudonymise("fingerprint", "app\u0000t13d"));
  });

  it("records the TLS fingerprint only when the policy names its header, cut to 128 characters", () => {
    const ctx = context(minimalPolicy({ fingerprint: { tlsHeader: "x-ja4" } }));
    expect(request({ headers: headers({ "x-ja4": "t13d" }) }, ctx).tlsFingerprint).toBe("t13d");
    expect(request({ headers: headers({ "x-ja4": "t".repeat(200) }) }, ctx).tlsFingerprint).toHaveLength(128);
    expect(request({ headers: headers({}) }, ctx).tlsFingerprint).toBeUndefined();
    expect(request({ headers: headers({ "x-ja4": "t13d" }) }).tlsFingerprint).toBeUndefined();
  });
});

describe("normalise: the client address", () => {
  const xff = (trustedHops = 0) => context(minimalPolicy({ client: { ipSource: "x-forwarded-for", trustedHops } }));

  it("takes the rightmost X-Forwarded-For entry with no trusted hops, skipping empty entries", () => {
    expect(request({ headers: headers({ "x-forwarded-for": "198.51.100.1, 203.0.113.9" }) }, xff()).clientIp).toBe("203.0.113.9");
    const blanks = request({ headers: headers({ "x-forwarded-for": "198.51.100.1, 203.0.113.9, ,," }) }, xff());
    expect(blanks.clientIp).toBe("203.0.113.9");
    expect(blanks.anomalies).not.toContain("client_address_missing");
    expect(request({ headers: headers({ "x-forwarded-for": "198.51.100.1, 203.0.113.9, 10.0.0.1" }) }, xff(1)).clientIp).toBe("203.0.113.9");
  });

  it("falls back to the peer when the header is absent or not an address, and flags it", () => {
    for (const value of [undefined, "", "unknown", "203.0.113.9, not-an-ip"]) {
      const got = request({ peerAddress: "192.0.2.7", headers: headers(value === undefined ? {} : { "x-forwarded-for": value }) }, xff());
      expect(got.clientIp, String(value)).toBe("192.0.2.7");
      expect(got.anomalies, String(value)).toEqual(["client_address_missing"]);
    }
  });

  it("flags both the missing header and the missing peer when neither names the client", () => {
    const got = request({ headers: headers({ "x-forwarded-for": "garbage" }) }, xff());
    expect(got.clientIp).toBeUndefined();
    expect(got.subnet).toBeUndefined();
    expect(got.anomalies).toEqual(["client_address_missing", "no_client_address"]);
  });

  it("reads x-envoy-external-address, falling back to the peer with a flag, and ignores X-Forwarded-For then", () => {
    const ctx = context(minimalPolicy({ client: { ipSource: "x-envoy-external-address" } }));
    const both = request({ peerAddress: "192.0.2.7", headers: headers({ "x-envoy-external-address": "203.0.113.5", "x-forwarded-for": "198.51.100.1" }) }, ctx);
    expect(both.clientIp).toBe("203.0.113.5");
    expect(both.anomalies).toEqual([]);
    const fallback = request({ peerAddress: "192.0.2.7", headers: headers({ "x-forwarded-for": "198.51.100.1" }) }, ctx);
    expect(fallback.clientIp).toBe("192.0.2.7");
    expect(fallback.anomalies).toEqual(["client_address_missing"]);
  });

  it("uses only the peer in peer mode: headers are ignored and a missing header is no anomaly", () => {
    const ctx = context(minimalPolicy({ client: { ipSource: "peer" } }));
    const got = request({ peerAddress: "192.0.2.7:5555", headers: headers({ "x-forwarded-for": "203.0.113.9", "x-envoy-external-address": "203.0.113.5" }) }, ctx);
    expect(got.clientIp).toBe("192.0.2.7");
    expect(got.anomalies).toEqual([]);
    expect(request({}, ctx).anomalies).toEqual(["no_client_address"]);
  });

  it("is the same address and network for the tools that tally clients", () => {
    const policy = minimalPolicy({ client: { ipSource: "x-forwarded-for", trustedHops: 1, subnetPrefixV4: 16 } });
    const attrs: HttpAttributes = { headers: headers({ "x-forwarded-for": "203.0.113.9, 10.0.0.1" }), peerAddress: "10.0.0.2" };
    expect(clientAddressOf(attrs, policy.client)?.ip).toBe("203.0.113.9");
    expect(clientSubnet(attrs, policy)).toBe("203.0.0.0/16");
    expect(clientSubnet({ headers: new Map() }, policy)).toBeUndefined();
  });
});

describe("normalise: fields from the body, headers and cookies", () => {
  const login = (identity: Record<string, unknown>, spec: Record<string, unknown> = {}) =>
    context(minimalPolicy({ endpoints: [{ name: "login", match: { methods: ["POST"], path: "/login" }, identity }], ...spec }));
  const post = (ctx: NormaliseContext, overrides: Partial<HttpAttributes> = {}) => request({ method: "POST", path: "/login", ...overrides }, ctx);
  const user = (name: string) => pseudonymiser.pseudonymise("username", name);

  it("follows a JSON pointer into nested objects and arrays, with ~1 and ~0 escapes", () => {
    const nested = login({ username: { jsonPointer: "/auth/users/1/name" } });
    expect(post(nested, { body: json({ auth: { users: [{ name: "x" }, { name: "carol" }] } }) }).usernameId).toBe(user("carol"));
    const escaped = login({ username: { jsonPointer: "/a~1b/c~0d" } });
    expect(post(escaped, { body: json({ "a/b": { "c~d": "dave" } }) }).usernameId).toBe(user("dave"));
  });

  it("takes strings and numbers, and nothing else or nothing missing", () => {
    const ctx = login({ username: { jsonPointer: "/user" } });
    expect(post(ctx, { body: json({ user: 12345 }) }).usernameId).toBe(user("12345"));
    for (const body of [{ user: true }, { user: null }, { user: { name: "x" } }, { user: ["x"] }, { other: "x" }, "user", 5, null]) {
      expect(post(ctx, { body: json(body) }).usernameId, JSON.stringify(body)).toBeUndefined();
    }
    const deep = login({ username: { jsonPointer: "/a/b" } });
    expect(post(deep, { body: json({ a: null }) }).usernameId).toBeUndefined();
    expect(post(deep, { body: json({ a: "text" }) }).usernameId).toBeUndefined();
    // Only the document's own keys: nothing inherited from Object.prototype.
    const inherited = login({ username: { jsonPointer: "/constructor/name" } });
    expect(post(inherited, { body: json({}) }).usernameId).toBeUndefined();
    // Array.prototype's own length (0) lies behind an inherited __proto__: not reachable either.
    const prototype = login({ username: { jsonPointer: "/a/__proto__/length" } });
    expect(post(prototype, { body: json({ a: [] }) }).usernameId).toBeUndefined();
  });

  it("reads a header field, an empty header being no value", () => {
    const ctx = login({ username: { header: "x-user" }, session: { header: "authorization" } });
    const got = post(ctx, { headers: headers({ "x-user": "erin", authorization: "Bearer t0k3n" }) });
    expect(got.usernameId).toBe(user("erin"));
    expect(got.sessionId).toBe(pseudonymiser.pseudonymise("session", "Bearer t0k3n"));
    const empty = post(ctx, { headers: headers({ "x-user": "", authorization: "" }) });
    expect(empty.usernameId).toBeUndefined();
    expect(empty.sessionId).toBeUndefined();
  });

  it("reads a form only when the content type says so, and a missing form field is no value", () => {
    const ctx = login({ username: { formField: "login" } });
    const form = headers({ "content-type": "application/x-www-form-urlencoded; charset=utf-8" });
    expect(post(ctx, { headers: form, body: new TextEncoder().encode("login=frank&x=1") }).usernameId).toBe(user("frank"));
    expect(post(ctx, { headers: form, body: new TextEncoder().encode("x=1") }).usernameId).toBeUndefined();
    // The same text without the content type is read as JSON, fails, and is flagged.
    const unflagged = post(ctx, { body: new TextEncoder().encode("login=frank") });
    expect(unflagged.usernameId).toBeUndefined();
    expect(unflagged.anomalies).toContain("body_unparsable");
    // A JSON body gives a form field nothing.
    expect(post(ctx, { body: json({ login: "frank" }) }).usernameId).toBeUndefined();
  });

  it("hashes the password with SHA-1 for the breach check, and keeps no password when there is none", () => {
    const ctx = login({ username: { jsonPointer: "/u" }, password: { jsonPointer: "/p" } });
    const got = post(ctx, { body: json({ u: "gina", p: "hunter2" }) });
    expect(got.passwordSha1).toBe(createHash("sha1").update("hunter2").digest("hex"));
    expect(JSON.stringify(got, (_k, v: unknown) => (v instanceof Map || v instanceof Set ? [...v] : v))).not.toContain("hunter2");
    expect(post(ctx, { body: json({ u: "gina" }) }).passwordSha1).toBeUndefined();
    expect(post(ctx, { body: json({ u: "gina", p: "" }) }).passwordSha1).toBeUndefined();
  });

  it("parses the body for an endpoint with only a session or only a password field", () => {
    const session = login({ session: { jsonPointer: "/refresh" } });
    expect(post(session, { body: json({ refresh: "r1" }) }).sessionId).toBe(pseudonymiser.pseudonymise("session", "r1"));
    expect(post(session, { body: new TextEncoder().encode("{") }).anomalies).toContain("body_unparsable");
    const password = login({ password: { jsonPointer: "/p" } });
    expect(post(password, { body: json({ p: "pw" }) }).passwordSha1).toBe(createHash("sha1").update("pw").digest("hex"));
  });

  it("leaves the body alone where the endpoint reads nothing from it, and outside any endpoint", () => {
    const nothing = login({});
    expect(post(nothing, { body: new TextEncoder().encode("{") }).anomalies).not.toContain("body_unparsable");
    expect(request({ method: "POST", path: "/elsewhere", body: new TextEncoder().encode("{") }).anomalies).not.toContain("body_unparsable");
  });

  it("takes an empty body as no body, and a body of exactly the limit as within it", () => {
    const ctx = login({ username: { jsonPointer: "/u" } }, { limits: { maxBodyBytes: 20 } });
    expect(post(ctx, { body: new Uint8Array(0) }).anomalies).toEqual(["client_address_missing", "no_client_address"]);
    const exact = json({ u: "h".repeat(12) }); // {"u":"hhhhhhhhhhhh"}: 20 bytes
    expect(exact.length).toBe(20);
    expect(post(ctx, { body: exact }).usernameId).toBe(user("h".repeat(12)));
    const over = post(ctx, { body: json({ u: "h".repeat(13) }) });
    expect(over.usernameId).toBeUndefined();
    expect(over.anomalies).toContain("body_too_large");
  });
});

describe("normalise: the other attributes", () => {
  it("takes a pass token only when the policy has a proof-of-work challenge, the header before the cookie", () => {
    const pow = context(minimalPolicy({ challenge: { proofOfWork: {} } }));
    const both = headers({ "x-palisade-pass": "from-header", cookie: "a=1; palisade_pass=from-cookie" });
    expect(request({ headers: both }, pow).passToken).toBe("from-header");
    expect(request({ headers: headers({ cookie: "a=1; palisade_pass=from-cookie" }) }, pow).passToken).toBe("from-cookie");
    expect(request({}, pow).passToken).toBeUndefined();
    expect(request({ headers: both }).passToken).toBeUndefined();
  });

  it("cuts the request id to 128 characters and the protocol to 32", () => {
    const got = request({ requestId: "r".repeat(300), protocol: "p".repeat(50) });
    expect(got.requestId).toHaveLength(128);
    expect(got.protocol).toHaveLength(32);
    expect(request({ requestId: "abc", protocol: "HTTP/2" })).toMatchObject({ requestId: "abc", protocol: "HTTP/2" });
  });

  it("takes the time as stamped up to exactly the allowed skew, and the clock for a time that is not a number", () => {
    expect(request({ timeMs: NOW - 60_000 }).timeMs).toBe(NOW - 60_000);
    expect(request({ timeMs: NOW + 60_000 }).anomalies).not.toContain("event_time_skewed");
    const ahead = request({ timeMs: NOW + 60_001 });
    expect(ahead.timeMs).toBe(NOW);
    expect(ahead.anomalies).toContain("event_time_skewed");
    for (const timeMs of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const got = request({ timeMs });
      expect(got.timeMs).toBe(NOW);
      expect(got.anomalies).not.toContain("event_time_skewed");
    }
  });

  it("adds what the GeoIP database knows, behind a country header, and survives a failing look-up", () => {
    const seen: string[] = [];
    const geo: GeoLookup = {
      lookup: (ip) => {
        seen.push(ip);
        if (ip === "192.0.2.66") throw new Error("corrupt record");
        return ip === "203.0.113.9"
          ? { country: "NZ", asn: 64500, asnOrganisation: "o".repeat(200), hosting: true, latitude: -41.3, longitude: 174.8 }
          : { hosting: false, latitude: 1, longitude: 2, accuracyKm: 50 };
      },
    };
    const policy = minimalPolicy({ client: { ipSource: "peer" }, signals: { geo: { countryHeader: "x-country" } } });
    const ctx = context(policy, { geo });
    const known = request({ peerAddress: "203.0.113.9" }, ctx);
    expect(known).toMatchObject({ country: "NZ", asn: 64500, hosting: true, location: { latitude: -41.3, longitude: 174.8, accuracyKm: 0 } });
    expect(known.asnOrganisation).toHaveLength(128);
    expect(request({ peerAddress: "203.0.113.9", headers: headers({ "x-country": "au" }) }, ctx).country).toBe("AU");
    const other = request({ peerAddress: "198.51.100.1" }, ctx);
    expect(other).toMatchObject({ hosting: false, location: { latitude: 1, longitude: 2, accuracyKm: 50 } });
    expect(other.country).toBeUndefined();
    const failed = request({ peerAddress: "192.0.2.66" }, ctx);
    expect(failed.anomalies).toEqual(["geoip_lookup_failed"]);
    expect(failed.hosting).toBeUndefined();
    expect(failed.location).toBeUndefined();
    // No address, no look-up.
    const before = seen.length;
    expect(request({}, ctx).hosting).toBeUndefined();
    expect(seen).toHaveLength(before);
  });

  it("has no location without both coordinates", () => {
    const geo: GeoLookup = { lookup: (ip) => (ip === "192.0.2.1" ? { hosting: false, latitude: 5 } : { hosting: false, longitude: 5 }) };
    const ctx = context(minimalPolicy({ client: { ipSource: "peer" } }), { geo });
    expect(request({ peerAddress: "192.0.2.1" }, ctx).location).toBeUndefined();
    expect(request({ peerAddress: "192.0.2.2" }, ctx).location).toBeUndefined();
  });

  it("shapes headers by the names the client chose, in order, leaving out what proxies add", () => {
    const shape = (names: string[]) => request({ headers: new Map(names.map((n) => [n, "v"])) }).headerShape;
    const browser = shape(["user-agent", "accept", "accept-language"]);
    expect(browser).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(shape(["accept", "user-agent", "accept-language"])).not.toBe(browser);
    const proxied = [":authority", ":path", "x-forwarded-for", "x-forwarded-proto", "x-envoy-attempt-count", "x-request-id", "x-b3-traceid", "traceparent", "tracestate", "x-real-ip", "via", "forwarded", "content-length"];
    expect(shape([...proxied.slice(0, 7), "user-agent", "accept", ...proxied.slice(7), "accept-language"])).toBe(browser);
    // Names that only start like a proxy's header are the client's own.
    expect(shape(["user-agent", "accept", "accept-language", "x-request-idx"])).not.toBe(browser);
    expect(shape(["user-agent", "accept", "accept-language", "vias"])).not.toBe(browser);
    // Only the first 64 of the client's names count.
    const many = Array.from({ length: 64 }, (_, i) => `h${i}`);
    expect(shape([...many, "extra"])).toBe(shape(many));
    expect(shape(many)).not.toBe(shape(many.slice(0, 63)));
  });

  it("gives a shape the SHA-1 of the client's names joined, whatever orders were seen before", () => {
    const shape = (names: string[]) => request({ headers: new Map(names.map((n) => [n, "v"])) }).headerShape;
    const digestOf = (names: string[]) => createHash("sha1").update(names.join(",")).digest("base64url").slice(0, 12);
    expect(shape(["user-agent", "x-forwarded-for", "accept", "cookie"])).toBe(digestOf(["user-agent", "accept", "cookie"]));
    // A prefix of an order seen before, and the same order again.
    expect(shape(["user-agent", "accept"])).toBe(digestOf(["user-agent", "accept"]));
    expect(shape(["user-agent", ":path", "accept", "cookie"])).toBe(digestOf(["user-agent", "accept", "cookie"]));
    expect(shape([])).toBe(digestOf([]));
    // Past the memory's bounds (a flood of invented names), shapes are still the digest.
    for (let i = 0; i < 20_000; i++) expect(shape([`x-invented-${i}`, "accept"])).toBe(digestOf([`x-invented-${i}`, "accept"]));
    expect(shape(["user-agent", "accept", "cookie"])).toBe(digestOf(["user-agent", "accept", "cookie"]));
  });
});
