import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledProbing } from "../policy/probes.js";
import { decodeFully, planProbing, probingOutcomeOps, protocolProblem } from "./probes.js";
import type { Signal } from "./signal.js";

/**
 * The probing detector at its edges (probes.test.ts plays the common cases): which part of the
 * request each list target sees, how far decoding goes, a proxy request told from a URL in the
 * query, the counter names the Check and the access-log side share, and a request without an
 * address or a policy with lists only.
 */

/** Every per-address count, each over its threshold in the counts below. */
const limit = (threshold: number) => ({ threshold, weight: 20 });
const full: CompiledProbing = {
  windowMs: 600_000,
  lists: [],
  ...{ probes: limit(3), authFailures: limit(5), userAgents: limit(4), queryFlood: limit(30) },
  missingPaths: { ...limit(20), statuses: [404] },
  errorRatio: { ...limit(0.5), minRequests: 10 },
};

function get(path: string, query = "", extra: Partial<NormalisedRequest> = {}, headers: Record<string, string> = {}): NormalisedRequest {
  return { method: "GET", path, query, host: "", headers: new Map(Object.entries(headers)), headerShape: "s", timeMs: 0, anomalies: [], ipId: "ip-1", ...extra };
}

/** The codes of the lists a request matches, each list being `pattern` on `target`. */
function matches(request: NormalisedRequest, lists: CompiledProbing["lists"]): string[] {
  const plan = planProbing(request, { windowMs: 600_000, lists });
  return plan.evaluate(plan.ops.map(() => 0)).map((s) => s.code);
}
const list = (name: string, target: CompiledProbing["lists"][number]["target"], pattern: RegExp) => ({ name, target, weight: 10, pattern });

describe("probing: what each target sees", () => {
  it("splits the raw target at its first question mark: the path never sees the query, nor the query the path", () => {
    const request = get("/", "", { target: "/shop/item?next=/etc/passwd" });
    expect(matches(request, [list("path", "path", /passwd/), list("query", "query", /passwd/), list("shop", "query", /shop/)])).toEqual(["probe.query"]);
    // Without a question mark there is no query at all.
    expect(matches(get("/", "", { target: "/etc/passwd" }), [list("query", "query", /passwd/), list("path", "path", /passwd/)])).toEqual(["probe.path"]);
  });

  it("joins path and query with a question mark for the whole request, and gives the path alone without a query", () => {
    const admin = [list("admin", "request", /\/admin\?/)];
    expect(matches(get("/admin", "debug=1"), admin)).toEqual(["probe.admin"]);
    expect(matches(get("/admin"), admin)).toEqual([]);
    expect(matches(get("/", "", { target: "/admin" }), admin)).toEqual([]);
    expect(matches(get("/", "", { target: "/admin?x=union+select" }), [list("sqli", "request", /\?x=union select$/)])).toEqual(["probe.sqli"]);
  });

  it("reads a plus in the query as a space, and leaves one in the path", () => {
    expect(matches(get("/", "", { target: "/a+b?q=union+select" }), [list("sqli", "query", /^q=union select$/), list("plus", "path", /^\/a\+b$/)])).toEqual(["probe.sqli", "probe.plus"]);
  });

  it("matches the headers as name: value lines", () => {
    const request = get("/", "", {}, { "user-agent": "x", "x-original-url": "/admin" });
    expect(matches(request, [list("rewrite", "headers", /^x-original-url: \/admin$/m)])).toEqual(["probe.rewrite"]);
    expect(matches(request, [list("joined", "headers", /x\nx-original-url/)])).toEqual(["probe.joined"]);
  });
});

describe("probing: decoding and the request line", () => {
  it("decodes at most three rounds, and turns backslashes into slashes", () => {
    expect(decodeFully("%25252e%25252e%25252f")).toBe("../");
    expect(decodeFully("%2525252e")).toBe("%2e");
    expect(decodeFully("..%5c..\\win.ini")).toBe("../../win.ini");
  });

  it("calls an absolute URL a proxy request only at the start of the target", () => {
    expect(protocolProblem(get("/", "", { target: "http://example.com/" }))).toBe("absolute URL (proxy request)");
    expect(protocolProblem(get("/", "", { target: "/go?to=http://example.com/" }))).toBeUndefined();
    expect(protocolProblem(get("/go", "to=http://example.com/"))).toBeUndefined();
  });
});

describe("probing: counters shared with the access-log side", () => {
  it("reads the counters the access-log side writes, and judges each", () => {
    const { ops, evaluate } = planProbing(get("/x", "q=1", {}, { "user-agent": "ua" }), full);
    const names = ops.map((o) => o.op.name);
    // Distinct counts for what differs, window counts for how often: the kinds the store applies.
    expect(ops.map((o) => `${o.op.op} ${o.op.name}`)).toEqual([
      "distinct.add probe", "distinct.add probe.miss", "window.add probe.req", "window.add probe.err", "window.add probe.401", "distinct.add probe.ua", "distinct.add probe.qs",
    ]);
    for (const op of [...probingOutcomeOps(full, 404, "/x"), ...probingOutcomeOps(full, 401, "/x")]) expect(names).toContain(op.name);
    const counts: Record<string, number> = { probe: 4, "probe.miss": 21, "probe.req": 10, "probe.err": 6, "probe.401": 6, "probe.ua": 5, "probe.qs": 31 };
    const found = evaluate(ops.map(({ op }) => counts[op.name] ?? 0));
    expect(found.map((s: Signal) => [s.code, s.value, s.fired])).toEqual([
      ["ip.probes", 4, true],
      ["ip.missing_paths", 21, true],
      ["ip.user_agents", 5, true],
      ["ip.auth_failures", 6, true],
      ["ip.query_flood", 31, true],
      ["ip.error_ratio", 0.6, true],
    ]);
  });

  it("asks nothing a policy with lists only does not set, and judges no count of a request without an address", () => {
    const lists = [list("env", "path", /\.env/), { ...list("soft", "path", /\.env/), threshold: 2 }];
    expect(planProbing(get("/.env"), { windowMs: 600_000, lists: [list("env", "path", /\.env/)] }).ops).toEqual([]);
    const anonymous = planProbing(get("/.env", "", { ipId: undefined }), { ...full, lists });
    expect(anonymous.ops).toEqual([]);
    expect(anonymous.evaluate([]).map((s) => s.code)).toEqual(["probe.env"]);
  });
});
