/**
 * A Sentinel set (a master, one replica, three sentinels with quorum 2) loses its master while
 * Checks keep coming; the sentinels promote the replica. Palisade must not crash, must keep
 * deciding (degraded only during the failover), and the quarantines and audit records made
 * before must survive on the promoted replica. The figures (decisions lost to errors, seconds
 * degraded) are printed as one JSON line, `failover-figures`.
 */
import { afterAll, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { privateRedisUnsupported } from "../helpers/redis-server.js";
import { startSentinelSet, type SentinelSetHandle } from "../helpers/redis-topologies.js";
import type { EnvoyAuthzClient } from "../support/envoy-client.js";
import { killMasterUnderLoad } from "../support/failover-load.js";

let redisSet: SentinelSetHandle | undefined;
let app: App | undefined;
let envoy: EnvoyAuthzClient | undefined;

afterAll(async () => {
  envoy?.close();
  await app?.stop();
  await redisSet?.stop();
});

it.skipIf(privateRedisUnsupported)(
  "Sentinel master killed under load: no crash, decisions continue, degraded only during the failover, quarantines and audit survive",
  async () => {
    const sentinel = (redisSet = await startSentinelSet());
    const topology = {
      name: "sentinel 1+1, 3 sentinels",
      redisUrl: sentinel.url,
      master: async () => sentinel.master,
      waitForFailover: (port: number) => sentinel.waitForFailover(port),
    };
    await killMasterUnderLoad(topology, "100.73", (started, client) => ([app, envoy] = [started, client]));
  },
  60_000,
);
