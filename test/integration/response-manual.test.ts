/**
 * Quarantines an analyst imposes by hand through the API: enforced on the client's next Check,
 * recorded in the audit trail under the token's name and announced to webhooks like a rule's,
 * refused when one is already in force, and lifted by id, by client, or all at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { analystClient, policyFile, secretsDir, TOKENS, webhookReceiver } from "../support/analyst.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { responsePolicy } from "../support/response.js";

let app: App;
let redis: RedisServerHandle;
let envoy: EnvoyAuthzClient;
let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
const alice = () => analystClient(app, TOKENS.analyst);

beforeAll(async () => {
  redis = await startRedisServer();
  hooks = await webhookReceiver();
  const secrets = secretsDir();
  app = await startTestApp({ redisUrl: redis.url, policy: policyFile(responsePolicy("m1")), adminTokensFile: secrets.tokens, webhookUrls: hooks.url, webhookSecretFile: secrets.webhookSecret });
  envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  envoy?.close();
  await app?.stop();
  await redis?.stop();
  await hooks?.close();
});

const actionFor = async (input: Parameters<EnvoyAuthzClient["check"]>[0]) => metadata(await envoy.check(input)).action;

describe("manual quarantines", () => {
  it("quarantines an IP by hand: enforced, audited and announced like a rule's", async () => {
    const ip = "100.69.0.1";
    expect(await actionFor({ path: "/search", ip })).toBe("allow");
    const created = await alice().post("/v1/quarantines", { ip, duration: "1h", reason: "ticket 4711" });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ scope: "ip", rule: "", actor: "token:alice", reason: "ticket 4711", offence: 1 });
    expect(created.body.remainingSeconds).toBeGreaterThan(3590);
    expect(created.text).not.toContain(ip);
    expect(await actionFor({ path: "/search", ip })).toBe("quarantine");

    const audit = (await alice().get(`/v1/audit?ip=${ip}&action=quarantine.created`)).body.records;
    expect(audit).toEqual([expect.objectContaining({ actor: "token:alice", scope: "ip", detail: expect.objectContaining({ quarantineId: created.body.id, reason: "ticket 4711" }) })]);
    await expect.poll(() => hooks.received.filter((h) => h.type === "quarantine.created").length).toBe(1);
    expect(hooks.received.find((h) => h.type === "quarantine.created")).toMatchObject({ verified: true, body: { data: expect.objectContaining({ id: created.body.id, actor: "token:alice" }) } });
  });

  it("refuses a second quarantine of the same client with 409, and lifts by id", async () => {
    const ip = "100.69.0.2";
    const first = await alice().post("/v1/quarantines", { ip, reason: "first" });
    expect(first.status).toBe(201);
    const again = await alice().post("/v1/quarantines", { ip, reason: "again" });
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain(first.body.id);
    expect((await alice().delete(`/v1/quarantines/${first.body.id}`, { reason: "done" })).body.count).toBe(1);
    expect(await actionFor({ path: "/search", ip })).toBe("allow");
  });

  it("takes every scope: a subnet in the policy's size, a username, a pseudonym with its scope", async () => {
    const subnet = await alice().post("/v1/quarantines", { subnet: "100.70.1.0/24", duration: "10m" });
    expect(subnet.body).toMatchObject({ scope: "subnet", subject: "100.70.1.0/24" });
    expect(await actionFor({ path: "/search", ip: "100.70.1.77" })).toBe("quarantine");
    expect((await alice().post("/v1/quarantines", { subnet: "100.70.0.0/16" })).status).toBe(400);

    const user = await alice().post("/v1/quarantines", { username: "Mallory@Example.com" });
    expect(user.body).toMatchObject({ scope: "username" });
    expect(user.text.toLowerCase()).not.toContain("mallory");
    expect(await actionFor({ path: "/step", ip: "100.70.9.9", headers: { "x-user": "mallory@example.com" } })).toBe("quarantine");

    const fingerprint = await alice().post("/v1/quarantines", { fingerprint: "fp-pseudonym-1", duration: "5m" });
    expect(fingerprint.body).toMatchObject({ scope: "fingerprint", subject: "fp-pseudonym-1" });
    const session = await alice().post("/v1/quarantines", { scope: "session", subject: "session-pseudonym-1" });
    expect(session.body).toMatchObject({ scope: "session", subject: "session-pseudonym-1" });
  });

  it("refuses what names no client, or several, or lasts too long, or comes from a viewer", async () => {
    for (const [body, status] of [
      [{ reason: "who?" }, 400],
      [{ ip: "100.69.9.1", username: "x" }, 400],
      [{ ip: "not-an-ip" }, 400],
      [{ subject: "abc" }, 400],
      [{ ip: "100.69.9.1", duration: "soon" }, 400],
      [{ ip: "100.69.9.1", duration: "400d" }, 422],
      [{ ip: "100.69.9.1", rule: "trap" }, 400],
    ] as const) {
      expect((await alice().post("/v1/quarantines", body)).status, JSON.stringify(body)).toBe(status);
    }
    expect((await analystClient(app, TOKENS.viewer).post("/v1/quarantines", { ip: "100.69.9.1" })).status).toBe(403);
    expect(await actionFor({ path: "/search", ip: "100.69.9.1" })).toBe("allow");
  });

  it("lifts by client and all at once with DELETE, recording each lift", async () => {
    await alice().post("/v1/quarantines", { ip: "100.69.1.1" });
    const byIp = await alice().delete("/v1/quarantines?ip=100.69.1.1", { reason: "cleared" });
    expect(byIp.body.count).toBe(1);
    expect((await alice().delete("/v1/quarantines")).status).toBe(400);
    const all = await alice().delete("/v1/quarantines?all=true");
    expect(all.body.count).toBeGreaterThanOrEqual(4);
    expect((await alice().get("/v1/quarantines")).body.total).toBe(0);
    const lifts = (await alice().get("/v1/audit?action=quarantine.lifted&limit=1000")).body.records;
    expect(lifts.length).toBe(1 + 1 + all.body.count);
  });
});
