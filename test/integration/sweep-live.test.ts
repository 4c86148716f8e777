/**
 * Sweep points through the live service: the compact sweep's traffic replayed over gRPC (Checks
 * and StreamAccessLogs from clients built with Envoy's protos) into `serve --trust-event-time`
 * on a real redis-server, one fresh server and store per point, so "the first minute" is the
 * first minute after start-up. Quarantines hold here (the response engine runs), so these
 * figures can exceed the offline ones of test/lab/sweep.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { grpcTarget } from "../../src/lab/replay/grpc-target.js";
import { runSweep, type SweepRow } from "../../src/lab/sweep/run.js";
import { loadSweepFile, sweepPoints } from "../../src/lab/sweep/sweep-file.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { examplePolicyPath, repoRoot } from "../support/policies.js";

let redis: RedisServerHandle | undefined;
let app: App | undefined;

afterEach(async () => {
  await app?.stop();
  await redis?.stop();
  app = redis = undefined;
});

/** One family of the compact sweep, replayed into a server of its own. */
async function live(family: string): Promise<SweepRow> {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, trustEventTime: true });
  const file = await loadSweepFile(`${repoRoot}test/lab/fixtures/sweep-compact.yaml`);
  const address = `127.0.0.1:${app.grpcPort}`;
  const [row] = await runSweep(sweepPoints(file, "sweep-compact.yaml", [family]), { policy: examplePolicyPath, seeds: file.seeds, target: () => grpcTarget(address) });
  return row!;
}

const measured = (row: SweepRow) =>
  `measured: ${((row.mitigatedShare ?? 0) * 100).toFixed(1)}% mitigated after ${row.requestsBeforeFirstMitigation} requests, ` +
  `${row.legitFriction} of ${row.legitRequests} legitimate requests with friction`;

describe("sweep points through gRPC on Redis", () => {
  it("token binding: a thief with the victim's cookie jar and headers is stopped at his first use", async () => {
    const row = await live("token-replay");
    // Measured 92.9% (26 of 28), the first denial after 2 requests (45.9% after 8 before the
    // handoff check). A thief holding the whole jar shows at his first use: another network
    // beside the token's last use, sooner than one app refreshes. One legitimate request of 587
    // (0.17%) is a victim's own refresh in the very second of the thief's first use: whichever
    // comes first binds the token, the other is flagged, and the session must sign in again.
    expect(row.mitigatedShare ?? 0, measured(row)).toBeGreaterThanOrEqual(0.9);
    expect(row.requestsBeforeFirstMitigation, measured(row)).toBeLessThanOrEqual(4);
    expect(row.frictionShare ?? 0, measured(row)).toBeLessThanOrEqual(0.002);
  }, 300_000);

  it("a stuffing campaign from the first second to the end of the window, one login per address", async () => {
    const row = await live("distributed-stuffing");
    // Measured 92.5% (663 of 717), first denial after 21 requests (7.7 s), no legitimate friction;
    // 99.4% after 4 requests since the early campaign call (campaign.early), which asks 2 of 514
    // legitimate requests (0.39%) for a second factor: first sign-ins of new accounts in the
    // attack's first seconds. Target 0.1% (issue 13), not met here; the ceiling is what it measures.
    expect(row.mitigatedShare ?? 0, measured(row)).toBeGreaterThanOrEqual(0.85);
    expect(row.frictionShare ?? 0, measured(row)).toBeLessThanOrEqual(0.004);
  }, 300_000);

  it("cohorts without a baseline: credential checking from the first second to the end, one login per address, half the credentials valid", async () => {
    const row = await live("credential-checking");
    // Offline: 96.1%, two accounts taken over. Residential addresses with a browser's full header
    // set but none of the storefront's cookies and no page loaded form a cohort at five members.
    expect(row.mitigatedShare ?? 0, measured(row)).toBeGreaterThanOrEqual(0.9);
    expect(row.accountsTakenOver, measured(row)).toBeLessThanOrEqual(5);
    expect(row.frictionShare ?? 0, measured(row)).toBeLessThanOrEqual(0.001);
  }, 300_000);

  it("cohorts without a baseline: a catalogue scraped from 300 addresses for the whole window", async () => {
    const row = await live("distributed-scraping");
    // Offline: 97.7%, 15 ids scraped (30.3% before cohorts).
    expect(row.mitigatedShare ?? 0, measured(row)).toBeGreaterThanOrEqual(0.9);
    expect(row.frictionShare ?? 0, measured(row)).toBeLessThanOrEqual(0.001);
  }, 300_000);

  it("a carrier CGNAT with hundreds of shoppers behind one address gets no friction", async () => {
    const row = await live("mobile-cgnat");
    // Measured 0 of 1,341 (18.5% before catalogue counts became per client on shared addresses).
    expect(row.legitRequests).toBeGreaterThan(1000);
    expect(row.frictionShare ?? 0, measured(row)).toBeLessThanOrEqual(0.001);
  }, 300_000);

  it("an office NAT where four shoppers in five sign in gets no friction", async () => {
    const row = await live("corporate-nat");
    // Offline: 0 of 883 (20, 2.27%, throttled by the login burst rule before a shared address
    // that many accounts sign in from had its login burst counted per client).
    expect(row.legitRequests).toBeGreaterThan(800);
    expect(row.frictionShare ?? 0, measured(row)).toBeLessThanOrEqual(0.001);
  }, 300_000);
});
