import { expect, onTestFinished } from "vitest";
import { analystClient, policyFile, secretsDir, TOKENS } from "./analyst.js";
import { startTestApp } from "./app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "./envoy-client.js";
import { responsePolicy } from "./response.js";

/** What a load run saw: every Check's outcome on a timeline (ms since the run started). */
export interface LoadFigures {
  decisions: number;
  /** Checks that failed outright (gRPC error): decisions lost. */
  errors: number;
  /** Decisions made without the shared store (degraded: true). */
  degraded: number;
  /** Sum of the 100 ms slices in which at least one decision was degraded or failed, in seconds. */
  degradedSeconds: number;
  /** First and last degraded (or failed) decision, ms since the start. */
  firstDegradedMs?: number;
  lastDegradedMs?: number;
  /** Decisions per whole second of the run. */
  perSecond: number[];
  /** Degraded or failed decisions after this many ms since the start (see `stop`). */
  degradedAfter: number;
}

/**
 * Keeps `concurrency` Checks in flight against `envoy` (searches from a pool of addresses)
 * until stopped. Figures come from the answers alone, as a proxy in front would see them.
 */
export function checkLoad(envoy: EnvoyAuthzClient, concurrency = 8) {
  const started = performance.now();
  const outcomes: { atMs: number; kind: "ok" | "degraded" | "error" }[] = [];
  let running = true;
  let n = 0;
  const worker = async () => {
    while (running) {
      const ip = `100.90.${(n >> 8) & 255}.${n++ & 255}`;
      try {
        const answer = await envoy.check({ path: "/search", ip });
        outcomes.push({ atMs: performance.now() - started, kind: metadata(answer).degraded === true ? "degraded" : "ok" });
      } catch {
        outcomes.push({ atMs: performance.now() - started, kind: "error" });
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    /** ms since the run started. */
    elapsedMs: () => performance.now() - started,
    /** Stops the load; `settledAfterMs` marks when the topology had recovered. */
    async stop(settledAfterMs = Number.POSITIVE_INFINITY): Promise<LoadFigures> {
      running = false;
      await Promise.all(workers);
      const bad = outcomes.filter((o) => o.kind !== "ok");
      const slices = new Set(bad.map((o) => Math.floor(o.atMs / 100)));
      const perSecond: number[] = [];
      for (const o of outcomes) perSecond[Math.floor(o.atMs / 1000)] = (perSecond[Math.floor(o.atMs / 1000)] ?? 0) + 1;
      return {
        decisions: outcomes.length,
        errors: outcomes.filter((o) => o.kind === "error").length,
        degraded: outcomes.filter((o) => o.kind === "degraded").length,
        degradedSeconds: slices.size / 10,
        firstDegradedMs: bad[0]?.atMs,
        lastDegradedMs: bad.at(-1)?.atMs,
        perSecond: Array.from(perSecond, (count) => count ?? 0),
        degradedAfter: bad.filter((o) => o.atMs > settledAfterMs).length,
      };
    },
  };
}

/** How one topology loses its master: which to kill, and how to know a replica took over. */
export interface Topology {
  /** Printed with the figures, e.g. "cluster 3+3". */
  name: string;
  redisUrl: string;
  /** The master whose death matters (the one holding the response engine's keys). */
  master(): Promise<{ port: number; kill(): Promise<void> }>;
  waitForFailover(deadPort: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The failover scenario both topology tests run: quarantines made before (by hand and by a
 * rule), the master killed under a steady Check load, then what must hold after. `network` is
 * the /16 its client addresses come from (distinct per test). The service stops when the test ends.
 */
export async function killMasterUnderLoad(topology: Topology, network: string): Promise<void> {
  const app = await startTestApp({ redisUrl: topology.redisUrl, policy: policyFile(responsePolicy(`f-${network}`)), adminTokensFile: secretsDir().tokens });
  const envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  onTestFinished(async () => {
    envoy.close();
    await app.stop();
  });
  const alice = analystClient(app, TOKENS.analyst);
  const action = async (path: string, ip: string) => metadata(await envoy.check({ path, ip })).action;

  const byHand = await alice.post("/v1/quarantines", { ip: `${network}.0.1`, duration: "1h", reason: "before the failover" });
  expect(byHand.status, byHand.text).toBe(201);
  expect(await action("/trap", `${network}.0.2`)).toBe("quarantine");
  await sleep(500); // replicas copy asynchronously; give them the writes before the kill

  const load = checkLoad(envoy, 8);
  await sleep(2_000);
  const victim = await topology.master();
  const killedMs = load.elapsedMs();
  await victim.kill();
  await topology.waitForFailover(victim.port);
  const failedOverMs = load.elapsedMs();
  // The client finds the new master (slot refresh, or the sentinels on reconnect); then the store's probe heals.
  await expect.poll(async () => metadata(await envoy.check({ path: "/search", ip: `${network}.9.9` })).degraded, { timeout: 15_000, interval: 100 }).toBe(false);
  const settledMs = load.elapsedMs() + 500;
  await sleep(3_000);
  const figures = await load.stop(settledMs);
  const report = {
    topology: topology.name,
    killedAtS: +(killedMs / 1000).toFixed(1),
    failoverS: +((failedOverMs - killedMs) / 1000).toFixed(1),
    recoveredAfterKillS: +((settledMs - 500 - killedMs) / 1000).toFixed(1),
    ...figures,
  };
  console.log(`failover-figures ${JSON.stringify(report)}`);

  expect(figures.errors).toBe(0); // no Check failed: every one got a decision
  expect(figures.perSecond.slice(0, -1).every((count) => count > 0), JSON.stringify(figures.perSecond)).toBe(true);
  expect(figures.firstDegradedMs ?? killedMs).toBeGreaterThanOrEqual(killedMs - 100);
  expect(figures.degradedAfter).toBe(0);

  // What was made before the kill is still enforced, listed and on record.
  expect(await action("/search", `${network}.0.1`)).toBe("quarantine");
  expect(await action("/search", `${network}.0.2`)).toBe("quarantine");
  expect((await alice.get(`/v1/quarantines/${byHand.body.id}`)).status).toBe(200);
  const created = (await alice.get("/v1/audit?action=quarantine.created")).body.records as { detail: { quarantineId: string } }[];
  expect(created.map((r) => r.detail.quarantineId)).toContain(byHand.body.id);
  expect(created).toHaveLength(2);
  // And admin writes work on the promoted master, atomically with their record.
  expect((await alice.post(`/v1/quarantines/${byHand.body.id}/lift`, { reason: "after the failover" })).status).toBe(200);
  expect((await alice.get("/v1/audit?action=quarantine.lifted")).body.records).toHaveLength(1);
}
