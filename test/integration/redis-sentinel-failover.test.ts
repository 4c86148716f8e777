/**
 * A Sentinel set (a master, one replica, three sentinels with quorum 2) loses its master while
 * Checks keep coming; the sentinels promote the replica. Palisade must not crash, must keep
 * deciding (degraded only during the failover), and the quarantines and audit records made
 * before must survive on the promoted replica. The figures (decisions lost to errors, seconds
 * degraded) are printed as one JSON line, `failover-figures`.
 */
import { afterAll, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { privateRedisUnsupported } from "../helpers/redis-server.js";
import { startSentinelSet, type SentinelSetHandle } from "../helpers/redis-topologies.js";
import { analystClient, policyFile, secretsDir, TOKENS } from "../support/analyst.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { checkLoad } from "../support/failover-load.js";
import { responsePolicy } from "../support/response.js";

let sentinel: SentinelSetHandle | undefined;
let app: App | undefined;
let envoy: EnvoyAuthzClient | undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterAll(async () => {
  envoy?.close();
  await app?.stop();
  await sentinel?.stop();
});

it.skipIf(privateRedisUnsupported)(
  "Sentinel master killed under load: no crash, decisions continue, degraded only during the failover, quarantines and audit survive",
  async () => {
    sentinel = await startSentinelSet();
    app = await startTestApp({ redisUrl: sentinel.url, policy: policyFile(responsePolicy("sf1")), adminTokensFile: secretsDir().tokens });
    envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
    const alice = analystClient(app, TOKENS.analyst);
    const action = async (path: string, ip: string) => metadata(await envoy!.check({ path, ip })).action;

    const byHand = await alice.post("/v1/quarantines", { ip: "100.73.0.1", duration: "1h", reason: "before the failover" });
    expect(byHand.status, byHand.text).toBe(201);
    expect(await action("/trap", "100.73.0.2")).toBe("quarantine");
    await sleep(500); // replicas copy asynchronously; give them the writes before the kill

    const load = checkLoad(envoy, 8);
    await sleep(2_000);
    const victim = sentinel.master;
    const killedMs = load.elapsedMs();
    await victim.kill();
    await sentinel.waitForFailover(victim.port);
    const failedOverMs = load.elapsedMs();
    // The client asks the sentinels for the new master when it reconnects; then the store's probe heals.
    await expect.poll(async () => metadata(await envoy!.check({ path: "/search", ip: "100.73.9.9" })).degraded, { timeout: 15_000, interval: 100 }).toBe(false);
    const settledMs = load.elapsedMs() + 500;
    await sleep(3_000);
    const figures = await load.stop(settledMs);
    const report = {
      topology: "sentinel 1+1, 3 sentinels",
      killedAtS: +(killedMs / 1000).toFixed(1),
      sentinelFailoverS: +((failedOverMs - killedMs) / 1000).toFixed(1),
      recoveredAfterKillS: +((settledMs - 500 - killedMs) / 1000).toFixed(1),
      ...figures,
    };
    console.log(`failover-figures ${JSON.stringify(report)}`);

    expect(figures.errors).toBe(0); // no Check failed: every one got a decision
    expect(figures.perSecond.slice(0, -1).every((count) => count > 0), JSON.stringify(figures.perSecond)).toBe(true);
    expect(figures.firstDegradedMs ?? killedMs).toBeGreaterThanOrEqual(killedMs - 100);
    expect(figures.degradedAfter).toBe(0);

    // What was made before the kill is still enforced, listed and on record.
    expect(await action("/search", "100.73.0.1")).toBe("quarantine");
    expect(await action("/search", "100.73.0.2")).toBe("quarantine");
    expect((await alice.get(`/v1/quarantines/${byHand.body.id}`)).status).toBe(200);
    const created = (await alice.get("/v1/audit?action=quarantine.created")).body.records as { detail: { quarantineId: string } }[];
    expect(created.map((r) => r.detail.quarantineId)).toContain(byHand.body.id);
    expect(created).toHaveLength(2);
    // And admin writes work on the promoted master, atomically with their record.
    expect((await alice.post(`/v1/quarantines/${byHand.body.id}/lift`, { reason: "after the failover" })).status).toBe(200);
    expect((await alice.get("/v1/audit?action=quarantine.lifted")).body.records).toHaveLength(1);
  },
  60_000,
);
