import { afterAll, describe, expect, it } from "vitest";
import { testDecisionCore } from "../../test/support/decision-core.js";
import { repoRoot } from "../../test/support/policies.js";
import { PolicyError } from "../policy/compile.js";
import { parsePolicyText } from "../policy/loader.js";
import { RECORDED_HEADERS_EXTENSION, type HttpAttributes } from "../domain/request.js";
import { decodeFully } from "../detection/probes.js";

const T0 = Date.UTC(2026, 11, 3, 9);
const BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

/** The generic-site policy with its shipped lists, in the server's decision core on one in-memory store. */
const cores: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const core of cores) await core.stop();
});

async function site() {
  let now = T0;
  const core = await testDecisionCore(`${repoRoot}examples/policies/generic-site.yaml`, { clock: { now: () => now } });
  cores.push(core);
  const { pipeline, outcomes } = core;
  return {
    /** One request and, when allowed, the site's answer through the access log. */
    async send(ip: string, path: string, status: number, extra: Partial<HttpAttributes> = {}) {
      now += 500;
      const attrs: HttpAttributes = { method: "GET", path, timeMs: now, headers: new Map([["x-forwarded-for", ip], ["user-agent", BROWSER]]), ...extra };
      const { decision } = await pipeline.evaluate(attrs);
      const denied = decision.action !== "allow" && decision.action !== "step_up";
      if (!denied) {
        await outcomes.record({ timeMs: now, method: attrs.method, path, statusCode: status, clientAddress: ip, responseHeaders: new Map(), attribution: undefined });
      }
      return decision;
    },
  };
}

describe("full percent-decoding", () => {
  it("undoes double and triple encoding, and reads backslashes as slashes", () => {
    expect(decodeFully("/%252E%252E%252Ffoo")).toBe("/../foo");
    expect(decodeFully("/%25252e%25252e/x")).toBe("/../x");
    expect(decodeFully("/a%5c..%5cwin.ini")).toBe("/a/../win.ini");
    expect(decodeFully("/bad%zz%")).toBe("/bad%zz%");
  });
});

describe("the default endpoint class", () => {
  it("blocks a request for a sensitive file, an exploit path or from an attack tool on paths no endpoint names", async () => {
    const s = await site();
    expect((await s.send("192.0.2.1", "/.env", 404)).rule).toBe("probe");
    expect((await s.send("192.0.2.2", "/%252E%252E%252Fetc%252Fpasswd", 404)).reasons.map((r) => r.code)).toContain("probe.exploits");
    expect((await s.send("192.0.2.3", "/", 200, { headers: new Map([["x-forwarded-for", "192.0.2.3"], ["user-agent", "Mozilla/5.00 (Nikto/2.1.6)"]]) })).action).toBe("block");
    expect((await s.send("192.0.2.4", "/", 200, { headers: new Map([["x-forwarded-for", "192.0.2.4"], ["referer", "${jndi:ldap://x/a}"]]) })).reasons.map((r) => r.code)).toContain("probe.jndi");
    expect((await s.send("192.0.2.5", "/search?q=1%27%20union%20select%20password%20from%20users", 200)).action).toBe("block");
    expect((await s.send("192.0.2.6", "/", 400, { protocol: "HTTP/1.2" })).reasons.map((r) => r.code)).toContain("request.bad_protocol");
  });

  it("quarantines a client that keeps asking for paths that do not exist, and leaves a reader alone", async () => {
    const s = await site();
    const scanner = [];
    for (let i = 0; i < 15; i++) scanner.push((await s.send("198.51.100.9", `/page-${i}`, 404)).action);
    expect(scanner.slice(0, 11).every((action) => action === "allow")).toBe(true);
    expect(scanner.slice(11).every((action) => action === "quarantine")).toBe(true);
    const reader = [];
    for (let i = 0; i < 40; i++) reader.push((await s.send("198.51.100.20", `/blog/post-${i}`, 200)).action);
    reader.push((await s.send("198.51.100.20", "/favicon.ico", 404)).action);
    reader.push((await s.send("198.51.100.20", "/blog/old-post", 404)).action);
    expect(reader.every((action) => action === "allow")).toBe(true);
  });

  it("lets a soft list fire only above its threshold of different requests", async () => {
    const s = await site();
    expect((await s.send("203.0.113.7", "/?author=1", 200)).action).toBe("allow");
    expect((await s.send("203.0.113.7", "/?author=1", 200)).action).toBe("allow");
    const walk = [];
    for (let id = 2; id <= 7; id++) walk.push((await s.send("203.0.113.7", `/?author=${id}`, 200)).action);
    expect(walk).toEqual(["allow", "allow", "allow", "allow", "block", "block"]);
  });

  it("does not call a browser without accept headers a script when the log never recorded them", async () => {
    const s = await site();
    const imported = await s.send("192.0.2.50", "/blog/", 200, { contextExtensions: new Map([[RECORDED_HEADERS_EXTENSION, "user-agent,referer"]]) });
    expect(imported.reasons.map((r) => r.code)).not.toContain("client.automation");
    const live = await s.send("192.0.2.51", "/blog/", 200);
    expect(live.reasons.map((r) => r.code)).toContain("client.automation");
  });
});

describe("probe lists in the policy", () => {
  it("reports a pattern that is not a regular expression by list and place", () => {
    const text = `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: p }
spec:
  signals:
    probing:
      lists:
        - { name: bad, patterns: ["/ok", "(unclosed"] }
        - { name: missing, files: [nowhere.txt] }
`;
    expect(() => parsePolicyText(text, "p.yaml")).toThrow(PolicyError);
    try {
      parsePolicyText(text, "p.yaml");
    } catch (error) {
      expect((error as PolicyError).issues.map((i) => i.path)).toEqual(["spec.signals.probing.lists[0].patterns[1]", "spec.signals.probing.lists[1].files[0]"]);
    }
  });
});
