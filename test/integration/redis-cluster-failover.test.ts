/**
 * A real Redis Cluster (3 masters, 3 replicas, made by `redis-cli --cluster create`) loses the
 * master that holds the response engine's slot while Checks keep coming. Palisade must not
 * crash, must keep deciding (degraded only while the Cluster fails over), and the quarantines
 * and audit records made before must survive on the promoted replica. The figures (decisions
 * lost to errors, seconds degraded) are printed as one JSON line, `failover-figures`.
 */
import { afterAll, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { privateRedisUnsupported } from "../helpers/redis-server.js";
import { startRedisCluster, type RedisClusterHandle } from "../helpers/redis-topologies.js";
import type { EnvoyAuthzClient } from "../support/envoy-client.js";
import { killMasterUnderLoad } from "../support/failover-load.js";

let redisSet: RedisClusterHandle | undefined;
let app: App | undefined;
let envoy: EnvoyAuthzClient | undefined;

afterAll(async () => {
  envoy?.close();
  await app?.stop();
  await redisSet?.stop();
});

it.skipIf(privateRedisUnsupported)(
  "Cluster master killed under load: no crash, decisions continue, degraded only during the failover, quarantines and audit survive",
  async () => {
    const cluster = (redisSet = await startRedisCluster(3));
    const topology = {
      name: "cluster 3+3",
      redisUrl: cluster.url,
      master: () => cluster.masterOf("{response}"),
      waitForFailover: (port: number) => cluster.waitForFailover("{response}", port),
    };
    await killMasterUnderLoad(topology, "100.72", (started, client) => ([app, envoy] = [started, client]));
  },
  60_000,
);
