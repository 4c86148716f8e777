import { describe, expect, it } from "vitest";
import type { RedisOptions } from "ioredis";
import { reconnectDelayMs, redisClientConfig, type RedisConnectionOptions } from "./connection.js";
import { parseRedisUrl } from "./url.js";

describe("redisClientConfig", () => {
  it("fails fast instead of queueing or retrying, with the configured timeouts", () => {
    const options = singleNodeOptions("redis://redis:6379/1", { commandTimeoutMs: 25, connectTimeoutMs: 500 });
    expect(options).toMatchObject({
      host: "redis",
      port: 6379,
      db: 1,
      commandTimeout: 25,
      connectTimeout: 500,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    });
    expect(options.tls).toBeUndefined();
  });

  it("defaults the command timeout to 50 ms", () => {
    expect(redisClientConfig(parseRedisUrl("redis://redis")).options).toMatchObject({ commandTimeout: 50 });
  });

  it("lets a secret override the URL's credentials", () => {
    const config = redisClientConfig(parseRedisUrl("redis://app:from-url@redis"), { password: "from-secret" });
    expect(config.options).toMatchObject({ username: "app", password: "from-secret" });
  });

  it("turns rediss:// into TLS with the given settings", () => {
    const options = singleNodeOptions("rediss://redis", { tls: { servername: "redis.example" } });
    expect(options.tls).toEqual({ servername: "redis.example" });
  });

  it("builds Sentinel options, TLS covering the sentinels too", () => {
    const config = redisClientConfig(parseRedisUrl("rediss+sentinel://:master-pw@s1,s2/mymaster"), { sentinelPassword: "sentinel-pw" });
    expect(config.topology).toBe("sentinel");
    expect(config.options).toMatchObject({
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26379 },
      ],
      name: "mymaster",
      password: "master-pw",
      sentinelPassword: "sentinel-pw",
      enableTLSForSentinelMode: true,
      sentinelTLS: {},
      tls: {},
    });
  });

  it("builds Cluster options with the fail-fast settings on every node connection", () => {
    const config = redisClientConfig(parseRedisUrl("redis+cluster://:pw@n1:7000,n2:7001"), { commandTimeoutMs: 30 });
    if (config.topology !== "cluster") throw new Error("expected a cluster config");
    expect(config.nodes).toEqual([
      { host: "n1", port: 7000 },
      { host: "n2", port: 7001 },
    ]);
    expect(config.options.enableOfflineQueue).toBe(false);
    // ioredis would group scripts for different masters into one pipeline (see clusterOptions).
    expect(config.options.enableAutoPipelining).toBe(false);
    expect(config.options.redisOptions).toMatchObject({ password: "pw", commandTimeout: 30, maxRetriesPerRequest: 0 });
  });

  it("reconnects (without resending) on READONLY only", () => {
    const { reconnectOnError } = singleNodeOptions("redis://redis");
    expect(reconnectOnError?.(new Error("READONLY You can't write against a read only replica."))).toBe(1);
    expect(reconnectOnError?.(new Error("ERR something else"))).toBe(false);
  });
});

describe("reconnectDelayMs", () => {
  it("doubles from 50 ms up to the cap, jittered within the upper half", () => {
    expect(reconnectDelayMs(1, 2_000, () => 1)).toBe(50);
    expect(reconnectDelayMs(3, 2_000, () => 1)).toBe(200);
    expect(reconnectDelayMs(3, 2_000, () => 0)).toBe(100);
    expect(reconnectDelayMs(50, 2_000, () => 1)).toBe(2_000);
  });
});

function singleNodeOptions(url: string, options: RedisConnectionOptions = {}): RedisOptions {
  const config = redisClientConfig(parseRedisUrl(url), options);
  if (config.topology === "cluster") throw new Error("expected a single-node config");
  return config.options;
}
