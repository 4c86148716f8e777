import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { fromProtoJson } from "../../src/lab/proto-json.js";
import { parseScenarioSet, ScenarioError } from "../../src/lab/simulate/scenario.js";
import { simulate } from "../../src/lab/simulate/simulate.js";
import type { LabLine } from "../../src/lab/lines.js";
import { toHttpAttributes } from "../../src/transport/grpc/authz/converter.js";
import type { CheckRequest } from "../../src/transport/grpc/protos.js";

const SMALL = `
site: { users: 200, products: 100 }
legit: { sessionsPerMinute: 30, corporateNats: 2 }
scenarios:
  - name: mixed
    duration: 2m
    spike: { at: 30s, duration: 30s, factor: 3 }
    attacks:
      - { kind: credential_stuffing, duration: 1m, rate: 3, hitRate: 0.2, knownUserShare: 1, takeover: { delay: 10s, pages: 2 } }
      - { kind: credential_stuffing, duration: 1m, rate: 2, sources: 50, pool: residential, client: browser, endpoint: token }
      - { kind: scraping, duration: 1m, rate: 3 }
      - { kind: vulnerability_scan, duration: 30s, rate: 2 }
`;

const lines = (seed?: number) => [...simulate(parseScenarioSet(SMALL, "small.yaml"), seed)];
const text = (all: LabLine[]) => all.map((line) => JSON.stringify(line)).join("\n");

describe("simulate", () => {
  it("gives the same bytes for the same seed and different traffic for another", () => {
    expect(text(lines(7))).toBe(text(lines(7)));
    expect(text(lines(8))).not.toBe(text(lines(7)));
  });

  it("writes lines in event-time order, each with its scenario and label", () => {
    const all = lines();
    const times = all.map((line) => Date.parse(line.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(all.map((line) => line.label))).toEqual(
      new Set(["legit", "attack:credential_stuffing", "attack:account_takeover", "attack:scraping", "attack:vulnerability_scan"]),
    );
    expect(all.every((line) => line.scenario === "mixed")).toBe(true);
  });

  it("writes CheckRequests and access-log entries in strict proto3 JSON, joined by request id", () => {
    const all = lines();
    const checks = all.filter((line) => line.type === "check").map((line) => fromProtoJson("envoy.service.auth.v3.CheckRequest", line.checkRequest));
    const logs = all.filter((line) => line.type === "access_log").map((line) => fromProtoJson("envoy.data.accesslog.v3.HTTPAccessLogEntry", line.httpAccessLogEntry) as any);
    expect(checks.length).toBe(logs.length);
    const ids = new Set(checks.map((check) => toHttpAttributes(check as CheckRequest).requestId));
    expect(logs.every((log) => ids.has(log.request.request_id))).toBe(true);
  });

  it("reads back through the ext_authz converter: login bodies, headers, event time", () => {
    const login = lines().find((line) => line.type === "check" && (line.checkRequest as any).attributes.request.http.path === "/api/v1/login");
    const attrs = toHttpAttributes(fromProtoJson("envoy.service.auth.v3.CheckRequest", login!.type === "check" ? login!.checkRequest : undefined) as CheckRequest);
    expect(attrs.method).toBe("POST");
    expect(JSON.parse(Buffer.from(attrs.body!).toString("utf8"))).toMatchObject({ username: expect.any(String), password: expect.any(String) });
    expect(attrs.headers.get("user-agent")).toBeTruthy();
    expect(attrs.timeMs).toBe(Date.parse(login!.time));
  });

  it("uses only documentation, benchmarking and shared address space", () => {
    const reserved = ["192.0.2.0/24", "198.18.0.0/15", "100.64.0.0/10", "2001:db8::/32", "10.0.0.0/8"].map((c) => ipaddr.parseCIDR(c));
    const inReserved = (ip: string) => {
      const address = ipaddr.parse(ip);
      return reserved.some(([net, bits]) => net.kind() === address.kind() && address.match([net, bits] as any));
    };
    for (const line of lines()) {
      if (line.type !== "check") continue;
      const attrs = toHttpAttributes(fromProtoJson("envoy.service.auth.v3.CheckRequest", line.checkRequest) as CheckRequest);
      expect(inReserved(attrs.headers.get("x-forwarded-for")!)).toBe(true);
      expect(inReserved(attrs.peerAddress!)).toBe(true);
    }
  });

  it("follows a stuffed hit with a takeover that names the request it came from", () => {
    const all = lines();
    const takeovers = all.filter((line) => line.label === "attack:account_takeover");
    expect(takeovers.length).toBeGreaterThan(0);
    const stuffedIds = new Set(all.filter((line) => line.type === "check" && line.label === "attack:credential_stuffing").map((line) => (line as any).checkRequest.attributes.request.http.id));
    expect(takeovers.every((line) => stuffedIds.has(line.causedBy))).toBe(true);
  });

  it("with client: session, has every attack address load the site's shell first and keep the cookie it set", () => {
    const set = parseScenarioSet(`
site: { users: 200, products: 100 }
legit: { sessionsPerMinute: 0 }
scenarios:
  - name: careful
    duration: 1m
    attacks:
      - { kind: credential_stuffing, duration: 1m, rate: 4, sources: 20, pool: residential, client: session }
      - { kind: scraping, duration: 1m, rate: 4, sources: 20, pool: residential, client: session }
`, "careful.yaml");
    const checks = [...simulate(set, 3)].filter((line) => line.type === "check");
    const times = checks.map((line) => Date.parse(line.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const byAddress = requestsByAddress(checks);
    expect(byAddress.size).toBe(40);
    for (const requests of byAddress.values()) {
      const shell = requests.slice(0, 3);
      expect(shell.every((r) => r.path?.startsWith("/static/") && r.cookie === undefined)).toBe(true);
      expect(requests.slice(3).every((r) => !r.path?.startsWith("/static/") && /^sid=[0-9a-f]{24}$/.test(r.cookie ?? ""))).toBe(true);
      expect(requests.length).toBeGreaterThan(3);
    }
  });

  it("with client: browsing, has every attack address also read a product and load its picture, cookie kept, before its first login", () => {
    const set = parseScenarioSet(`
site: { users: 200, products: 100 }
legit: { sessionsPerMinute: 0 }
scenarios:
  - name: browsing
    duration: 1m
    attacks: [{ kind: credential_stuffing, duration: 1m, rate: 2, sources: 10, pool: residential, client: browsing }]
`, "browsing.yaml");
    const byAddress = requestsByAddress(simulate(set, 3));
    expect(byAddress.size).toBe(10);
    for (const requests of byAddress.values()) {
      const [product, picture, login] = requests.slice(3, 6);
      expect(requests.slice(0, 3).every((r) => r.path?.startsWith("/static/") && r.cookie === undefined)).toBe(true);
      const id = /^\/api\/v1\/products\/(\d+)$/.exec(product!.path ?? "")?.[1];
      expect(id).toBeDefined();
      expect(picture!.path).toBe(`/static/img/products/${id}.webp`);
      expect(login!.path).toBe("/api/v1/login");
      expect(new Set([product!.cookie, picture!.cookie, login!.cookie]).size).toBe(1);
      expect(product!.cookie).toMatch(/^sid=[0-9a-f]{24}$/);
    }
  });

  it("never gives two requests the same id, even from streams forked from forks (token replay forks per refresh)", () => {
    const set = parseScenarioSet(`
site: { users: 2000, products: 500 }
legit: { sessionsPerMinute: 10, returningShare: 0.8 }
scenarios:
  - name: replay
    duration: 5m
    attacks: [{ kind: token_replay, at: 1m, duration: 4m, rate: 0.5, victims: 5, sources: 5, pool: residential, stolen: jar }]
`, "replay.yaml");
    const ids = [...simulate(set, 1)].filter((line) => line.type === "check").map((line) => (line as any).checkRequest.attributes.request.http.id as string);
    expect(ids.length).toBeGreaterThan(500);
    expect(ids.length - new Set(ids).size).toBe(0);
  });

  it("has an account's app present its refresh token with one header set in every session, new account or not", () => {
    const set = parseScenarioSet(`
site: { users: 30, products: 100 }
legit: { sessionsPerMinute: 30, returningShare: 0.5 }
scenarios:
  - { name: first, duration: 3m }
  - { name: second, duration: 3m }
`, "apps.yaml");
    const uses = new Map<string, { scenarios: Set<string>; headerSets: Set<string> }>();
    for (const line of simulate(set, 7)) {
      if (line.type !== "check") continue;
      const http = (line.checkRequest as any).attributes.request.http;
      const token = /refresh_token=([0-9a-f]+)/.exec(Buffer.from(http.rawBody ?? "", "base64").toString("utf8"))?.[1];
      if (!token) continue;
      const use = uses.get(token) ?? { scenarios: new Set(), headerSets: new Set() };
      use.scenarios.add(line.scenario);
      use.headerSets.add(`${http.headers["user-agent"]} ${http.headers["accept-language"]} ${http.headers.cookie}`);
      uses.set(token, use);
    }
    const inBoth = [...uses.values()].filter((use) => use.scenarios.size === 2);
    expect(inBoth.length).toBeGreaterThan(3);
    expect(inBoth.filter((use) => use.headerSets.size > 1)).toEqual([]);
  });

  it("has an app opened again within its access token's life use that token, not refresh it", () => {
    const gaps = refreshGaps("legit: { sessionsPerMinute: 3, mobileShare: 1, appShare: 1 }");
    expect(gaps.length).toBeGreaterThan(20);
    // Within the 5 minutes an access token lives (legit.tokenLifetime): 50 of 66 when every
    // session refreshed; 2 of 25 now, two sessions of one app open at once as its token ran out
    // (each session decides its next request a think time ahead, before the other's refresh).
    expect(gaps.filter((gap) => gap < 300_000).length).toBeLessThanOrEqual(2);
  });

  it("has an app told to refresh early ask for a new token in its access token's last minute, not before", () => {
    const early = refreshGaps("legit: { sessionsPerMinute: 3, mobileShare: 1, appShare: 1, pagesPerSession: 60, refreshEarly: 1m }", 1000);
    const onExpiry = refreshGaps("legit: { sessionsPerMinute: 3, mobileShare: 1, appShare: 1, pagesPerSession: 60 }", 1000);
    const lastMinute = (gaps: number[]) => gaps.filter((gap) => gap >= 240_000 && gap < 300_000).length;
    expect(lastMinute(early)).toBeGreaterThan(50);
    expect(lastMinute(onExpiry)).toBe(0);
    // Sooner only when two sessions of one app are open at once (see above).
    expect(early.filter((gap) => gap < 240_000).length).toBeLessThanOrEqual(2);
  });

  it("rejects a scenario file with a misspelt key, naming where", () => {
    expect(() => parseScenarioSet("scenarios: [{ name: a, duration: 1m, atacks: [] }]", "bad.yaml")).toThrow(ScenarioError);
    expect(() => parseScenarioSet("scenarios: [{ name: a, duration: 1m, atacks: [] }]", "bad.yaml")).toThrow(/scenarios\.0/);
    expect(() => parseScenarioSet("scenarios: [{ name: a, duration: soon }]", "bad.yaml")).toThrow(/not a duration/);
  });
});

/** Time between one app token's consecutive refreshes, over 30 minutes of app users with these shopper settings. */
function refreshGaps(legit: string, users = 10): number[] {
  const set = parseScenarioSet(`
site: { users: ${users}, products: 100 }
${legit}
scenarios: [{ name: apps, duration: 30m }]
`, "apps.yaml");
  const refreshes = new Map<string, number[]>();
  for (const line of simulate(set, 3)) {
    if (line.type !== "check") continue;
    const token = /refresh_token=([0-9a-f]+)/.exec(Buffer.from((line.checkRequest as any).attributes.request.http.rawBody ?? "", "base64").toString("utf8"))?.[1];
    if (token) refreshes.set(token, [...(refreshes.get(token) ?? []), Date.parse(line.time)]);
  }
  return [...refreshes.values()].flatMap((times) => times.slice(1).map((t, i) => t - times[i]!));
}

/** The path and cookie of each check, in order, per client address. */
function requestsByAddress(lines: Iterable<LabLine>): Map<string, { path?: string; cookie?: string }[]> {
  const byAddress = new Map<string, { path?: string; cookie?: string }[]>();
  for (const line of lines) {
    if (line.type !== "check") continue;
    const attrs = toHttpAttributes(fromProtoJson("envoy.service.auth.v3.CheckRequest", line.checkRequest) as CheckRequest);
    const ip = attrs.headers.get("x-forwarded-for")!;
    byAddress.set(ip, [...(byAddress.get(ip) ?? []), { path: attrs.path, cookie: attrs.headers.get("cookie") }]);
  }
  return byAddress;
}
