/**
 * Account checking through the slow call's bare floor (`campaign.slow.bareFailingAccounts`), on
 * three instances of the service sharing one real redis-server, asked by clients built from
 * Envoy's protos, each login's outcome streamed back to the replica that decided it. A list of the
 * site's own credentials, mostly right, posted from a new address every 20 s, each with a fresh
 * session cookie as a checker gets by loading the form: its right entries are let in until three
 * of its wrong ones failed (`session.bare_login` on every one), then every replica calls the
 * campaign and its next first sign-ins are challenged. The same list from sessions that loaded
 * an asset before the form is not called on three failures: that floor is the bare sessions'.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAccessLogClient, envoyAuthzClient, metadata, type EnvoyAccessLogClient, type EnvoyAuthzClient } from "../support/envoy-client.js";

const CHROME = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
};

let redis: RedisServerHandle;
let replicas: App[] = [];
let authz: EnvoyAuthzClient[] = [];
let logs: EnvoyAccessLogClient[] = [];
/** Each test on its own stretch of event time, past both 30-minute spans of the last one (the call first, as a merge ends it). */
let clockMs = Date.now() - 12 * 3_600_000;
let address = 0;

beforeAll(async () => {
  redis = await startRedisServer();
  replicas = await Promise.all([0, 1, 2].map(() => startTestApp({ redisUrl: redis.url, trustEventTime: true })));
  authz = replicas.map((app) => envoyAuthzClient(`127.0.0.1:${app.grpcPort}`));
  logs = replicas.map((app) => envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`));
}, 60_000);

afterAll(async () => {
  for (const client of [...authz, ...logs]) client.close();
  await Promise.all(replicas.map((app) => app.stop()));
  await redis?.stop();
});

const nextAddress = () => `100.78.${Math.floor(++address / 250)}.${(address % 250) + 1}`;

/** A GET of `path` by a browser session through `replica`. */
async function browse(replica: number, session: string, ip: string, path: string, timeMs: number): Promise<void> {
  await authz[replica]!.check({ method: "GET", path, ip, headers: { ...CHROME, cookie: `sid=${session}` }, timeMs, requestId: randomUUID() });
}

/** A shopper on each replica reads a product and loads its picture: assets after reads reach every replica. */
async function shoppers(startMs: number): Promise<void> {
  for (const replica of [0, 1, 2]) {
    const session = randomUUID();
    const ip = nextAddress();
    await browse(replica, session, ip, "/api/v1/products/12001", startMs + replica * 100);
    await browse(replica, session, ip, "/static/img/products/12001-1.webp", startMs + replica * 100 + 50);
  }
}

/**
 * A login of a new account through `replica` from a new address and session; `shell`: the session
 * loaded an asset first. With an outcome, its 401 or 200 goes back to the same replica when let through.
 */
async function login(replica: number, atMs: number, outcome?: "failed" | "signed in", shell = false): Promise<{ action: string; reasons: string[] }> {
  const requestId = randomUUID();
  const ip = nextAddress();
  const session = randomUUID();
  if (shell) await browse(replica, session, ip, "/static/css/site.css", atMs - 2_000);
  const check = await authz[replica]!.check({
    method: "POST",
    path: "/api/v1/login",
    ip,
    headers: { ...CHROME, "content-type": "application/json", cookie: `sid=${session}` },
    timeMs: atMs,
    requestId,
    body: JSON.stringify({ username: `customer-${randomUUID()}@example.com`, password: `pw-${randomUUID()}` }),
  });
  const { action, reasons } = metadata(check) as { action: string; reasons?: string[] };
  if (outcome && (action === "allow" || action === "step_up")) {
    await logs[replica]!.send([
      { requestId, method: "POST", path: "/api/v1/login", ip, timeMs: atMs, status: outcome === "failed" ? 401 : 200, authzMetadata: check.dynamic_metadata },
    ]);
  }
  return { action, reasons: reasons ?? [] };
}

/** Nine entries 20 s apart over the replicas, every third wrong; then a login on each replica, twice, a few merges later. */
async function checking(shell: boolean): Promise<{ list: { action: string; reasons: string[] }[]; after: { action: string; reasons: string[] }[] }> {
  clockMs += 3 * 3_600_000;
  const startMs = clockMs;
  await shoppers(startMs);
  const list = [];
  for (let i = 0; i < 9; i++) list.push(await login(i % 3, startMs + 10_000 + i * 20_000, i % 3 === 2 ? "failed" : "signed in", shell));
  const endMs = startMs + 10_000 + 9 * 20_000;
  for (const replica of [0, 1, 2]) await login(replica, endMs + replica * 10, undefined, shell);
  const after = [];
  for (const replica of [0, 1, 2]) after.push(await login(replica, endMs + 2_000 + replica * 10, undefined, shell));
  return { list, after };
}

describe("account checking from bare sessions, called by the slow call's bare floor", () => {
  it("is not called on three failures of sessions that loaded the site's assets first: those need failingAccounts", async () => {
    const { list, after } = await checking(true);
    for (const { reasons } of [...list, ...after]) {
      expect(reasons).not.toContain("session.bare_login");
      expect(reasons).not.toContain("site.campaign");
    }
  }, 60_000);

  it("lets the list's first entries in, then challenges its first sign-ins on every replica once three of its wrong ones failed", async () => {
    const { list, after } = await checking(false);
    for (const { reasons } of list) expect(reasons).toContain("session.bare_login");
    // The first eight entries came before the third wrong one's outcome was merged: let in, no call.
    for (const { action, reasons } of list.slice(0, 8)) {
      expect(reasons).not.toContain("site.campaign");
      expect(action).toBe("allow");
    }
    for (const { action, reasons } of after) {
      expect(reasons).toContain("site.campaign");
      expect(action).toBe("challenge");
    }
  }, 60_000);
});
