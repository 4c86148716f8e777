import { describe, expect, it } from "vitest";
import { minimalPolicy, policyIssues } from "../../test/support/policies.js";
import { parsePolicyText } from "./loader.js";

/**
 * The checks of the policy schema that are code rather than tables: durations, an endpoint's
 * one path matcher, a registration endpoint that is not a login and says how it marks a created account, feed sources, and allowed bots that can be verified. Their messages are
 * what an operator reads, so they are checked word for word.
 */

const document = (spec: string) => `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: x }
spec:
${spec}`;

const issues = (spec: string) => policyIssues(() => parsePolicyText(document(spec), "p.yaml"));

describe("durations", () => {
  it("accepts the documented units and sums of them", () => {
    const policy = minimalPolicy({ signals: { failures: { window: "1h30m", ip: { threshold: 3 } }, sequence: { window: "500ms" } } });
    expect(policy.signals.failures?.windowMs).toBe(5_400_000);
    expect(policy.signals.sequence?.windowMs).toBe(500);
  });

  it("refuses anything else, quoting it", () => {
    expect(issues("  signals: { sequence: { window: 5x } }")).toEqual(['spec.signals.sequence.window: not a duration: "5x" (use e.g. 30s, 5m, 1h, 7d)']);
    expect(issues("  signals: { sequence: { window: 0s } }")).toEqual(['spec.signals.sequence.window: not a duration: "0s" (use e.g. 30s, 5m, 1h, 7d)']);
  });
});

describe("an endpoint's match", () => {
  it("needs exactly one of path and pathPrefix", () => {
    const message = "spec.endpoints[0].match: give exactly one of path or pathPrefix";
    expect(issues("  endpoints: [{ name: a, match: { path: /a, pathPrefix: /a } }]")).toEqual([message]);
    expect(issues("  endpoints: [{ name: a, match: { methods: [GET] } }]")).toEqual([message]);
    expect(minimalPolicy({ endpoints: [{ name: "a", match: { pathPrefix: "/a" } }] }).endpoints).toHaveLength(1);
  });
});

describe("a registration endpoint", () => {
  it("is not also a login, and reads its outcome as a login does", () => {
    expect(issues("  endpoints: [{ name: a, match: { path: /a }, authentication: true, registration: true }]")).toEqual([
      "spec.endpoints[0].registration: an endpoint signs accounts in (authentication) or registers them (registration), not both",
    ]);
    const [signup] = minimalPolicy({ endpoints: [{ name: "signup", match: { path: "/register" }, registration: true }] }).endpoints;
    expect(signup).toMatchObject({ registration: true, authentication: false, outcome: { successStatus: [200, 201, 204, 302, 303] } });
  });

  it("loads without a creation marker, with a warning that it teaches nothing", () => {
    const unmarked = minimalPolicy({ endpoints: [{ name: "signup", match: { path: "/register" }, registration: true }] });
    expect(unmarked.warnings).toEqual([
      {
        path: "spec.endpoints[0].outcome.createdHeader",
        message: "absent: this registration endpoint teaches no account history (give the response header the application sets only when it created the account)",
      },
    ]);
    const marked = { successStatus: [201], createdHeader: { name: "X-Signup-Result", values: ["created"] } };
    const policy = minimalPolicy({ endpoints: [{ name: "signup", match: { path: "/register" }, registration: true, outcome: marked }] });
    expect(policy.warnings).toEqual([]);
    expect(policy.endpoints[0]?.outcome?.createdHeader).toEqual({ name: "x-signup-result", values: ["created"] });
  });

  it("is the only endpoint with a creation marker", () => {
    expect(issues("  endpoints: [{ name: a, match: { path: /a }, authentication: true, outcome: { createdHeader: { name: x-created, values: ['1'] } } }]")).toEqual([
      "spec.endpoints[0].outcome.createdHeader: createdHeader marks a created account: only a registration endpoint has one",
    ]);
  });
});

describe("a feed's source", () => {
  const feed = (source: string) => `  reputation: { lists: [{ name: l, effect: block, feeds: [{ source: "${source}" }] }] }`;

  it("is a file path or an http(s) URL", () => {
    for (const source of ["lists/drop.txt", "/etc/palisade/drop.txt", "https://lists.example/drop.txt", "HTTP://lists.example/drop.txt", "c:drop.txt"]) {
      expect(parsePolicyText(document(feed(source)), "p.yaml").lists[0]?.feeds[0]?.source, source).toBe(source);
    }
  });

  it("refuses other URL schemes", () => {
    for (const source of ["ftp://lists.example/drop.txt", "file:///etc/passwd", "s3://bucket/drop.txt"]) {
      expect(issues(feed(source)), source).toEqual(["spec.reputation.lists[0].feeds[0].source: a feed is a file path or an http(s):// URL"]);
    }
  });
});

describe("an allowed bot", () => {
  it("needs cidrs or feeds to verify its address, reported at cidrs", () => {
    expect(issues("  bots: { allowed: [{ name: b, category: c, userAgent: B }] }")).toEqual([
      "spec.bots.allowed[0].cidrs: an allowed bot needs cidrs or feeds to verify its address",
    ]);
    const withFeed = minimalPolicy({ bots: { allowed: [{ name: "b", category: "c", userAgent: "B", feeds: [{ source: "b.json", format: "json" }] }] } });
    expect(withFeed.bots.allowed.map((bot) => bot.name)).toEqual(["b"]);
  });
});
