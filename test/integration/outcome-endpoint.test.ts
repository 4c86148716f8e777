/**
 * POST /v1/outcomes: an identity provider reports login and registration outcomes directly. Only a reporter or
 * admin token may; what it reports lands on the same counters as access-log outcomes.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";

const REPORTER = "reporter-token-0123456789abcdef";
const VIEWER = "viewer-token-0123456789abcdefgh";
let app: App;
let redis: RedisServerHandle;
let authz: EnvoyAuthzClient;

function report(body: unknown, token?: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${app.adminPort}/v1/outcomes`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

beforeAll(async () => {
  redis = await startRedisServer();
  const dir = mkdtempSync(join(tmpdir(), "palisade-tokens-"));
  const tokens = join(dir, "tokens.yaml");
  writeFileSync(tokens, `tokens:\n  - { name: idp, role: reporter, token: ${REPORTER} }\n  - { name: dashboard, role: viewer, token: ${VIEWER} }\n`);
  app = await startTestApp({ redisUrl: redis.url, adminTokensFile: tokens });
  authz = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  authz?.close();
  await app?.stop();
  await redis?.stop();
});

describe("POST /v1/outcomes", () => {
  it("rejects missing, wrong and under-privileged tokens with problem documents", async () => {
    const body = { endpoint: "login", outcome: "failure", username: "dave@example.com", ip: "192.0.2.50" };
    const missing = await report(body);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
    expect((await report(body, "not-a-real-token-at-all-xxxxxx")).status).toBe(401);
    expect((await report(body, VIEWER)).status).toBe(403);
  });

  it("rejects malformed reports and unknown endpoints without changing anything", async () => {
    expect((await report("{nope", REPORTER)).status).toBe(400);
    expect((await report({ endpoint: "login", outcome: "maybe" }, REPORTER)).status).toBe(400);
    expect((await report({ endpoint: "search", outcome: "failure" }, REPORTER)).status).toBe(422);
  });

  it("counts reported failures on the same counters the Check reads", async () => {
    for (let i = 0; i < 10; i++) {
      const response = await report({ endpoint: "login", outcome: "failure", username: "dave@example.com", ip: `192.0.2.${60 + i}` }, REPORTER);
      expect(response.status).toBe(202);
    }
    const check = await authz.check({
      method: "POST",
      path: "/api/v1/login",
      ip: "192.0.2.99",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "DAVE@example.com", password: "x" }),
    });
    expect(metadata(check).reasons).toContain("login.failures.username");
  });

  it("teaches a registration reported as created to the account's history, and a bare success or a failure nothing", async () => {
    const answered = async (body: object) => {
      const response = await report(body, REPORTER);
      return [response.status, await response.json()];
    };
    expect(await answered({ endpoint: "signup", outcome: "created", username: "erin@example.com", ip: "192.0.2.120" })).toEqual([202, { accepted: true, taught: true }]);
    expect(await answered({ endpoint: "signup", outcome: "failure", username: "fred@example.com", ip: "192.0.2.121" })).toEqual([202, { accepted: true, taught: false }]);
    // A site hiding which addresses have an account answers a taken one's sign-up as a success:
    // the reporter is told it taught nothing.
    expect(await answered({ endpoint: "signup", outcome: "success", username: "gina@example.com", ip: "192.0.2.123" })).toEqual([202, { accepted: true, taught: false }]);
    const firstSignIn = async (username: string) => {
      const check = await authz.check({ method: "POST", path: "/api/v1/login", ip: "192.0.2.122", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password: "x" }) });
      return metadata(check).reasons as string[];
    };
    expect(await firstSignIn("erin@example.com")).not.toContain("username.never_succeeded");
    expect(await firstSignIn("fred@example.com")).toContain("username.never_succeeded");
    expect(await firstSignIn("gina@example.com")).toContain("username.never_succeeded");
  });

  it("refuses a created account reported for a login endpoint", async () => {
    const response = await report({ endpoint: "login", outcome: "created", username: "hugo@example.com", ip: "192.0.2.124" }, REPORTER);
    expect(response.status).toBe(422);
    expect(((await response.json()) as { detail: string }).detail).toBe('"created" reports a registration; "login" is an authentication endpoint');
  });
});
