import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";
import { runReplay } from "../../src/lab/replay/run.js";
import { examplePolicyPath } from "../support/policies.js";
import { replayFile, tempFile } from "./support.js";

/** The shared workspace's real Apache log (10,000 lines); never copied into the repository. */
const SHARED_DATA = path.join(repoRoot, "..", "shared", "data");
const APACHE_LOGS = path.join(SHARED_DATA, "apache_logs.gz");

describe("Envoy JSON access logs", () => {
  const lines = [
    // Envoy's default format as JSON keys named after the command operators.
    { START_TIME: "2026-03-02T09:00:00.000Z", "REQ(:METHOD)": "POST", "REQ(X-ENVOY-ORIGINAL-PATH?:PATH)": "/api/v1/login", PROTOCOL: "HTTP/1.1", RESPONSE_CODE: 401, RESPONSE_FLAGS: "-", DURATION: 120, "REQ(X-FORWARDED-FOR)": "192.0.2.200", "REQ(USER-AGENT)": "curl/8.5.0", "REQ(X-REQUEST-ID)": "r-1", "REQ(:AUTHORITY)": "shop.example" },
    // Istio-style snake_case keys, with %…% kept by some configurations.
    { "%START_TIME%": "2026-03-02T09:00:01.000Z", method: "GET", path: "/api/v1/products/7", response_code: "200", response_flags: "-", duration: "15", x_forwarded_for: "192.0.2.201", user_agent: "Mozilla/5.0", request_id: "r-2", authority: "shop.example", downstream_remote_address: "10.0.0.7:51000" },
    // Denied by ext_authz when it was recorded.
    { start_time: "2026-03-02T09:00:02.000Z", method: "POST", path: "/api/v1/login", response_code: 403, response_flags: "UAEX", x_forwarded_for: "192.0.2.200", request_id: "r-3" },
  ];

  it("reads operator-named and snake_case keys into Checks and access-log entries", async () => {
    const file = tempFile(lines.map((line) => JSON.stringify(line)).join("\n") + "\n", "envoy.log");
    const { result, outcomes } = await replayFile(file);
    expect(result.problems).toEqual([]);
    expect(result.events).toEqual({ checks: 3, accessLogs: 3, history: 0 });
    expect(outcomes.map((r) => [r.requestId, r.method, r.path, r.statusCode])).toEqual([
      ["r-1", "POST", "/api/v1/login", 401],
      ["r-2", "GET", "/api/v1/products/7", 200],
      ["r-3", "POST", "/api/v1/login", 403],
    ]);
    expect(result.scenarios.map((s) => [s.scenario, s.unlabelled.requests])).toEqual([["imported", 3]]);
  });

  it("reports a line without a start time and goes on", async () => {
    const file = tempFile([JSON.stringify(lines[0]), JSON.stringify({ path: "/x", start_time: "yesterday" }), JSON.stringify(lines[1])].join("\n") + "\n", "envoy-bad.log");
    const { result } = await replayFile(file, { format: "envoy" });
    expect(result.problems).toEqual([{ line: 2, kind: "invalid", message: expect.stringContaining("start time"), skipped: true }]);
    expect(result.events.checks).toBe(2);
  });
});

describe("Apache common and combined log format", () => {
  it("reads both forms and reports a line that is neither", async () => {
    const file = tempFile(
      [
        '192.0.2.10 - - [02/Mar/2026:10:00:00 +0100] "GET /api/v1/search?q=tent HTTP/1.1" 200 5120',
        '192.0.2.11 - frank [02/Mar/2026:10:00:01 +0100] "POST /api/v1/login HTTP/1.1" 401 88 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)"',
        "garbage that is no log line",
        '192.0.2.12 - - [02/Mar/2026:10:00:02 +0100] "GET /static/app.js HTTP/1.1" 304 -',
      ].join("\n") + "\n",
      "access.log",
    );
    const { result, outcomes } = await replayFile(file);
    expect(result.problems).toEqual([{ line: 3, kind: "unparsable", message: "not in common or combined log format", skipped: true }]);
    expect(outcomes.map((r) => [r.path, r.statusCode, r.timeMs])).toEqual([
      ["/api/v1/search?q=tent", 200, Date.parse("2026-03-02T09:00:00Z")],
      ["/api/v1/login", 401, Date.parse("2026-03-02T09:00:01Z")],
      ["/static/app.js", 304, Date.parse("2026-03-02T09:00:02Z")],
    ]);
  });

  it.skipIf(!existsSync(SHARED_DATA))(`backtests the example policy on a real site's log (${APACHE_LOGS})`, async () => {
    const { result } = await replayFile(APACHE_LOGS);
    expect(result.events.checks).toBe(10_000);
    expect(result.events.accessLogs).toBe(10_000);
    // Apache writes a line when the response ends, stamped with the request's start: slow
    // responses land after later requests. Replay puts them back in order; none is too late.
    expect(result.problems).toEqual([expect.objectContaining({ kind: "out_of_order", skipped: false, message: expect.stringContaining("replayed in time order") })]);
    // None of its paths are storefront endpoints, but the storefront names what it never serves
    // (WordPress, Joomla, database admin): the log's probes for those are denied, with the requests
    // after them from the same addresses (45, docs/default-endpoint.md), and nothing like a reader's share.
    expect(result.scenarios[0]!.unlabelled.requests).toBe(10_000);
    expect(result.scenarios[0]!.unlabelled.denied).toBeGreaterThan(0);
    expect(result.scenarios[0]!.unlabelled.denied).toBeLessThan(100);
  });

  it.skipIf(!existsSync(SHARED_DATA))("prints request ids and pseudonyms, never the log's addresses, when comparing policies", async () => {
    const strict = tempFile(
      (await import("node:fs")).readFileSync(examplePolicyPath, "utf8").replace("name: static\n      match: { pathPrefix: /static/ }", "name: static\n      match: { pathPrefix: / }\n      velocity:\n        ip: { window: 1m, threshold: 20, weight: 30 }") +
        "    - { id: everything-fast, endpoints: [static], when: '\"velocity.ip\" in reasons', action: throttle, scope: ip }\n",
      "strict.yaml",
    );
    const { text, result } = await runReplay({ input: APACHE_LOGS, policy: strict, compare: examplePolicyPath, json: false, format: "auto", scenario: "apache", maxDisorderMs: 60_000, examples: 3, progress: false });
    expect(text).toMatch(/allow → throttle\s+\d+/);
    expect(text).toMatch(/examples \(request id/);
    expect(text).not.toMatch(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/); // no IPv4 address anywhere
    expect(result.scenarios[0]!.unlabelled.denied).toBeGreaterThan(0);
  });
});

if (!existsSync(SHARED_DATA)) {
  console.warn(`skipping the real-log tests: ${SHARED_DATA} is absent (the shared workspace is not beside this repository)`);
}
