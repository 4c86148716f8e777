/**
 * Decision records across replicas, through the real interfaces: two Palisade instances share
 * one real redis-server, Envoy's own protos drive Check. A throttle decided at A is found by its
 * decision id at B with its rationale; floods from one client and from many stay bounded. The
 * figures (records per flood, bytes per record in Redis) are printed.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { analystClient, policyFile, secretsDir, TOKENS } from "../support/analyst.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { responsePolicy } from "../support/response.js";

const PER_MINUTE = 50;
const POLICY = responsePolicy(
  "2026-12-06.1",
  `    - { id: search-throttle, endpoints: [search], when: '"velocity.ip" in reasons', action: throttle, scope: ip }\n`,
  `  response: { decisions: { retention: 1h, perMinute: ${PER_MINUTE} } }`,
);

let redis: RedisServerHandle;
let a: App;
let b: App;
let envoyA: EnvoyAuthzClient;
let envoyB: EnvoyAuthzClient;

beforeAll(async () => {
  redis = await startRedisServer();
  const secrets = secretsDir();
  const settings = { redisUrl: redis.url, policy: policyFile(POLICY), adminTokensFile: secrets.tokens };
  [a, b] = await Promise.all([startTestApp(settings), startTestApp(settings)]);
  envoyA = envoyAuthzClient(`127.0.0.1:${a.grpcPort}`);
  envoyB = envoyAuthzClient(`127.0.0.1:${b.grpcPort}`);
});

afterAll(async () => {
  envoyA?.close();
  envoyB?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

/** RFC 3339 time `minutes` ago. */
const since = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

/** `count` Checks of `path` from `ip(i)`, `parallel` at a time; the answers' metadata. */
async function flood(envoy: EnvoyAuthzClient, count: number, path: string, ip: (i: number) => string, parallel = 32): Promise<Record<string, unknown>[]> {
  const answers: Record<string, unknown>[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, k) => envoy.check({ path, ip: ip(start + k) }));
    for (const answer of await Promise.all(batch)) answers.push(metadata(answer));
  }
  return answers;
}

async function redisFigures(): Promise<{ keys: string[]; bytes: number; aggregates: number }> {
  const admin = new Redis(redis.url);
  try {
    const keys = await admin.keys("palisade:{decisions}:m:*");
    let bytes = 0;
    let aggregates = 0;
    for (const key of keys) {
      bytes += (await admin.memory("USAGE", key, "SAMPLES", 0)) ?? 0;
      aggregates += (await admin.hkeys(key)).filter((field) => field.startsWith("r:")).length;
    }
    return { keys, bytes, aggregates };
  } finally {
    admin.disconnect();
  }
}

describe("decision records across two replicas sharing one Redis", () => {
  it("finds a throttle decided at A by its id at B, with its rationale; a flood of 10,000 denials is one record a minute", async () => {
    const ip = "198.51.100.7";
    const answers = await flood(envoyA, 10_100, "/search", () => ip);
    const denied = answers.filter((m) => m.action === "throttle");
    expect(denied.length).toBeGreaterThanOrEqual(10_000);
    const id = String(denied[0]!.decision_id);
    expect(id).not.toContain(ip);

    const vera = analystClient(b, TOKENS.viewer);
    const found = await vera.get(`/v1/decisions/${encodeURIComponent(id)}`);
    expect(found.status).toBe(200);
    expect(found.text).not.toContain(ip);
    expect(found.body).toMatchObject({ decisionId: id, source: "record", action: "throttle", rule: "search-throttle", scope: "ip", endpoint: "search", policyVersion: "2026-12-06.1" });
    expect(found.body.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ code: "velocity.ip", threshold: 100 })]));
    expect(found.body.reasons.find((r: { code: string }) => r.code === "velocity.ip").value).toBeGreaterThan(100);

    // Every denial's id names a record; A flushes its counts every 2 s.
    await expect
      .poll(async () => {
        const listed = await vera.get(`/v1/decision-records?rule=search-throttle&from=${since(10)}`);
        return listed.body.records?.reduce((n: number, r: { count: number }) => n + r.count, 0);
      }, { timeout: 10_000, interval: 500 })
      .toBe(denied.length);
    const listed = await vera.get(`/v1/decision-records?rule=search-throttle&ip=${ip}`);
    const records = listed.body.records as { count: number; subject: string; minute: string }[];
    expect(records.length).toBeLessThanOrEqual(2); // one per minute the flood spanned
    expect(listed.text).not.toContain(ip);
    const last = await vera.get(`/v1/decisions/${encodeURIComponent(String(denied.at(-1)!.decision_id))}`);
    expect(last.body.record.count).toBeGreaterThan(1);
    const figures = await redisFigures();
    console.log(`flood of ${denied.length} throttles from one address: ${records.length} record(s); redis keys ${figures.keys.length}, ${figures.aggregates} aggregates, ${figures.bytes} bytes`);
  }, 120_000);

  it("keeps a minute to perMinute records when many clients are denied, every id still finding one", async () => {
    const minute = () => Math.floor(Date.now() / 60_000);
    // Start at a fresh minute's beginning when the rest of this one is short, so all falls in one.
    if (Date.now() % 60_000 > 45_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - (Date.now() % 60_000) + 50));
    const before = minute();
    const clients = PER_MINUTE * 3;
    const answers = await flood(envoyB, clients, "/deny", (i) => `100.64.${Math.floor(i / 200)}.${(i % 200) + 1}`);
    expect(answers.every((m) => m.action === "block")).toBe(true);
    expect(minute()).toBe(before);
    const vera = analystClient(a, TOKENS.viewer);
    await expect
      .poll(async () => (await vera.get(`/v1/decision-records?rule=deny&from=${since(5)}&limit=1000`)).body.records?.reduce((n: number, r: { count: number }) => n + r.count, 0), {
        timeout: 10_000,
        interval: 500,
      })
      .toBe(clients);
    type Listed = { overflow: boolean; subject?: string; count: number; minute: string; rule: string };
    const records = (await vera.get(`/v1/decision-records?rule=deny&from=${since(5)}&limit=1000`)).body.records as Listed[];
    // The bound is per minute over every rule: the earlier test's throttle may hold a place too.
    const all = (await vera.get(`/v1/decision-records?from=${since(5)}&limit=1000`)).body.records as Listed[];
    expect(all.filter((r) => r.minute === records[0]!.minute && !r.overflow)).toHaveLength(PER_MINUTE);
    const overflow = records.filter((r) => r.overflow);
    expect(overflow).toHaveLength(1);
    expect(overflow[0]!.count).toBe(clients - records.filter((r) => !r.overflow).length);
    expect(overflow[0]!.subject).toBeUndefined();
    const folded = await vera.get(`/v1/decisions/${encodeURIComponent(String(answers.at(-1)!.decision_id))}`);
    expect(folded.body).toMatchObject({ source: "record", rule: "deny", record: { overflow: true } });
    const figures = await redisFigures();
    console.log(`${clients} addresses blocked in one minute (perMinute ${PER_MINUTE}): ${records.length} records; redis now ${figures.aggregates} aggregates in ${figures.bytes} bytes, ${Math.round(figures.bytes / figures.aggregates)} bytes per aggregate`);
  }, 120_000);

  it("answers unknown and malformed ids with 404, never a crash", async () => {
    const vera = analystClient(a, TOKENS.viewer);
    for (const id of ["nope", "d0-0000000000000000-000000000000-000000000000", `d${"z".repeat(11)}-0123456789abcdef-0123456789ab-0123456789ab`]) {
      expect((await vera.get(`/v1/decisions/${encodeURIComponent(id)}`)).status).toBe(404);
    }
    expect((await vera.get(`/v1/decision-records?from=${since(3 * 24 * 60)}`)).status).toBe(400);
    expect((await vera.get("/v1/decision-records?from=yesterday")).status).toBe(400);
  });
});
