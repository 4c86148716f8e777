/**
 * Where Redis is, as one URL (the form operators put in a Helm value or an env variable).
 *
 *   redis://[[user]:password@]host[:port][/db]             one server (or a proxy in front of many)
 *   rediss://…                                              the same over TLS
 *   redis+cluster://[[user]:password@]host:port[,host:port…]   Redis Cluster; the hosts are seeds,
 *   rediss+cluster://…                                      the client discovers the other nodes
 *   redis+sentinel://[[user]:password@]host:port[,host:port…]/master-name[/db]
 *   rediss+sentinel://…                                     Sentinel; the hosts are sentinels, the
 *                                                           user and password are the master's
 *
 * A `+` suffix on the scheme keeps the familiar `redis://` / `rediss://` prefix and says which
 * topology the list of hosts describes; the comma list is the common way to name several seeds
 * (Lettuce, redis-py Sentinel URLs). Default ports: 6379, and 26379 for sentinels.
 * Query strings are rejected rather than ignored so that a typo never silently changes meaning.
 */

export type RedisTopology = "standalone" | "cluster" | "sentinel";

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface RedisTarget {
  topology: RedisTopology;
  tls: boolean;
  endpoints: RedisEndpoint[];
  username?: string;
  password?: string;
  /** Logical database; always 0 on Cluster. */
  db: number;
  /** Sentinel only: the monitored master's name. */
  masterName?: string;
}

const SCHEMES: Record<string, { topology: RedisTopology; tls: boolean }> = {
  "redis:": { topology: "standalone", tls: false },
  "rediss:": { topology: "standalone", tls: true },
  "redis+cluster:": { topology: "cluster", tls: false },
  "rediss+cluster:": { topology: "cluster", tls: true },
  "redis+sentinel:": { topology: "sentinel", tls: false },
  "rediss+sentinel:": { topology: "sentinel", tls: true },
};

const URL_SHAPE = /^([a-z+]+:)\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?([?#].*)?$/i;

export function parseRedisUrl(url: string): RedisTarget {
  const match = URL_SHAPE.exec(url.trim());
  const fail = (why: string): never => {
    throw new TypeError(`invalid Redis URL ${redactRedisUrl(url)}: ${why}`);
  };
  if (!match) return fail("expected <scheme>://[user:password@]host[:port][,host[:port]…][/path]");
  const [, rawScheme = "", userinfo, hostList = "", path = "", query] = match;
  const scheme = SCHEMES[rawScheme.toLowerCase()];
  if (!scheme) return fail(`unknown scheme; use one of ${Object.keys(SCHEMES).map((s) => `${s}//`).join(", ")}`);
  if (query) return fail("query parameters and fragments are not supported");
  const defaultPort = scheme.topology === "sentinel" ? 26379 : 6379;
  const endpoints = hostList.split(",").map((entry) => parseEndpoint(entry, defaultPort, fail));
  if (scheme.topology === "standalone" && endpoints.length > 1) {
    fail("several hosts need redis+cluster:// or redis+sentinel://");
  }
  return { ...scheme, endpoints, ...parseUserinfo(userinfo, fail), ...parsePath(scheme.topology, path, fail) };
}

/**
 * The URL with its credentials replaced, safe for logs and error messages. Everything up to the
 * last `@` goes, so a password with an unencoded `@`, `/` or `:` cannot leak either.
 */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([^:/]*:\/\/).*@/s, "$1***@");
}

/** `host:port` list for logs: never includes credentials. */
export function describeRedisTarget(target: RedisTarget): string {
  const hosts = target.endpoints.map((e) => `${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`).join(",");
  const master = target.masterName ? `/${target.masterName}` : "";
  return `${target.topology}${target.tls ? "+tls" : ""} ${hosts}${master}`;
}

type Fail = (why: string) => never;

function parseEndpoint(entry: string, defaultPort: number, fail: Fail): RedisEndpoint {
  const bracketed = /^\[([0-9a-f:.]+)\](?::(.*))?$/i.exec(entry); // [IPv6]:port
  const plain = /^([^:[\]]+)(?::(.*))?$/.exec(entry);
  const parts = bracketed ?? plain;
  if (!parts?.[1]) return fail(`bad host ${JSON.stringify(entry)}`);
  const port = parts[2] === undefined ? defaultPort : /^\d+$/.test(parts[2]) ? Number(parts[2]) : Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return fail(`bad port in ${JSON.stringify(entry)}`);
  return { host: parts[1], port };
}

function parseUserinfo(userinfo: string | undefined, fail: Fail): Pick<RedisTarget, "username" | "password"> {
  if (userinfo === undefined || userinfo === "") return {};
  const colon = userinfo.indexOf(":");
  const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
  const password = colon === -1 ? undefined : userinfo.slice(colon + 1);
  try {
    return {
      ...(user ? { username: decodeURIComponent(user) } : {}),
      ...(password ? { password: decodeURIComponent(password) } : {}),
    };
  } catch {
    return fail("bad percent-encoding in user or password");
  }
}

function parsePath(topology: RedisTopology, path: string, fail: Fail): Pick<RedisTarget, "db" | "masterName"> {
  const segments = path.split("/").filter((s) => s !== "");
  switch (topology) {
    case "standalone":
      if (segments.length > 1) fail("path must be /<db>");
      return { db: parseDb(segments[0], fail) };
    case "cluster":
      if (segments.length > 0) fail("Redis Cluster has no databases or path");
      return { db: 0 };
    case "sentinel": {
      const [masterName, db] = segments;
      if (!masterName || segments.length > 2) fail("path must be /<master-name>[/<db>]");
      return { masterName: decodeURIComponent(masterName ?? ""), db: parseDb(db, fail) };
    }
    default: {
      const unknown: never = topology;
      return fail(`unknown topology ${String(unknown)}`);
    }
  }
}

function parseDb(segment: string | undefined, fail: Fail): number {
  if (segment === undefined) return 0;
  if (!/^\d+$/.test(segment)) return fail(`database must be a number, got ${JSON.stringify(segment)}`);
  return Number(segment);
}
