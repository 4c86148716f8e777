import { expect, onTestFinished } from "vitest";
import { analystClient, policyFile, secretsDir, TOKENS } from "./analyst.js";
import { startTestApp } from "./app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "./envoy-client.js";
import { responsePolicy } from "./response.js";
import { waitForReplicasToCatchUp } from "../helpers/redis-topologies.js";

/** When the topology lost and regained its master, in ms since the load started. */
export interface FailoverMarks {
  killedMs: number;
  failedOverMs: number;
  /** From here on no Check sent may be degraded. */
  settledMs: number;
}

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
  /** Decisions per whole second of the run (printed only: a loaded machine can starve any one second). */
  perSecond: number[];
  /** Checks sent after the kill and answered before the failover had finished. */
  answeredWhileDown: number;
  /** Checks sent after `settledMs` whose decision was degraded or failed. */
  degradedAfter: number;
}

/**
 * Keeps `concurrency` Checks in flight against `envoy` (searches from a pool of addresses)
 * until stopped. Figures come from the answers alone, as a proxy in front would see them.
 */
export function checkLoad(envoy: EnvoyAuthzClient, concurrency = 8) {
  const started = performance.now();
  const outcomes: { sentMs: number; atMs: number; kind: "ok" | "degraded" | "error" }[] = [];
  let running = true;
  let n = 0;
  const worker = async () => {
    while (running) {
      const ip = `100.90.${(n >> 8) & 255}.${n++ & 255}`;
      const sentMs = performance.now() - started;
      try {
        const answer = await envoy.check({ path: "/search", ip });
        outcomes.push({ sentMs, atMs: performance.now() - started, kind: metadata(answer).degraded === true ? "degraded" : "ok" });
      } catch {
        outcomes.push({ sentMs, atMs: performance.now() - started, kind: "error" });
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    /** ms since the run started. */
    elapsedMs: () => performance.now() - started,
    /** Checks answered so far (decided or failed). */
    answered: () => outcomes.length,
    /** Stops the load; `marks` say when the master died and when the topology had recovered. */
    async stop(marks: FailoverMarks): Promise<LoadFigures> {
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
        answeredWhileDown: outcomes.filter((o) => o.kind !== "error" && o.sentMs >= marks.killedMs && o.atMs <= marks.failedOverMs).length,
        degradedAfter: bad.filter((o) => o.sentMs > marks.settledMs).length,
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
  const victim = await topology.master();
  // Replicas copy asynchronously: the writes above must be on them before the kill.
  await waitForReplicasToCatchUp(victim.port);

  const concurrency = 8;
  const load = checkLoad(envoy, concurrency);
  // Steady load before the kill: two seconds in, and answers already coming back.
  await expect.poll(() => load.elapsedMs() >= 2_000 && load.answered() >= 2 * concurrency, { timeout: 30_000, interval: 100 }).toBe(true);
  const killedMs = load.elapsedMs();
  await victim.kill();
  await topology.waitForFailover(victim.port);
  const failedOverMs = load.elapsedMs();
  // The client finds the new master (slot refresh, or the sentinels on reconnect); then the store's probe heals.
  await expect.poll(async () => metadata(await envoy.check({ path: "/search", ip: `${network}.9.9` })).degraded, { timeout: 15_000, interval: 100 }).toBe(false);
  const settledMs = load.elapsedMs() + 500;
  await sleep(3_000);
  const figures = await load.stop({ killedMs, failedOverMs, settledMs });
  const report = {
    topology: topology.name,
    killedAtS: +(killedMs / 1000).toFixed(1),
    failoverS: +((failedOverMs - killedMs) / 1000).toFixed(1),
    recoveredAfterKillS: +((settledMs - 500 - killedMs) / 1000).toFixed(1),
    ...figures,
  };
  console.log(`failover-figures ${JSON.stringify(report)}`);

  expect(figures.errors).toBe(0); // no Check failed: every one got a decision
  expect(figures.answeredWhileDown).toBeGreaterThan(0); // deciding went on without the master
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
