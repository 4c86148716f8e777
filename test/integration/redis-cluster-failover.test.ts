/**
 * A real Redis Cluster (3 masters, 3 replicas, made by `redis-cli --cluster create`) loses the
 * master that holds the response engine's slot while Checks keep coming. Palisade must not
 * crash, must keep deciding (degraded only while the Cluster fails over), and the quarantines
 * and audit records made before must survive on the promoted replica. The figures (decisions
 * lost to errors, seconds degraded) are printed as one JSON line, `failover-figures`.
 */
import { it, onTestFinished } from "vitest";
import { privateRedisUnsupported } from "../helpers/redis-server.js";
import { startRedisCluster } from "../helpers/redis-topologies.js";
import { killMasterUnderLoad } from "../support/failover-load.js";

it.skipIf(privateRedisUnsupported)(
  "Cluster master killed under load: no crash, decisions continue, degraded only during the failover, quarantines and audit survive",
  async () => {
    const cluster = await startRedisCluster(3);
    onTestFinished(() => cluster.stop()); // registered first, so it runs after the service has stopped
    const topology = {
      name: "cluster 3+3",
      redisUrl: cluster.url,
      master: () => cluster.masterOf("{response}"),
      waitForFailover: (port: number) => cluster.waitForFailover("{response}", port),
    };
    await killMasterUnderLoad(topology, "100.72");
  },
  60_000,
);
