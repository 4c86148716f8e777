import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledProbing } from "../policy/probes.js";
import { planProbing, probingOutcomeOps, protocolProblem } from "./probes.js";
import type { Signal } from "./signal.js";

/**
 * The probing detector on its own, with hand-made lists: what a request matches after decoding,
 * what it asks the store per address, and the signals the counts make. The pipeline's default
 * endpoint suite runs the shipped lists end to end.
 */

const config: CompiledProbing = {
  windowMs: 600_000,
  lists: [
    { name: "dotfiles", target: "path", weight: 60, pattern: /\/\.(?:env|git)\b/i },
    { name: "sqli", target: "query", weight: 50, pattern: /union\s+select/i },
    { name: "tools", target: "user-agent", weight: 70, pattern: /sqlmap|nikto/i },
    { name: "soft", target: "request", weight: 20, threshold: 2, pattern: /\/admin\b/i },
  ],
  probes: { threshold: 3, weight: 40 },
  missingPaths: { threshold: 20, weight: 30, statuses: [404, 403] },
  errorRatio: { minRequests: 10, threshold: 0.5, weight: 25 },
  authFailures: { threshold: 5, weight: 20 },
  userAgents: { threshold: 4, weight: 15 },
  queryFlood: { threshold: 30, weight: 20 },
  protocol: { weight: 35 },
};

function get(path: string, query = "", headers: Record<string, string> = {}, extra: Partial<NormalisedRequest> = {}): NormalisedRequest {
  return { method: "GET", path, query, host: "", headers: new Map(Object.entries(headers)), headerShape: "s", timeMs: 0, anomalies: [], ipId: "ip-1", ...extra };
}

/** Plans the request and answers each op from `counts` by its counter name (0 when absent). */
function judge(request: NormalisedRequest, counts: Record<string, number> = {}, probing: CompiledProbing = config): Signal[] {
  const plan = planProbing(request, probing);
  return plan.evaluate(plan.ops.map(({ op }) => counts[op.name] ?? 0));
}
const fired = (signals: Signal[]) => signals.filter((s) => s.fired).map((s) => s.code);

describe("probing detector", () => {
  it("matches lists against the decoded path, query, user agent and whole request", () => {
    expect(fired(judge(get("/%252Eenv", "", {}, { target: "/%252Eenv" })))).toContain("probe.dotfiles");
    expect(fired(judge(get("/search", "q=1+UNION+SELECT+x", {}, { target: "/search?q=1+UNION+SELECT+x" })))).toContain("probe.sqli");
    expect(fired(judge(get("/", "", { "user-agent": "sqlmap/1.7" })))).toContain("probe.tools");
    expect(judge(get("/products/1", "", { "user-agent": "Mozilla/5.0" })).filter((s) => s.code.startsWith("probe."))).toEqual([]);
    expect(judge(get("/.git/config")).find((s) => s.code === "probe.dotfiles")).toEqual({
      code: "probe.dotfiles", value: 1, weight: 60, fired: true, detail: "matches the dotfiles list (path)",
    });
  });

  it("counts a certain probe as a different probe request per address, and a list with a threshold on its own", () => {
    const plan = planProbing(get("/.env"), config);
    const probe = plan.ops.find((o) => o.op.name === "probe")!;
    expect(probe).toMatchObject({ entity: "ip:ip-1", op: { op: "distinct.add", windowMs: 600_000 } });
    expect((probe.op as { member?: string }).member).toMatch(/^[\w-]{16}$/);
    // An innocent request is counted without a member: it adds nothing, it only reads.
    expect((planProbing(get("/products"), config).ops.find((o) => o.op.name === "probe")!.op as { member?: string }).member).toBeUndefined();
    // The soft list counts its own different requests, and fires only above its threshold.
    expect(judge(get("/admin"), { "probe:soft": 2 }).find((s) => s.code === "probe.soft")).toEqual({
      code: "probe.soft", value: 2, threshold: 2, weight: 20, fired: false, detail: "matches the soft list (request)", windowMs: 600_000,
    });
    expect(judge(get("/admin"), { "probe:soft": 3 }).find((s) => s.code === "probe.soft")!.fired).toBe(true);
    expect(judge(get("/admin"), { probe: 4 }).find((s) => s.code === "ip.probes")).toMatchObject({ value: 4, threshold: 3, weight: 40, fired: true, detail: "probe requests" });
  });

  it("measures missing paths, 401s, user agents and query strings per address above their thresholds", () => {
    const found = judge(get("/x", "a=1", { "user-agent": "ua" }), { "probe.miss": 21, "probe.401": 5, "probe.ua": 5, "probe.qs": 30.004 });
    expect(found.filter((s) => s.code.startsWith("ip.")).map((s) => [s.code, s.value, s.fired])).toEqual([
      ["ip.probes", 0, false],
      ["ip.missing_paths", 21, true],
      ["ip.user_agents", 5, true],
      ["ip.auth_failures", 5, false],
      ["ip.query_flood", 30, false],
    ]);
    // No query, no query count; a user agent an imported log never recorded is not counted.
    const ops = planProbing(get("/x", "", {}, { recordedHeaders: new Set(["host"]) }), config).ops.map((o) => o.op.name);
    expect(ops).not.toContain("probe.qs");
    expect(ops).not.toContain("probe.ua");
  });

  it("judges the share of errors once there are enough requests, capped at 1", () => {
    const ratio = (requests: number, errors: number) => judge(get("/x"), { "probe.req": requests, "probe.err": errors }).find((s) => s.code === "ip.error_ratio");
    expect(ratio(9, 9)).toBeUndefined();
    expect(ratio(10, 5)).toEqual({ code: "ip.error_ratio", value: 0.5, threshold: 0.5, weight: 25, fired: false, windowMs: 600_000 });
    expect(ratio(12, 7)).toMatchObject({ value: 0.58, fired: true });
    expect(ratio(10, 40)!.value).toBe(1);
  });

  it("calls out request lines no browser sends", () => {
    expect(protocolProblem(get("/", "", {}, { protocol: "HTTP/1.1" }))).toBeUndefined();
    expect(protocolProblem(get("/", "", {}, { protocol: "http/2" }))).toBeUndefined();
    expect(protocolProblem(get("/", "", {}, { protocol: "" }))).toBeUndefined();
    expect(protocolProblem(get("/", "", {}, { protocol: "HTTP/7.0" }))).toBe("unknown HTTP version");
    expect(protocolProblem(get("/", "", {}, { method: "CONNECT" }))).toBe("CONNECT (proxy request)");
    expect(protocolProblem(get("/", "", {}, { target: "http://example.com/" }))).toBe("absolute URL (proxy request)");
    expect(judge(get("/", "", {}, { method: "CONNECT" })).find((s) => s.code === "request.bad_protocol")).toEqual({
      code: "request.bad_protocol", value: 1, weight: 35, fired: true, detail: "CONNECT (proxy request)",
    });
    expect(judge(get("/", "", {}, { method: "CONNECT" }), {}, { ...config, protocol: undefined }).find((s) => s.code === "request.bad_protocol")).toBeUndefined();
  });

  it("asks nothing without the probing signals", () => {
    const plan = planProbing(get("/.env"), undefined);
    expect(plan.ops).toEqual([]);
    expect(plan.evaluate([])).toEqual([]);
  });
});

describe("probing outcomes from the access log", () => {
  it("adds an error's path to the missing paths and counts the error, except the site's own missing assets", () => {
    const ops = probingOutcomeOps(config, 404, "/wp-login.php?x=1");
    expect(ops).toEqual([
      { op: "distinct.add", name: "probe.miss", windowMs: 600_000, member: expect.stringMatching(/^[\w-]{16}$/) },
      { op: "window.add", name: "probe.err", windowMs: 600_000, amount: 1 },
    ]);
    // The query is not part of the path: the same path with another query is the same member.
    expect(probingOutcomeOps(config, 404, "/wp-login.php")[0]).toEqual(ops[0]);
    expect(probingOutcomeOps(config, 404, "/static/app.css")).toEqual([{ op: "window.add", name: "probe.err", windowMs: 600_000, amount: 1 }]);
    expect(probingOutcomeOps(config, 403, undefined)).toHaveLength(2);
  });

  it("counts a 401 towards authentication failures, and nothing for a status it does not watch", () => {
    expect(probingOutcomeOps(config, 401, "/x")).toEqual([{ op: "window.add", name: "probe.401", windowMs: 600_000, amount: 1 }]);
    expect(probingOutcomeOps(config, 200, "/x")).toEqual([]);
    expect(probingOutcomeOps(config, 400, "/x")).toEqual([]);
    expect(probingOutcomeOps(undefined, 404, "/x")).toEqual([]);
    // Without missingPaths its default statuses (400, 403, 404) still count errors.
    expect(probingOutcomeOps({ ...config, missingPaths: undefined }, 400, "/x")).toEqual([{ op: "window.add", name: "probe.err", windowMs: 600_000, amount: 1 }]);
  });
});
