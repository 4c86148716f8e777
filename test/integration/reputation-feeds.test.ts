/**
 * Reputation feeds through the running service: a FireHOL netset file and a Spamhaus DROP list
 * served over HTTP are loaded at start, deny the addresses they list over gRPC, and when the
 * HTTP feed starts failing the last good copy stays in force while /readyz and the metrics say
 * so, without repeating a listed address.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, httpStatus, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath } from "../support/policies.js";

let dir: string;
let app: App;
let client: EnvoyAuthzClient;
let feedServer: Server;
let answer: { status: number; body: string } = { status: 200, body: "; Spamhaus DROP List\n203.0.113.128/25 ; SBL000001\n2001:db8:dead::/48 ; SBL000002\n" };

const check = (ip: string) => client.check({ path: "/static/x.css", ip });
const readyz = async () =>
  ((await (await fetch(`http://127.0.0.1:${app.adminPort}/readyz`)).json()) as { checks: Record<string, string> }).checks;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "palisade-feeds-"));
  feedServer = createServer((request, response) => {
    if (request.url === "/examplebot.json") {
      // Shaped like the range files Google and Bing publish for their crawlers.
      response.writeHead(200, { "content-type": "application/json" });
      return response.end(JSON.stringify({ creationTime: "2026-12-01T00:00:00", prefixes: [{ ipv4Prefix: "192.0.2.128/28" }, { ipv6Prefix: "2001:db8:b07::/48" }] }));
    }
    response.writeHead(answer.status, { "content-type": "text/plain" });
    response.end(answer.body);
  });
  await new Promise<void>((resolve) => feedServer.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(feedServer.address() as AddressInfo).port}/drop.txt?key=secret-api-key`;
  writeFileSync(join(dir, "attackers.netset"), "# FireHOL-style netset\n#\n192.0.2.0/25\n100.64.0.9\n");
  let policy = readFileSync(examplePolicyPath, "utf8").replace(
    "  reputation:\n    lists:\n",
    [
      "  reputation:",
      "    lists:",
      "      - name: feeds",
      "        effect: block",
      "        feeds:",
      "          - source: attackers.netset",
      "            format: netset",
      `          - source: "${url}"`,
      "            format: spamhaus",
      "            refresh: 1h",
      "",
    ].join("\n"),
  );
  const botsUrl = `http://127.0.0.1:${(feedServer.address() as AddressInfo).port}/examplebot.json`;
  policy = policy.replace(
    "    impersonationWeight: 60",
    [
      "      - name: examplebot",
      "        category: search-engine",
      '        userAgent: "ExampleBot/"',
      "        feeds:",
      `          - { source: "${botsUrl}", format: json, refresh: 1d }`,
      "    impersonationWeight: 60",
    ].join("\n"),
  );
  expect(policy).toContain("attackers.netset");
  expect(policy).toContain("examplebot.json");
  writeFileSync(join(dir, "policy.yaml"), policy);
  app = await startTestApp({ policy: join(dir, "policy.yaml") });
  client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  client?.close();
  await app?.stop();
  feedServer?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("denies addresses listed by a file feed and an HTTP feed, IPv4 and IPv6", async () => {
  for (const ip of ["192.0.2.5", "100.64.0.9", "203.0.113.200", "2001:db8:dead::1"]) {
    const response = await check(ip);
    expect(httpStatus(response), ip).toBe(403);
    expect(metadata(response).rule).toBe("list:feeds");
  }
  for (const ip of ["192.0.2.200", "100.64.0.10", "203.0.113.5", "2001:db8:beef::1"]) {
    expect(httpStatus(await check(ip)), ip).toBeUndefined();
  }
  expect((await readyz()).reputationFeeds).toBe("ok");
  expect(app.feeds.status().map((feed) => [feed.list, feed.state, feed.entries])).toEqual([["feeds", "ok", 2], ["feeds", "ok", 2], ["bot:examplebot", "ok", 2]]);
});

it("verifies an allowed bot against the ranges its operator publishes, and flags impersonators", async () => {
  const bot = { "user-agent": "Mozilla/5.0 (compatible; ExampleBot/2.1)" };
  for (const ip of ["192.0.2.130", "2001:db8:b07::5"]) {
    const response = await client.check({ path: "/api/v1/products/1", ip, headers: bot });
    expect(metadata(response), ip).toMatchObject({ action: "allow", rule: "bot:examplebot" });
  }
  const impostor = await client.check({ path: "/api/v1/products/1", ip: "100.64.3.3", headers: bot });
  expect(metadata(impostor).reasons).toContain("bot.impersonation");
});

it("keeps the last good copy when a feed fails, and says so without leaking contents or the URL's key", async () => {
  answer = { status: 503, body: "<html>down</html>" };
  await app.feeds.refreshAll();
  expect(httpStatus(await check("203.0.113.200"))).toBe(403);
  const checks = await readyz();
  expect(checks.reputationFeeds).toBe("failing");
  expect(app.feeds.status()[1]).toMatchObject({ state: "failing", entries: 2, lastError: "HTTP 503" });
  const text = JSON.stringify(checks);
  for (const leak of ["203.0.113", "2001:db8", "192.0.2", "secret-api-key"]) expect(text).not.toContain(leak);
  const metrics = await app.metrics.metricsText();
  expect(metrics).toMatch(/palisade_reputation_feed_loads_total\{list="feeds",feed="1",result="failure"\} 1/);
  expect(metrics).toMatch(/palisade_reputation_feed_entries\{list="feeds",feed="1"\} 2/);
  expect(app.feeds.status()[1]?.source).not.toContain("secret-api-key");
});

it("refuses a feed file outside the policy's folder, like a list file", async () => {
  const { ReputationFeeds } = await import("../../src/app/reputation-feeds.js");
  const { createLogger } = await import("../../src/telemetry/logger.js");
  const outside = mkdtempSync(join(tmpdir(), "palisade-outside-"));
  writeFileSync(join(outside, "secret.txt"), "10.0.0.0/8\n");
  const feeds = new ReputationFeeds({ logger: createLogger({ level: "silent" }), baseDir: dir });
  const policy = app.policy.current();
  const list = { ...policy.lists.find((l) => l.name === "feeds")!, feeds: [{ source: join(outside, "secret.txt"), format: "plain" as const, refreshMs: 3_600_000 }] };
  await feeds.reconcile({ ...policy, lists: [list] });
  expect(feeds.status()[0]).toMatchObject({ state: "failing", entries: 0, lastError: "the file is outside the allowed policy file roots" });
  feeds.stop();
  rmSync(outside, { recursive: true, force: true });
});

it("picks up a changed file on refresh, and an HTML page in place of a list is refused", async () => {
  writeFileSync(join(dir, "attackers.netset"), "198.18.0.0/15\n");
  answer = { status: 200, body: "<html>\n<body>maintenance</body>\n</html>\n" };
  await app.feeds.refreshAll();
  expect(httpStatus(await check("198.19.1.1"))).toBe(403);
  expect(httpStatus(await check("192.0.2.5"))).toBeUndefined();
  // The HTTP feed answered 200 with a page that is not a list: the last good copy stays.
  expect(httpStatus(await check("203.0.113.200"))).toBe(403);
  answer = { status: 200, body: '{"cidr":"203.0.113.0/24","sblid":"SBL3"}\n{"type":"metadata","records":1}\n' };
  await app.feeds.refreshAll();
  expect(httpStatus(await check("203.0.113.5"))).toBe(403);
  expect((await readyz()).reputationFeeds).toBe("ok");
});
