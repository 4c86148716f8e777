import { describe, expect, it } from "vitest";
import { minimalPolicy, minimalPolicyDocument, policyFrom, policyIssues } from "../../test/support/policies.js";
import { parseAddress } from "../domain/client-address.js";
import { compilePolicy, IMPOSSIBLE_TRAVEL_RULE, POLICY_COST_BUDGET, type CompiledPolicy } from "./compile.js";
import { policySchema } from "./schema.js";

/**
 * compilePolicy on its own: how endpoints match requests, what rules, lists and bots compile
 * to, and each semantic problem it reports, located by path and worded as operators read it.
 */

const issuesOf = (spec: Record<string, unknown>) => policyIssues(() => minimalPolicy(spec));
const ip = (text: string) => parseAddress(text)!.address;

describe("endpoints", () => {
  const policy = minimalPolicy({
    endpoints: [
      { name: "product", match: { methods: ["get", "HEAD"], path: "/api/products/{id}" }, resource: { param: "id" } },
      { name: "search", match: { pathPrefix: "/search" }, velocity: { ip: { window: "30s", threshold: 20 }, subnet: { window: "2m", threshold: 50, weight: 10 } } },
      { name: "login", match: { path: "/login" }, authentication: true, failMode: "closed", identity: { username: { formField: "user" } } },
    ],
  });
  const named = (name: string) => policy.endpoints.find((e) => e.name === name)!;

  it("matches a template's {param} segment against any one non-empty segment, and only the methods named", () => {
    expect(policy.endpointFor("GET", "/api/products/42")?.name).toBe("product");
    expect(policy.endpointFor("HEAD", "/api/products/abc")?.name).toBe("product");
    expect(policy.endpointFor("POST", "/api/products/42")).toBeUndefined();
    expect(policy.endpointFor("GET", "/api/products/")).toBeUndefined();
    expect(policy.endpointFor("GET", "/api/products/42/reviews")).toBeUndefined();
    expect(policy.endpointFor("GET", "/api/products")).toBeUndefined();
    expect(policy.endpointFor("GET", "/api/items/42")).toBeUndefined();
    expect(policy.endpointFor("GET", "/api/productsX/42")).toBeUndefined();
    expect(policy.endpointFor("GET", "/api/product/42")).toBeUndefined();
    expect(policy.endpointFor("GET", "api/products/42")).toBeUndefined();
    expect(policy.endpointFor("GET", "//api/products/42")).toBeUndefined();
  });

  it("matches a placeholder between literal segments, and literal segments exactly", () => {
    const nested = minimalPolicy({ endpoints: [{ name: "reviews", match: { path: "/api/{id}/reviews" } }] });
    expect(nested.endpointFor("GET", "/api/42/reviews")?.name).toBe("reviews");
    expect(nested.endpointFor("GET", "/api//reviews")).toBeUndefined();
    expect(nested.endpointFor("GET", "/api/42/review")).toBeUndefined();
    expect(nested.endpointFor("GET", "/api/42/reviewsX")).toBeUndefined();
    expect(nested.endpointFor("GET", "/api/42/reviews/")).toBeUndefined();
    expect(nested.endpointFor("GET", "/api/42/43/reviews")).toBeUndefined();
  });

  it("matches a prefix on any method, and an exact path exactly", () => {
    expect(policy.endpointFor("DELETE", "/search?q=x")?.name).toBe("search");
    expect(policy.endpointFor("GET", "/searchable")?.name).toBe("search");
    expect(policy.endpointFor("GET", "/s")).toBeUndefined();
    expect(policy.endpointFor("POST", "/login")?.name).toBe("login");
    expect(policy.endpointFor("POST", "/login/")).toBeUndefined();
  });

  it("takes the first endpoint in policy order that matches", () => {
    const overlapping = minimalPolicy({
      endpoints: [
        { name: "narrow", match: { path: "/a/b" } },
        { name: "wide", match: { pathPrefix: "/a" } },
      ],
    });
    expect(overlapping.endpointFor("GET", "/a/b")?.name).toBe("narrow");
    expect(overlapping.endpointFor("GET", "/a/c")?.name).toBe("wide");
  });

  it("compiles velocity limits with windows in milliseconds, only for the scopes given", () => {
    expect(named("search").velocity).toEqual({
      ip: { windowMs: 30_000, threshold: 20, weight: 30 },
      subnet: { windowMs: 120_000, threshold: 50, weight: 10 },
    });
    expect(named("product").velocity).toEqual({});
  });

  it("gives authentication endpoints the default outcome reading and the others none", () => {
    expect(named("login").outcome).toEqual({ failureStatus: [400, 401, 403], successStatus: [200, 201, 204, 302, 303], unknownUserStatus: [] });
    expect(named("login").authentication).toBe(true);
    expect(named("product").outcome).toBeUndefined();
    expect(named("login").username).toEqual({ formField: "user" });
  });

  it("takes the policy's fail mode unless the endpoint names its own", () => {
    const policyWide = minimalPolicy({ failMode: "error", endpoints: [{ name: "a", match: { path: "/a" } }, { name: "b", match: { path: "/b" }, failMode: "closed" }] });
    expect(policyWide.endpoints.map((e) => e.failMode)).toEqual(["error", "closed"]);
    expect(policyWide.defaultEndpoint.failMode).toBe("error");
    expect(policy.defaultEndpoint.failMode).toBe("open");
  });

  it("locates the resource id by its segment index", () => {
    expect(named("product").resourceSegment).toBe(3);
    expect(named("search").resourceSegment).toBeUndefined();
  });

  it("refuses a resource whose parameter the path does not hold", () => {
    expect(issuesOf({ endpoints: [{ name: "p", match: { path: "/products/{sku}" }, resource: { param: "id" } }] })).toEqual([
      "spec.endpoints[0].resource.param: the path has no {id} segment",
    ]);
    expect(issuesOf({ endpoints: [{ name: "p", match: { pathPrefix: "/products/" }, resource: { param: "id" } }] })).toEqual([
      "spec.endpoints[0].resource.param: the path has no {id} segment",
    ]);
  });
});

describe("the default endpoint", () => {
  it("matches nothing itself, and carries its own name, sensitivity and velocity", () => {
    const policy = minimalPolicy({ defaultEndpoint: { name: "rest", sensitivity: "high", failMode: "closed", velocity: { ip: { window: "1m", threshold: 600 } } } });
    expect(policy.defaultEndpoint).toMatchObject({ name: "rest", sensitivity: "high", authentication: false, failMode: "closed", pageView: false, outcome: undefined });
    expect(policy.defaultEndpoint.velocity).toEqual({ ip: { windowMs: 60_000, threshold: 600, weight: 30 } });
    expect(policy.endpointFor("GET", "/anything")).toBeUndefined();
    expect(policy.endpoints.map((e) => e.name)).toEqual(["login"]);
  });

  it("may not share its name with a declared endpoint", () => {
    expect(issuesOf({ defaultEndpoint: { name: "login" } })).toEqual(['spec.defaultEndpoint.name: "login" is also the name of a declared endpoint']);
  });
});

describe("rules", () => {
  it("compiles each rule with its condition, cost, scope, shadow flag and retry time", () => {
    const policy = minimalPolicy({
      rules: [
        { id: "hard", when: "risk >= 90", action: "block", scope: "subnet", retryAfter: "10m", endpoints: ["login"] },
        { id: "soft", when: '"x" in reasons', action: "challenge", shadow: true },
      ],
    });
    const [hard, soft] = policy.rules;
    expect(hard).toMatchObject({ id: "hard", action: "block", scope: "subnet", shadow: false, retryAfterMs: 600_000, cost: 3 });
    expect([...hard!.endpoints!]).toEqual(["login"]);
    expect(soft).toMatchObject({ id: "soft", action: "challenge", scope: "ip", shadow: true, retryAfterMs: undefined, endpoints: undefined, cost: 259 });
    expect(policy.ruleCost).toBe(262);
    expect(hard!.condition({ request: {}, signal: new Map(), reasons: [], risk: 90 })).toBe("match");
    expect(hard!.condition({ request: {}, signal: new Map(), reasons: [], risk: 89 })).toBe("no-match");
  });

  it("lets a rule name the default endpoint", () => {
    expect(minimalPolicy({ rules: [{ id: "r", when: "risk > 1", action: "block", endpoints: ["default"] }] }).rules).toHaveLength(1);
  });

  it("reports unknown endpoints, invalid CEL and unknown variables by rule", () => {
    const issues = issuesOf({
      rules: [
        { id: "a", when: "risk > 1", action: "block", endpoints: ["login", "nowhere"] },
        { id: "b", when: "risk >", action: "block" },
        { id: "c", when: "rsk > 1", action: "block" },
      ],
    });
    expect(issues[0]).toBe('spec.rules[0].endpoints: no endpoint named "nowhere"');
    expect(issues[1]).toMatch(/^spec\.rules\[1\]\.when: invalid CEL: /);
    expect(issues[2]).toBe("spec.rules[2].when: invalid CEL: unknown variable 'rsk'; use request, signal, reasons or risk");
    expect(issues).toHaveLength(3);
  });

  it("reports a condition over the rule budget as too expensive", () => {
    expect(issuesOf({ rules: [{ id: "x", when: "reasons.exists(a, reasons.exists(b, reasons.exists(c, a == b)))", action: "block" }] })[0]).toMatch(
      /^spec\.rules\[0\]\.when: too expensive: estimated cost \d+ exceeds the rule budget of 100000$/,
    );
  });

  it("refuses rules that together exceed the policy budget, and accepts them up to it", () => {
    // Each costs 1 + 1 + 1 + 1024 * (3 + 5) + 1 = 8196 (an exists() over the headers).
    const rule = (i: number) => ({ id: `r${i}`, when: `request.headers.exists(k, k == "h${i}")`, action: "block" });
    const count = Math.floor(POLICY_COST_BUDGET / 8196);
    expect(minimalPolicy({ rules: Array.from({ length: count }, (_, i) => rule(i)) }).ruleCost).toBe(count * 8196);
    expect(issuesOf({ rules: Array.from({ length: count + 1 }, (_, i) => rule(i)) })).toEqual([
      `spec.rules: too expensive: estimated cost ${(count + 1) * 8196} of all rules exceeds the policy budget of 1000000`,
    ]);
  });

  it("compiles up to 500 rules and refuses one more, compiling none", () => {
    const rules = (count: number) => Array.from({ length: count }, (_, i) => ({ id: `r${i}`, when: `risk > ${i % 100}`, action: "block" }));
    expect(minimalPolicy({ rules: rules(500) }).rules).toHaveLength(500);
    expect(issuesOf({ rules: rules(501) })).toEqual(["spec.rules: too expensive: 501 rules; at most 500"]);
  });

  it("reports duplicate rule ids and endpoint names where the second one is", () => {
    expect(
      issuesOf({
        endpoints: [
          { name: "a", match: { path: "/a" } },
          { name: "a", match: { path: "/b" } },
        ],
        rules: [
          { id: "r", when: "risk > 1", action: "block" },
          { id: "s", when: "risk > 2", action: "block" },
          { id: "r", when: "risk > 3", action: "block" },
        ],
      }),
    ).toEqual(['spec.endpoints[1]: duplicate endpoint "a"', 'spec.rules[2]: duplicate rule id "r"']);
  });

  it("adds the impossible-travel rule unless its action is none", () => {
    const travel = (action: string) => minimalPolicy({ signals: { geo: { impossibleTravel: { action } } } });
    const rule = travel("quarantine").rules.find((r) => r.id === IMPOSSIBLE_TRAVEL_RULE)!;
    expect(rule).toMatchObject({ id: "geo:impossible-travel", action: "quarantine", scope: "username", shadow: false, endpoints: undefined });
    expect(rule.condition({ request: {}, signal: new Map(), reasons: ["account.impossible_travel"], risk: 0 })).toBe("match");
    expect(rule.condition({ request: {}, signal: new Map(), reasons: ["other"], risk: 0 })).toBe("no-match");
    expect(travel("none").rules).toEqual([]);
    expect(minimalPolicy({ signals: { geo: {} } }).rules).toEqual([]);
  });
});

describe("reputation lists", () => {
  it("merges inline ranges and file lines, counting what the policy named", () => {
    const document = policySchema.parse(
      minimalPolicyDocument({
        reputation: {
          lists: [{ name: "drop", effect: "block", weight: 70, cidrs: [" 192.0.2.0/24 ", "2001:db8::1"], files: ["drop.txt"] }],
        },
      }),
    );
    const file = "# Spamhaus-like\n198.51.100.0/24 # trailing comment\n\n   \n203.0.113.9\n#203.0.113.10\n";
    const [list] = compilePolicy(document, "p.yaml", new Map([["drop.txt", file]])).lists;
    expect(list).toMatchObject({ name: "drop", effect: "block", weight: 70, entries: 4, feeds: [] });
    for (const inside of ["192.0.2.255", "2001:db8::1", "198.51.100.7", "203.0.113.9"]) expect(list!.set.has(ip(inside)), inside).toBe(true);
    for (const outside of ["203.0.113.10", "2001:db8::2", "192.0.3.0"]) expect(list!.set.has(ip(outside)), outside).toBe(false);
  });

  it("quotes a bad inline range, cut short, but never a file's line", () => {
    const long = `not-a-range-${"x".repeat(80)}`;
    const document = policySchema.parse(
      minimalPolicyDocument({ reputation: { lists: [{ name: "l", effect: "label", cidrs: ["bogus", long], files: ["f.txt", "gone.txt"] }] } }),
    );
    const issues = policyIssues(() => compilePolicy(document, "p.yaml", new Map([["f.txt", "192.0.2.1\nsecret-ish\n"]])));
    expect(issues).toEqual([
      'spec.reputation.lists[0].cidrs[0]: not an IP address or CIDR range: "bogus"',
      `spec.reputation.lists[0].cidrs[1]: not an IP address or CIDR range: "${long.slice(0, 64)}…"`,
      "spec.reputation.lists[0].files[0] line 2: not an IP address or CIDR range",
      'spec.reputation.lists[0].files[1]: cannot read list file "gone.txt"',
    ]);
  });

  it("quotes an inline range of exactly 64 characters whole", () => {
    const text = "y".repeat(64);
    expect(issuesOf({ reputation: { lists: [{ name: "l", effect: "label", cidrs: [text] }] } })).toEqual([
      `spec.reputation.lists[0].cidrs[0]: not an IP address or CIDR range: "${text}"`,
    ]);
  });
});

describe("allowed bots", () => {
  it("compiles the user agent pattern and the ranges", () => {
    const [bot] = minimalPolicy({
      bots: { allowed: [{ name: "crawler", category: "search-engine", userAgent: "Crawler/\\d", cidrs: ["192.0.2.0/28", "2001:db8::/64"] }], impersonationWeight: 45 },
    }).bots.allowed;
    expect(bot).toMatchObject({ name: "crawler", category: "search-engine", feeds: [] });
    expect(bot!.userAgent.test("Mozilla (Crawler/2)")).toBe(true);
    expect(bot!.userAgent.test("crawler/2")).toBe(false);
    expect(bot!.ranges.map(([range, bits]) => `${range.toString()}/${bits}`)).toEqual(["192.0.2.0/28", "2001:db8::/64"]);
    expect(minimalPolicy({}).bots).toEqual({ allowed: [], impersonationWeight: 60 });
  });

  it("reports a bad pattern or range where it is, and keeps the other bots", () => {
    expect(
      issuesOf({
        bots: {
          allowed: [
            { name: "a", category: "x", userAgent: "(", cidrs: ["192.0.2.0/24"] },
            { name: "b", category: "x", userAgent: "B", cidrs: ["192.0.2.0/24", "nope"] },
          ],
        },
      }),
    ).toEqual([expect.stringMatching(/^spec\.bots\.allowed\[0\]\.userAgent: invalid regular expression: /), 'spec.bots.allowed[1].cidrs[1]: not an IP address or CIDR range: "nope"']);
  });
});

describe("the compiled policy", () => {
  it("carries the document's settings and is frozen", () => {
    const policy: CompiledPolicy = minimalPolicy({ mode: "shadow", failMode: "closed", client: { ipSource: "peer" } });
    expect(policy).toMatchObject({ name: "test", version: "t1", mode: "shadow", failMode: "closed" });
    expect(policy.client.ipSource).toBe("peer");
    expect(policy.limits).toEqual({ maxHeaders: 200, maxHeaderBytes: 65_536, maxBodyBytes: 65_536 });
    expect(policy.fingerprint.headers).toEqual(["user-agent", "accept", "accept-language"]);
    expect(policy.document.metadata.name).toBe("test");
    expect(Object.isFrozen(policy)).toBe(true);
  });

  it("versions a document without one by its content", () => {
    const unversioned = (name: string) => ({ ...minimalPolicyDocument(), metadata: { name } });
    const a = policyFrom(unversioned("a")).version;
    expect(a).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(policyFrom(unversioned("a")).version).toBe(a);
    expect(policyFrom(unversioned("b")).version).not.toBe(a);
  });
});
