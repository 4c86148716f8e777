/**
 * The analyst API refuses bad input clearly and changes nothing: missing and wrong tokens,
 * roles that may not write, malformed JSON, unknown fields and ids, invalid values. Typed
 * identifiers are never echoed back, not even in errors. One replica, in-memory backend.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { analystClient, policyFile, secretsDir, TOKENS, type ApiAnswer } from "../support/analyst.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { responsePolicy } from "../support/response.js";

let app: App;
let redis: RedisServerHandle;
let envoy: EnvoyAuthzClient;
const QUARANTINED_IP = "100.67.0.1";

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, policy: policyFile(responsePolicy("api-1")), adminTokensFile: secretsDir().tokens });
  envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  await envoy.check({ path: "/trap", ip: QUARANTINED_IP });
});

afterAll(async () => {
  envoy?.close();
  await app?.stop();
  await redis?.stop();
});

function expectProblem(answer: ApiAnswer, status: number): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.type).toBe("application/problem+json");
  expect(answer.body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String) });
}

const READS = ["/v1/quarantines", "/v1/audit", "/v1/policy", "/v1/policy/versions", "/v1/policy/diff?from=api-1", "/v1/overrides", "/v1/decisions", "/v1/anomalies"];
const WRITES: [string, string, unknown][] = [
  ["POST", "/v1/quarantines/lift", { rule: "trap" }],
  ["POST", "/v1/quarantines/q-1/lift", {}],
  ["POST", "/v1/policy/rollback", { version: "api-1" }],
  ["DELETE", "/v1/policy/rollback", undefined],
  ["POST", "/v1/rules/deny/disable", {}],
  ["POST", "/v1/rules/deny/enable", {}],
  ["POST", "/v1/overrides", { path: "endpoints/search/velocity/ip/threshold", value: 5 }],
  ["DELETE", "/v1/overrides?path=endpoints/search/velocity/ip/threshold", undefined],
];
const call = (client: ReturnType<typeof analystClient>, method: string, path: string, body?: unknown) =>
  method === "POST" ? client.post(path, body) : method === "DELETE" ? client.delete(path, body) : client.get(path);

describe("who may call", () => {
  it("answers nothing but health and metrics without a valid token", async () => {
    for (const path of ["/healthz", "/readyz", "/metrics"]) expect((await fetch(`http://127.0.0.1:${app.adminPort}${path}`)).status).toBe(200);
    for (const token of [undefined, "not-a-real-token-but-long-enough"]) {
      const anonymous = analystClient(app, token);
      for (const path of READS) expectProblem(await anonymous.get(path), 401);
      for (const [method, path, body] of WRITES) expectProblem(await call(anonymous, method, path, body), 401);
    }
    expect((await analystClient(app).get("/v1/policy")).text).not.toContain("api-1");
  });

  it("lets viewers read but not write, and reporters do neither", async () => {
    const viewer = analystClient(app, TOKENS.viewer);
    for (const path of READS) expect((await viewer.get(path)).status, path).toBe(200);
    for (const [method, path, body] of WRITES) expectProblem(await call(viewer, method, path, body), 403);
    expectProblem(await analystClient(app, TOKENS.reporter).get("/v1/quarantines"), 403);
  });
});

describe("bad requests", () => {
  const alice = () => analystClient(app, TOKENS.analyst);

  it.each([
    ["malformed JSON", "POST", "/v1/quarantines/lift", "{rule: trap", 400],
    ["a JSON array", "POST", "/v1/policy/rollback", "[]", 400],
    ["an unknown field", "POST", "/v1/rules/deny/disable", { reason: "x", until: "tomorrow" }, 400],
    ["a duration that is none", "POST", "/v1/rules/deny/disable", { expires: "soon" }, 400],
    ["a duration beyond the maximum", "POST", "/v1/rules/deny/disable", { expires: "400d" }, 422],
    ["an unknown rule", "POST", "/v1/rules/nope/disable", {}, 404],
    ["enabling a rule that is not disabled", "POST", "/v1/rules/deny/enable", {}, 404],
    ["both version and id", "POST", "/v1/policy/rollback", { version: "api-1", id: "abc" }, 400],
    ["neither version nor id", "POST", "/v1/policy/rollback", { reason: "x" }, 400],
    ["an unknown version", "POST", "/v1/policy/rollback", { version: "1999-01-01" }, 404],
    ["a rollback to the version in force", "POST", "/v1/policy/rollback", { version: "api-1" }, 409],
    ["clearing a rollback that is not there", "DELETE", "/v1/policy/rollback", undefined, 404],
    ["a path to no number", "POST", "/v1/overrides", { path: "endpoints/nope/velocity/ip/threshold", value: 5 }, 404],
    ["a value the policy forbids", "POST", "/v1/overrides", { path: "endpoints/search/velocity/ip/threshold", value: -3 }, 422],
    ["a value that is not a number", "POST", "/v1/overrides", { path: "endpoints/search/velocity/ip/threshold", value: "5" }, 400],
    ["clearing an override that is not there", "DELETE", "/v1/overrides?path=endpoints/search/velocity/ip/threshold", undefined, 404],
    ["clearing an override without a path", "DELETE", "/v1/overrides", undefined, 400],
    ["an unknown quarantine id", "POST", "/v1/quarantines/q-00000000/lift", {}, 404],
    ["a lift that names nothing", "POST", "/v1/quarantines/lift", { reason: "everything?" }, 400],
    ["a lift that matches nothing", "POST", "/v1/quarantines/lift", { ip: "100.67.9.9" }, 404],
    ["two look-ups at once", "POST", "/v1/quarantines/lift", { ip: "100.67.0.1", username: "x" }, 400],
    ["an unknown scope", "POST", "/v1/quarantines/lift", { scope: "planet", rule: "trap" }, 400],
    ["a since that is no time", "POST", "/v1/quarantines/lift", { rule: "trap", since: "last tuesday" }, 400],
    ["an unknown quarantine", "GET", "/v1/quarantines/q-nope", undefined, 404],
    ["an IP that is none", "GET", "/v1/quarantines?ip=999.1.1.1", undefined, 400],
    ["a limit out of range", "GET", "/v1/quarantines?limit=0", undefined, 400],
    ["an audit cursor that is none", "GET", "/v1/audit?cursor=yesterday", undefined, 400],
    ["an audit time that is none", "GET", "/v1/audit?from=yesterday", undefined, 400],
    ["an audit order that is none", "GET", "/v1/audit?order=random", undefined, 400],
    ["a diff without from", "GET", "/v1/policy/diff", undefined, 400],
    ["a diff from an unknown version", "GET", "/v1/policy/diff?from=nope", undefined, 404],
    ["an unknown kept version", "GET", "/v1/policy/versions/nope", undefined, 404],
    ["an unknown flagged decision", "GET", "/v1/decisions/nope", undefined, 404],
  ] as const)("refuses %s", async (_what, method, path, body, status) => {
    expectProblem(await call(alice(), method, path, body), status);
  });

  it("answers a wrong method with 405 and an unknown route with 404", async () => {
    expectProblem(await alice().delete("/v1/overrides/nothing"), 404);
    expectProblem(await alice().delete("/v1/anomalies"), 405);
    expectProblem(await alice().get("/v1/nothing-here"), 404);
  });

  it("never echoes a typed identifier, not even in an error", async () => {
    for (const answer of [
      await alice().get("/v1/quarantines?ip=100.67.0.1"),
      await alice().get("/v1/audit?username=Secret.User@example.com"),
      await alice().post("/v1/quarantines/lift", { username: "Secret.User@example.com" }),
      await alice().get("/v1/quarantines?ip=100.67.0.1.5"),
    ]) {
      expect(answer.text).not.toContain("100.67.0.1");
      expect(answer.text.toLowerCase()).not.toContain("secret.user");
    }
  });

  it("changed nothing after all of that", async () => {
    const viewer = analystClient(app, TOKENS.viewer);
    const policy = (await viewer.get("/v1/policy")).body;
    expect(policy).toMatchObject({ effective: { version: "api-1" }, disabledRules: [], thresholds: [] });
    expect(policy.rollback).toBeUndefined();
    const writes = (await viewer.get("/v1/audit")).body.records.filter((r: { actor: string }) => r.actor !== "system");
    expect(writes).toEqual([]);
    expect((await viewer.get(`/v1/quarantines?ip=${QUARANTINED_IP}`)).body.total).toBe(1);
    expect(metadata(await envoy.check({ path: "/search", ip: QUARANTINED_IP })).action).toBe("quarantine");
  });
});
