/**
 * Runtime control of the policy across two replicas sharing one Redis, through gRPC Checks and
 * the analyst API: shadow rules never block; a rollback restores the previous policy's
 * decisions on every replica and survives a file reload until cleared; rules are disabled and
 * numbers overridden at run time; adaptive throttling and friction relief reach the client.
 */
import { renameSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { analystClient, policyFile, secretsDir, TOKENS } from "../support/analyst.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, header, httpStatus, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { responsePolicy } from "../support/response.js";

const ADAPTIVE = `    - { id: adaptive, endpoints: [search], when: "true", action: throttle, scope: ip, limit: { requests: 5, window: 1m, floor: 1 } }\n`;
const v1 = responsePolicy("v1", ADAPTIVE);
/** v2 answers /deny with a challenge instead of a block: an edit an operator may regret. */
const v2 = responsePolicy("v2", ADAPTIVE).replace("{ id: deny, endpoints: [deny], when: \"true\", action: block", "{ id: deny, endpoints: [deny], when: \"true\", action: challenge");

let redis: RedisServerHandle;
let file: string;
const replicas: { app: App; envoy: EnvoyAuthzClient }[] = [];
let ipCounter = 0;
const freshIp = () => `100.65.${Math.floor(++ipCounter / 250)}.${ipCounter % 250}`;

/** Publishes the policy file atomically (as kubelet does) and makes every replica read it now. */
async function publish(text: string): Promise<void> {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
  await Promise.all(replicas.map(({ app }) => app.policy.reload()));
}

/** What each replica answers for a request, as [action, policy_version]. */
async function everywhere(path: string, ip = freshIp()): Promise<[unknown, unknown][]> {
  return Promise.all(replicas.map(async ({ envoy }) => {
    const m = metadata(await envoy.check({ path, ip }));
    return [m.action, m.policy_version] as [unknown, unknown];
  }));
}

beforeAll(async () => {
  redis = await startRedisServer();
  file = policyFile(v1);
  const secrets = secretsDir();
  for (let i = 0; i < 2; i++) {
    const app = await startTestApp({ redisUrl: redis.url, policy: file, adminTokensFile: secrets.tokens });
    replicas.push({ app, envoy: envoyAuthzClient(`127.0.0.1:${app.grpcPort}`) });
  }
});

afterAll(async () => {
  for (const { envoy } of replicas) envoy.close();
  await Promise.all(replicas.map(({ app }) => app.stop()));
  await redis?.stop();
});

const [a, b] = [() => replicas[0]!, () => replicas[1]!];

describe("shadow mode", () => {
  it("never blocks: a shadow quarantine rule is recorded as would-have on every replica", async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++) {
      for (const { envoy } of replicas) {
        const response = await envoy.check({ path: "/shadow", ip });
        expect(response.status.code).toBe(0);
        expect(metadata(response).action).toBe("allow");
      }
    }
    expect(metadata(await a().envoy.check({ path: "/search", ip })).action).toBe("allow");
    const viewer = analystClient(a().app, TOKENS.viewer);
    expect((await viewer.get(`/v1/quarantines?ip=${ip}`)).body.total).toBe(0);
    const decisions = (await viewer.get(`/v1/decisions?ip=${ip}&rule=would-quarantine`)).body.decisions;
    expect(decisions[0]).toMatchObject({ action: "allow", shadowed: [{ rule: "would-quarantine", action: "quarantine" }] });
    await expect.poll(async () => (await viewer.get(`/v1/audit?ip=${ip}&action=shadow.would_have`)).body.records.length).toBe(2);
    expect(await (await fetch(`http://127.0.0.1:${a().app.adminPort}/metrics`)).text()).toMatch(/palisade_shadow_decisions_total\{rule="would-quarantine",action="quarantine"\} 10/);
  });
});

describe("rollback", () => {
  it("restores the previous policy's decisions on every replica, until cleared", async () => {
    expect(await everywhere("/deny")).toEqual([["block", "v1"], ["block", "v1"]]);
    await publish(v2);
    expect(await everywhere("/deny")).toEqual([["challenge", "v2"], ["challenge", "v2"]]);

    const alice = analystClient(b().app, TOKENS.analyst);
    const versions = (await alice.get("/v1/policy/versions")).body.versions;
    expect(versions.map((v: { version: string }) => v.version)).toEqual(["v2", "v1"]);
    const diff = (await alice.get("/v1/policy/diff?from=v1&to=v2")).body.changes;
    expect(diff).toEqual([
      { path: "metadata/version", kind: "changed", from: "v1", to: "v2" },
      { path: "spec/rules/deny/action", kind: "changed", from: "block", to: "challenge" },
    ]);

    const rollback = await alice.post("/v1/policy/rollback", { version: "v1", reason: "v2 challenges partners", expires: "2h" });
    expect(rollback.status).toBe(200);
    expect(rollback.body.effective.version).toBe("v1");
    await expect.poll(() => everywhere("/deny"), { timeout: 1000, interval: 20 }).toEqual([["block", "v1"], ["block", "v1"]]);

    // A file reload does not undo a rollback: clearing it is the explicit step.
    await publish(v2.replace('"v2"', '"v3"'));
    expect(await everywhere("/deny")).toEqual([["block", "v1"], ["block", "v1"]]);
    expect((await alice.get("/v1/policy")).body).toMatchObject({
      effective: { version: "v1" },
      base: { version: "v1" },
      file: { version: "v3" },
      rollback: { version: "v1", fromVersion: "v2", actor: "token:alice" },
    });

    // The reload's record is appended after the reload itself: wait for it, so the trail below
    // is in the order things happened rather than the order two appends happened to land.
    await expect
      .poll(async () => (await alice.get("/v1/audit?order=asc")).body.records.some((r: { action: string; policyVersion: string }) => r.action === "policy.loaded" && r.policyVersion === "v3"))
      .toBe(true);
    expect((await analystClient(a().app, TOKENS.admin).delete("/v1/policy/rollback", { reason: "v3 fixes it" })).status).toBe(200);
    await expect.poll(() => everywhere("/deny"), { timeout: 1000, interval: 20 }).toEqual([["challenge", "v3"], ["challenge", "v3"]]);

    const history = (await alice.get("/v1/audit?order=asc")).body.records.filter((r: { action: string }) => r.action.startsWith("policy."));
    expect(history.map((r: { action: string; actor: string; policyVersion: string }) => [r.action, r.actor, r.policyVersion])).toEqual([
      ["policy.loaded", "system", "v1"],
      ["policy.loaded", "system", "v2"],
      ["policy.rolled_back", "token:alice", "v1"],
      ["policy.loaded", "system", "v3"],
      ["policy.override_cleared", "token:root", "v3"],
    ]);
  });
});

describe("rule disable and threshold overrides", () => {
  it("disables a rule on every replica until it is enabled again", async () => {
    const alice = analystClient(a().app, TOKENS.analyst);
    expect((await alice.post("/v1/rules/trap/disable", { reason: "noisy", expires: "10m" })).status).toBe(200);
    await expect.poll(async () => (await everywhere("/trap")).map(([action]) => action), { timeout: 1000, interval: 20 }).toEqual(["allow", "allow"]);
    const [, version] = (await everywhere("/trap"))[1]!;
    expect(version).toMatch(/^v3\+rt\.[0-9a-f]{6}$/);
    expect((await alice.post("/v1/rules/trap/enable", {})).status).toBe(200);
    await expect.poll(async () => (await everywhere("/trap"))[1]![0], { timeout: 1000, interval: 20 }).toBe("quarantine");
  });

  it("throttles adaptively, with RateLimit headers, and overrides the limit at run time", async () => {
    const ip = freshIp();
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push(httpStatus(await a().envoy.check({ path: "/search", ip })) ?? 200);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const throttled = await b().envoy.check({ path: "/search", ip });
    expect(header(throttled, "ratelimit-policy")).toBe('"default";q=5;w=60');
    expect(header(throttled, "ratelimit")).toBe('"default";r=0;t=60');
    expect(header(throttled, "retry-after")).toBe("60");

    const alice = analystClient(b().app, TOKENS.analyst);
    const raised = await alice.post("/v1/overrides", { path: "rules/adaptive/limit/requests", value: 50, reason: "sale day", expires: "1h" });
    expect(raised.status).toBe(200);
    expect(raised.body.thresholds).toEqual([expect.objectContaining({ path: "rules/adaptive/limit/requests", value: 50, previous: 5, actor: "token:alice" })]);
    await expect.poll(async () => httpStatus(await a().envoy.check({ path: "/search", ip })) ?? 200, { timeout: 1000, interval: 20 }).toBe(200);
    expect((await alice.delete("/v1/overrides?path=rules/adaptive/limit/requests")).status).toBe(200);
    await expect.poll(async () => httpStatus(await a().envoy.check({ path: "/search", ip })), { timeout: 1000, interval: 20 }).toBe(429);
  });
});

describe("friction relief", () => {
  it("waives a challenge for a user who passed one, reported through the outcome endpoint", async () => {
    const user = { "x-user": "dora@example.com" };
    expect(metadata(await a().envoy.check({ path: "/challenge", ip: freshIp(), headers: user })).action).toBe("challenge");
    const reported = await analystClient(b().app, TOKENS.reporter).post("/v1/outcomes", { outcome: "challenge_passed", username: "Dora@Example.com" });
    expect(reported.status).toBe(202);
    const after = metadata(await a().envoy.check({ path: "/challenge", ip: freshIp(), headers: user }));
    expect(after.action).toBe("allow");
    expect(after.reasons).toEqual(["relief.challenge", "friction.waived"]);
    expect(metadata(await a().envoy.check({ path: "/step", ip: freshIp(), headers: user })).action).toBe("step_up");
  });
});
