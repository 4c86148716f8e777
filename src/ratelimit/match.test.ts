import { describe, expect, it } from "vitest";
import { parseDomainFile } from "./config-loader.js";
import { entriesStatsKey, matchDescriptor, wildcardMatches } from "./match.js";

const domain = parseDomainFile(
  `
domain: test
descriptors:
  - key: to_number
    rate_limit: { unit: day, requests_per_unit: 50 }
  - key: to_number
    value: "5550100"
    rate_limit: { unit: day, requests_per_unit: 0 }
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit: { unit: day, requests_per_unit: 3 }
  - key: path
    value: /api/*
    rate_limit: { unit: second, requests_per_unit: 10 }
  - key: path
    value: /api/v1/*
    detailed_metric: true
    rate_limit: { unit: second, requests_per_unit: 5 }
  - key: path
    value: /api/v1/login
    rate_limit: { unit: second, requests_per_unit: 1 }
  - key: placeholder
    value: only
    descriptors:
      - key: leaf
        rate_limit: { unit: second, requests_per_unit: 1 }
`,
  "test.yaml",
)!;

const limitOf = (...pairs: [string, string][]) => {
  const match = matchDescriptor(domain.root, pairs.map(([key, value]) => ({ key, value })));
  return match?.node.rule?.kind === "limited" ? { limit: match.node.rule.windows[0]!.requestsPerUnit, stats: match.statsKey } : undefined;
};

describe("matchDescriptor", () => {
  it("prefers the exact value over the key's default", () => {
    expect(limitOf(["to_number", "5550100"])).toEqual({ limit: 0, stats: "to_number_5550100" });
    expect(limitOf(["to_number", "5550199"])).toEqual({ limit: 50, stats: "to_number" });
  });

  it("answers a match again alike, and a wildcard before the key's default even where exact values and defaults alone would match", () => {
    const beside = parseDomainFile(
      `
domain: beside
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 9 }
  - key: user
    value: bot-*
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: user
    value: alice
    rate_limit: { unit: minute, requests_per_unit: 5 }
`,
      "beside.yaml",
    )!;
    const limit = (value: string) => {
      const match = matchDescriptor(beside.root, [{ key: "user", value }]);
      return match?.node.rule?.kind === "limited" ? [match.node.rule.windows[0]!.requestsPerUnit, match.statsKey] : undefined;
    };
    for (let twice = 0; twice < 2; twice++) {
      expect(limit("alice")).toEqual([5, "user_alice"]);
      expect(limit("bot-7")).toEqual([1, "user_bot-*"]);
      expect(limit("bob")).toEqual([9, "user"]);
    }
  });

  it("walks nested descriptors one level per entry", () => {
    expect(limitOf(["message_type", "marketing"], ["to_number", "1"])).toEqual({ limit: 3, stats: "message_type_marketing.to_number" });
    expect(limitOf(["message_type", "transactional"], ["to_number", "1"])).toBeUndefined();
  });

  it("matches nothing when the request has more or fewer entries than the configuration has levels", () => {
    expect(limitOf(["to_number", "1"], ["extra", "x"])).toBeUndefined();
    expect(limitOf(["message_type", "marketing"])).toBeUndefined(); // a placeholder without a rate_limit
    expect(limitOf(["placeholder", "only"])).toBeUndefined();
    expect(limitOf()).toBeUndefined();
  });

  it("matches value wildcards by the longest prefix, after exact values", () => {
    expect(limitOf(["path", "/api/v1/login"])).toEqual({ limit: 1, stats: "path_/api/v1/login" });
    expect(limitOf(["path", "/api/v1/search"])).toEqual({ limit: 5, stats: "path_/api/v1/search" }); // detailed
    expect(limitOf(["path", "/api/v2/search"])).toEqual({ limit: 10, stats: "path_/api/*" });
    expect(limitOf(["path", "/static/app.js"])).toBeUndefined();
  });

  it("keeps detailed statistics keys short and offers a rolled-up key", () => {
    const long = `/api/v1/${"x".repeat(10_000)}`;
    const match = matchDescriptor(domain.root, [{ key: "path", value: long }])!;
    expect(match.statsKey.length).toBeLessThan(80);
    expect(match.rollupStatsKey).toBe("path_/api/v1/*");
  });

  it("is case-sensitive, as envoyproxy/ratelimit is", () => {
    expect(limitOf(["Path", "/api/v1/login"])).toBeUndefined();
  });
});

describe("wildcards", () => {
  const wild = parseDomainFile(
    `
domain: wild
descriptors:
  - key: route
    value: /api/*
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: route
    value: /api/*/v2*
    rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: files
    value: files/*
    share_threshold: true
    rate_limit: { unit: minute, requests_per_unit: 3 }
  - key: svc
    value: svc*ep*rpc
    value_to_metric: true
    rate_limit: { unit: minute, requests_per_unit: 4 }
`,
    "wild.yaml",
  )!;
  const match = (order: "specific" | "file", key: string, value: string) => matchDescriptor(wild.root, [{ key, value }], order);

  it("matches a star anywhere, each standing for any text", () => {
    expect(wildcardMatches("svc*ep*rpc".split("*"), "svc-a-ep-b-rpc")).toBe(true);
    expect(wildcardMatches("svc*ep*rpc".split("*"), "svcrpc")).toBe(false);
    expect(wildcardMatches("a*a".split("*"), "a")).toBe(false);
    expect(wildcardMatches("a*".split("*"), "a")).toBe(true);
    expect(match("specific", "svc", "svc.users.ep.get.rpc")?.statsKey).toBe("svc_svc.users.ep.get.rpc");
  });

  it("tries the most specific pattern first, or the file's order as envoyproxy/ratelimit does", () => {
    expect(match("specific", "route", "/api/users/v2/list")?.node.value).toBe("/api/*/v2*");
    expect(match("file", "route", "/api/users/v2/list")?.node.value).toBe("/api/*");
  });

  it("names a shared wildcard by its pattern, for statistics and the counter", () => {
    expect(match("file", "files", "files/a.pdf")).toMatchObject({ statsKey: "files_files/*", sharedPatterns: ["files/*"] });
    expect(match("file", "route", "/api/x")?.sharedPatterns).toBeUndefined();
  });
});

describe("wildcards with several stars", () => {
  const parts = (pattern: string) => pattern.split("*");

  it("finds the middle parts in order, between the first and the last part, without overlapping them", () => {
    expect(wildcardMatches(parts("a*b*c"), "a1b2c")).toBe(true);
    expect(wildcardMatches(parts("a*b*c"), "abc")).toBe(true);
    // The middle part must lie between the ends: here its only "b" is the last part's.
    expect(wildcardMatches(parts("a*b*b"), "a-b")).toBe(false);
    expect(wildcardMatches(parts("x*b*c*d*y"), "x-c-b-d-y")).toBe(false);
    expect(wildcardMatches(parts("x*b*c*d*y"), "x-b-c-d-y")).toBe(true);
    // A part found once is used once: two "ab" parts need two occurrences.
    expect(wildcardMatches(parts("*ab*ab*"), "xabx")).toBe(false);
    expect(wildcardMatches(parts("*ab*ab*"), "abab")).toBe(true);
    expect(wildcardMatches(parts("only"), "only")).toBe(true);
    expect(wildcardMatches(parts("only"), "only-not")).toBe(false);
  });
});

describe("statistics keys", () => {
  const stats = parseDomainFile(
    `
domain: stats
descriptors:
  - key: client
    detailed_metric: true
    rate_limit: { unit: minute, requests_per_unit: 5 }
  - key: tenant
    value_to_metric: true
    descriptors:
      - key: user
        rate_limit: { unit: minute, requests_per_unit: 5 }
  - key: tenant
    value: acme
    value_to_metric: true
    rate_limit: { unit: minute, requests_per_unit: 5 }
  - key: route
    value: "/r/*"
    rate_limit: { unit: minute, requests_per_unit: 5 }
`,
    "stats.yaml",
  )!;
  const keys = (...pairs: [string, string][]) => {
    const match = matchDescriptor(stats.root, pairs.map(([key, value]) => ({ key, value })));
    return match && [match.statsKey, match.rollupStatsKey];
  };

  it("names the request's value where the limit is detailed, cut to 64 characters, and rolls it up to the key", () => {
    expect(keys(["client", "c1"])).toEqual(["client_c1", "client"]);
    expect(keys(["client", "v".repeat(64)])).toEqual([`client_${"v".repeat(64)}`, "client"]);
    expect(keys(["client", "v".repeat(65)])).toEqual([`client_${"v".repeat(64)}…`, "client"]);
  });

  it("names the value where value_to_metric asks for a default or wildcard match, and the configured value for an exact one", () => {
    expect(keys(["tenant", "globex"], ["user", "u1"])).toEqual(["tenant_globex.user", "tenant.user"]);
    expect(keys(["tenant", "acme"])).toEqual(["tenant_acme", "tenant_acme"]);
    expect(keys(["route", "/r/x"])).toEqual(["route_/r/*", "route_/r/*"]);
  });

  it("names a descriptor no configuration matched by its first eight keys alone", () => {
    const many = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `secret-${i}` }));
    expect(entriesStatsKey(many)).toBe("k0.k1.k2.k3.k4.k5.k6.k7");
    expect(entriesStatsKey([{ key: "k".repeat(70), value: "v" }])).toBe(`${"k".repeat(64)}…`);
  });
});

describe("values as YAML reads them", () => {
  const typed = parseDomainFile(
    `
domain: typed
descriptors:
  - key: status
    value: 500
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: beta
    value: true
    rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: region
    value:
    rate_limit: { unit: minute, requests_per_unit: 3 }
`,
    "typed.yaml",
  )!;
  const limit = (key: string, value: string) => {
    const match = matchDescriptor(typed.root, [{ key, value }]);
    return match?.node.rule?.kind === "limited" ? [match.node.rule.windows[0]!.requestsPerUnit, match.statsKey] : undefined;
  };

  it("matches a number or a boolean by its text", () => {
    expect(limit("status", "500")).toEqual([1, "status_500"]);
    expect(limit("status", "404")).toBeUndefined();
    expect(limit("beta", "true")).toEqual([2, "beta_true"]);
  });

  it("reads `value:` with nothing after it as no value: the key's default, whatever the request's value", () => {
    expect(limit("region", "eu-west")).toEqual([3, "region"]);
    expect(limit("region", "")).toEqual([3, "region"]);
  });
});
