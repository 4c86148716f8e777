/**
 * Real Redis topologies for failure tests, built from private redis-servers (redis-server.ts):
 * a Redis Cluster of masters with one replica each, made by `redis-cli --cluster create`, and a
 * Sentinel set (a master, its replica, three sentinels) tuned to fail over within seconds.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { startRedisSentinel, startRedisServer, type RedisServerHandle } from "./redis-server.js";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RedisClusterHandle {
  /** `redis+cluster://` with every node as a seed. */
  url: string;
  nodes: RedisServerHandle[];
  /** The node that is master of `key`'s slot now. */
  masterOf(key: string): Promise<RedisServerHandle>;
  /** Resolves once every live node reports cluster_state:ok and `key`'s slot has a master other than `formerPort`. */
  waitForFailover(key: string, formerPort: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `masters` masters with one replica each, on free ports. Node timeout 1 s (failure detection
 * in about two), and a replica may always take over however long it was cut off.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
  const extraArgs = ["--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0", "--appendonly", "no"];
  const nodes = await Promise.all(Array.from({ length: masters * 2 }, () => startRedisServer({ clusterNode: true, extraArgs })));
  await run("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"], { timeout: 30_000 });
  await waitFor(async () => (await Promise.all(nodes.map((n) => clusterOk(n.port)))).every(Boolean) && (await replicasInSync(nodes)), 30_000, "cluster ready");
  const alive = new Set(nodes);
  const handles = nodes.map((node) => ({
    ...node,
    kill: async () => {
      alive.delete(node);
      await node.kill();
    },
  }));
  const masterPortOf = async (key: string, askPort: number) => {
    const admin = new Redis({ port: askPort, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    admin.on("error", () => {});
    try {
      const slot = Number(await admin.call("CLUSTER", "KEYSLOT", key));
      const slots = (await admin.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
      return slots.find(([start, end]) => slot >= start && slot <= end)?.[2][1];
    } finally {
      admin.disconnect();
    }
  };
  const anyAlive = () => [...alive][0]!.port;
  return {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`,
    nodes: handles,
    masterOf: async (key) => {
      const port = await masterPortOf(key, anyAlive());
      const found = handles.find((n) => n.port === port);
      if (!found) throw new Error(`no master for ${key}`);
      return found;
    },
    waitForFailover: (key, formerPort, timeoutMs = 20_000) =>
      waitFor(
        async () => {
          const ports = [...alive].map((n) => n.port);
          const ok = (await Promise.all(ports.map(clusterOk))).every(Boolean);
          const master = await masterPortOf(key, ports[0]!).catch(() => undefined);
          return ok && master !== undefined && master !== formerPort;
        },
        timeoutMs,
        "cluster failover",
      ),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

export interface SentinelSetHandle {
  /** `redis+sentinel://` with the three sentinels. */
  url: string;
  masterName: string;
  master: RedisServerHandle;
  replica: RedisServerHandle;
  sentinels: RedisServerHandle[];
  /** Resolves once the sentinels name a master other than `formerPort`. */
  waitForFailover(formerPort: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** A master, one replica, three sentinels with quorum 2; a dead master is noticed after 1 s. */
export async function startSentinelSet(masterName = "palisade-failover"): Promise<SentinelSetHandle> {
  const master = await startRedisServer();
  const replica = await startRedisServer({ extraArgs: ["--replicaof", "127.0.0.1", String(master.port)] });
  await waitFor(async () => (await info(replica.port, "replication")).includes("master_link_status:up"), 15_000, "replica in sync");
  const extraConfig = [`sentinel down-after-milliseconds ${masterName} 1000`, `sentinel failover-timeout ${masterName} 5000`, `sentinel parallel-syncs ${masterName} 1`];
  const sentinels = await Promise.all([0, 1, 2].map(() => startRedisSentinel(master.port, masterName, { quorum: 2, extraConfig })));
  // Sentinels find each other and the replica through the master's hello channel.
  await waitFor(async () => (await sentinelMaster(sentinels[0]!.port, masterName))?.["num-other-sentinels"] === "2", 15_000, "sentinels met");
  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${masterName}`,
    masterName,
    master,
    replica,
    sentinels,
    waitForFailover: (formerPort, timeoutMs = 20_000) =>
      waitFor(
        async () => {
          const named = await sentinelMaster(sentinels[1]!.port, masterName).catch(() => undefined);
          return named !== undefined && Number(named.port) !== formerPort && (await info(Number(named.port), "replication").catch(() => "")).includes("role:master");
        },
        timeoutMs,
        "sentinel failover",
      ),
    stop: async () => {
      await Promise.all([...sentinels, replica, master].map((n) => n.stop()));
    },
  };
}

/**
 * Resolves once every replica of the master on `port` has acknowledged all it was sent
 * (replicas acknowledge once a second), so writes made before survive the master's death.
 */
export function waitForReplicasToCatchUp(port: number, timeoutMs = 20_000): Promise<void> {
  return waitFor(
    async () => {
      const text = await info(port, "replication");
      const sent = Number(/master_repl_offset:(\d+)/.exec(text)?.[1]);
      const acknowledged = [...text.matchAll(/^slave\d+:.*offset=(\d+)/gm)].map((m) => Number(m[1]));
      return acknowledged.length > 0 && acknowledged.every((offset) => offset >= sent);
    },
    timeoutMs,
    "replicas caught up",
  );
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (Date.now() < giveUpAt) {
    if (await condition().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

async function withAdmin<T>(port: number, use: (admin: Redis) => Promise<T>): Promise<T> {
  const admin = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  admin.on("error", () => {});
  try {
    await admin.connect();
    return await use(admin);
  } finally {
    admin.disconnect();
  }
}

function clusterOk(port: number): Promise<boolean> {
  return withAdmin(port, async (admin) => String(await admin.call("CLUSTER", "INFO")).includes("cluster_state:ok")).catch(() => false);
}

function info(port: number, section: string): Promise<string> {
  return withAdmin(port, (admin) => admin.info(section));
}

async function replicasInSync(nodes: RedisServerHandle[]): Promise<boolean> {
  const replication = await Promise.all(nodes.map((n) => info(n.port, "replication")));
  return replication.filter((text) => text.includes("role:slave")).every((text) => text.includes("master_link_status:up"));
}

async function sentinelMaster(port: number, masterName: string): Promise<Record<string, string> | undefined> {
  return withAdmin(port, async (admin) => {
    const flat = (await admin.call("SENTINEL", "MASTER", masterName)) as string[];
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return fields;
  });
}
