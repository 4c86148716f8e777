import { describe, expect, it } from "vitest";
import { describeRedisTarget, parseRedisUrl, redactRedisUrl } from "./url.js";

describe("parseRedisUrl", () => {
  it("reads a single server with credentials and database", () => {
    expect(parseRedisUrl("redis://app:s%40cret@redis.internal:6380/2")).toEqual({
      topology: "standalone",
      tls: false,
      endpoints: [{ host: "redis.internal", port: 6380 }],
      username: "app",
      password: "s@cret",
      db: 2,
    });
  });

  it("defaults the port and takes a password without a user", () => {
    expect(parseRedisUrl("rediss://:pw@redis")).toEqual({
      topology: "standalone",
      tls: true,
      endpoints: [{ host: "redis", port: 6379 }],
      password: "pw",
      db: 0,
    });
  });

  it("reads Cluster seeds, IPv6 included", () => {
    const target = parseRedisUrl("rediss+cluster://n1:7000,[::1]:7001,n3");
    expect(target.topology).toBe("cluster");
    expect(target.tls).toBe(true);
    expect(target.endpoints).toEqual([
      { host: "n1", port: 7000 },
      { host: "::1", port: 7001 },
      { host: "n3", port: 6379 },
    ]);
  });

  it("reads sentinels, the master name and a database", () => {
    expect(parseRedisUrl("redis+sentinel://:pw@s1,s2:26380/mymaster/3")).toEqual({
      topology: "sentinel",
      tls: false,
      endpoints: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
      ],
      password: "pw",
      db: 3,
      masterName: "mymaster",
    });
  });

  it.each([
    ["http://redis:6379", /unknown scheme/],
    ["redis://a:1,b:2", /several hosts need/],
    ["redis+sentinel://s1:26379", /master-name/],
    ["redis+cluster://n1:7000/0", /no databases/],
    ["redis://redis:99999", /bad port/],
    ["redis://redis/zero", /database must be a number/],
    ["redis://redis?tls=true", /query parameters/],
    ["redis://", /bad host/],
  ])("rejects %s", (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it("never puts a password in its error messages", () => {
    const error = captureError(() => parseRedisUrl("redis://user:hunter2@redis:notaport"));
    expect(error.message).toMatch(/bad port/);
    expect(error.message).not.toContain("hunter2");
  });
});

describe("redactRedisUrl", () => {
  it.each([
    ["redis://user:hunter2@redis:6379/0", "redis://***@redis:6379/0"],
    ["redis+sentinel://:p@ss/w:rd@s1,s2/master", "redis+sentinel://***@s1,s2/master"],
    ["redis://redis:6379", "redis://redis:6379"],
  ])("%s → %s", (url, redacted) => {
    expect(redactRedisUrl(url)).toBe(redacted);
  });
});

describe("describeRedisTarget", () => {
  it("names topology and hosts, never credentials", () => {
    const text = describeRedisTarget(parseRedisUrl("rediss+sentinel://u:hunter2@s1,[::1]:26380/mymaster"));
    expect(text).toBe("sentinel+tls s1:26379,[::1]:26380/mymaster");
  });
});

function captureError(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error("expected an error");
}
