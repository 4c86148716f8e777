/**
 * The default endpoint class through the real Check and access-log services against a real
 * Redis, with the generic-site policy: a scanner probing paths no endpoint names is stopped, a
 * reader of pages no endpoint names is not, a script writing to one unnamed path hundreds of
 * times is stopped (with a made-up cookie each time too) and people behind one carrier address
 * paying once or twice are not.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAccessLogClient, envoyAuthzClient, metadata, type EnvoyAccessLogClient, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { repoRoot } from "../support/policies.js";

const READER = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
  accept: "text/html,application/xhtml+xml",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
};

let redis: RedisServerHandle;
let app: App;
let checks: EnvoyAuthzClient;
let logs: EnvoyAccessLogClient;
let clockMs = Date.now() - 3_600_000;
let requests = 0;

/** One request as Envoy makes it: the Check, then (when allowed) the site's answer in the access log. */
async function visit(ip: string, pathAndQuery: string, status: number, headers: Record<string, string> = READER, method = "GET"): Promise<string> {
  clockMs += 700;
  const requestId = `default-${++requests}`;
  const response = await checks.check({ method, path: pathAndQuery, ip, headers, timeMs: clockMs, requestId });
  const action = String(metadata(response).action);
  const denied = response.status.code !== 0;
  await logs.send([{ requestId, method, path: pathAndQuery, ip, status: denied ? 403 : status, timeMs: clockMs, authzMetadata: response.dynamic_metadata, deniedByAuthz: denied }]);
  return action;
}

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, trustEventTime: true, policy: path.join(repoRoot, "examples", "policies", "generic-site.yaml") });
  checks = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  logs = envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  checks?.close();
  logs?.close();
  await app?.stop();
  await redis?.stop();
});

describe("requests no endpoint names", () => {
  it("quarantines a scanner walking missing paths, and denies its sensitive-file probe at once", async () => {
    const scanner = { "user-agent": "Mozilla/5.0", accept: "*/*" };
    expect(await visit("198.51.100.77", "/.git/config", 404, scanner)).toBe("block");
    clockMs += 180_000; // the block was for that request only; start the walk afresh
    const walk: string[] = [];
    for (let i = 0; i < 20; i++) walk.push(await visit("198.51.100.78", `/${(i * 7919).toString(36)}.php`, 404, scanner));
    const first = walk.findIndex((action) => action !== "allow");
    expect(first).toBeGreaterThanOrEqual(10);
    expect(first).toBeLessThanOrEqual(12);
    expect(walk.slice(first).every((action) => action === "quarantine")).toBe(true);
  });

  it("leaves a reader of unnamed pages alone, broken links included", async () => {
    const actions: string[] = [];
    for (let page = 0; page < 30; page++) {
      actions.push(await visit("203.0.113.40", `/blog/2026/post-${page}`, 200));
      actions.push(await visit("203.0.113.40", `/assets/post-${page}.png`, page % 5 === 0 ? 404 : 200));
    }
    actions.push(await visit("203.0.113.40", "/blog/moved-post", 404));
    actions.push(await visit("203.0.113.40", "/?s=palisade", 200));
    expect(actions.filter((action) => action !== "allow")).toEqual([]);
  });

  it("stops a script testing cards on an unnamed payment path, and lets people behind one carrier address pay", async () => {
    const script = { "user-agent": "python-requests/2.31.0", accept: "*/*", "content-type": "application/json" };
    const tester: string[] = [];
    for (let card = 0; card < 60; card++) tester.push(await visit("192.0.2.99", "/api/checkout/payment", 402, script, "POST"));
    expect(tester.slice(0, 20).every((action) => action === "allow")).toBe(true);
    expect(tester.slice(20).every((action) => action !== "allow")).toBe(true);
    const people: string[] = [];
    for (let phone = 0; phone < 40; phone++) {
      const headers = { ...READER, cookie: `wordpress_logged_in_x=phone-${phone}; PHPSESSID=s-${phone}` };
      for (let attempt = 0; attempt < 2; attempt++) people.push(await visit("100.64.9.9", "/api/checkout/payment", attempt === 0 ? 402 : 200, headers, "POST"));
    }
    expect(people.filter((action) => action !== "allow")).toEqual([]);
  });

  it("stops a script that makes up a cookie for each card: the address is counted whatever its cookies", async () => {
    const tester: string[] = [];
    for (let card = 0; card < 130; card++) {
      const script = { "user-agent": "python-requests/2.31.0", accept: "*/*", "content-type": "application/json", cookie: `sid=made-up-${card}` };
      tester.push(await visit("192.0.2.98", "/api/checkout/payment", 402, script, "POST"));
    }
    expect(tester.slice(0, 100).every((action) => action === "allow")).toBe(true);
    expect(tester.slice(100).every((action) => action !== "allow")).toBe(true);
  });
});
