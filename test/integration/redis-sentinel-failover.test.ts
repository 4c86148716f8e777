/**
 * A Sentinel set (a master, one replica, three sentinels with quorum 2) loses its master while
 * Checks keep coming; the sentinels promote the replica. Palisade must not crash, must keep
 * deciding (degraded only during the failover), and the quarantines and audit records made
 * before must survive on the promoted replica. The figures (decisions lost to errors, seconds
 * degraded) are printed as one JSON line, `failover-figures`.
 */
import { it, onTestFinished } from "vitest";
import { privateRedisUnsupported } from "../helpers/redis-server.js";
import { startSentinelSet } from "../helpers/redis-topologies.js";
import { killMasterUnderLoad } from "../support/failover-load.js";

it.skipIf(privateRedisUnsupported)(
  "Sentinel master killed under load: no crash, decisions continue, degraded only during the failover, quarantines and audit survive",
  async () => {
    const sentinel = await startSentinelSet();
    onTestFinished(() => sentinel.stop()); // registered first, so it runs after the service has stopped
    const topology = {
      name: "sentinel 1+1, 3 sentinels",
      redisUrl: sentinel.url,
      master: async () => sentinel.master,
      waitForFailover: (port: number) => sentinel.waitForFailover(port),
    };
    await killMasterUnderLoad(topology, "100.73");
  },
  60_000,
);
