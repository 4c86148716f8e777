/**
 * GeoIP, ASN and impossible travel through the real services: databases in MaxMind's format
 * built by the test (test/support/mmdb-writer.ts) and read by the `maxmind` package, Checks and
 * StreamAccessLogs from clients built with Envoy's protos, and a real redis-server.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GeoDatabases, parseAsnList, shippedHostingList } from "../../src/app/geoip.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { startWithRedisAndEnvoyClients, type EnvoyFacingServices } from "../support/app.js";
import { httpStatus, metadata, type EnvoyAccessLogClient, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { buildMmdb } from "../support/mmdb-writer.js";
import { examplePolicyPath } from "../support/policies.js";

const BROWSER = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
  "content-type": "application/json",
};

const city = (iso: string, latitude: number, longitude: number, accuracy = 20) => ({
  country: { iso_code: iso, names: { en: iso } },
  location: { latitude, longitude, accuracy_radius: accuracy },
});
/** One /24 split in two far-apart cities: the same subnet, so only the distance is new. */
const CITY_NETWORKS = {
  "100.64.70.0/25": city("US", 40.71, -74.01), // New York
  "100.64.70.128/25": city("US", 34.05, -118.24), // Los Angeles
  "100.64.80.0/24": city("DE", 52.52, 13.4), // Berlin
  "2001:db8:70::/48": city("AU", -33.87, 151.21), // Sydney
};
const ASN_NETWORKS = {
  "100.64.200.0/24": { autonomous_system_number: 16509, autonomous_system_organization: "Example Cloud" },
  "100.64.70.0/24": { autonomous_system_number: 64500, autonomous_system_organization: "Example Broadband" },
};

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "palisade-geo-"));
  writeFileSync(join(dir, "city.mmdb"), buildMmdb("GeoLite2-City", CITY_NETWORKS));
  writeFileSync(join(dir, "asn.mmdb"), buildMmdb("GeoLite2-ASN", ASN_NETWORKS));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("GeoDatabases", () => {
  const open = () =>
    GeoDatabases.open({ geoipCityDatabase: join(dir, "city.mmdb"), geoipAsnDatabase: join(dir, "asn.mmdb") }, createLogger({ level: "silent" }));

  it("reads country, coordinates and ASN, and classifies hosting networks from the shipped list", async () => {
    const geo = (await open())!;
    expect(geo.lookup("100.64.70.9")).toEqual({
      country: "US", latitude: 40.71, longitude: -74.01, accuracyKm: 20, asn: 64500, asnOrganisation: "Example Broadband", hosting: false,
    });
    expect(geo.lookup("100.64.200.1")).toMatchObject({ country: undefined, asn: 16509, hosting: true });
    expect(geo.lookup("2001:db8:70::1")).toMatchObject({ country: "AU", latitude: -33.87 });
    expect(geo.lookup("192.0.2.1")).toBeUndefined();
  });

  it("is off without databases, and refuses a file that is not one", async () => {
    expect(await GeoDatabases.open({}, createLogger({ level: "silent" }))).toBeUndefined();
    writeFileSync(join(dir, "broken.mmdb"), "not a database");
    await expect(GeoDatabases.open({ geoipCityDatabase: join(dir, "broken.mmdb") }, createLogger({ level: "silent" }))).rejects.toThrow(/cannot open the GeoIP database/);
  });

  it("reads hosting ASN lists, and the shipped one is valid", () => {
    expect([...parseAsnList("# cloud\n16509\nAS14061 # droplets\n\n")]).toEqual([16509, 14061]);
    expect(() => parseAsnList("16509\nAmazon\n")).toThrow(/line 2/);
    expect(parseAsnList(readFileSync(shippedHostingList(), "utf8")).has(16509)).toBe(true);
  });
});

describe("through gRPC on Redis", () => {
  let services: EnvoyFacingServices;
  let authz: EnvoyAuthzClient;
  let logs: EnvoyAccessLogClient;
  let clockMs = Date.now() - 20 * 3_600_000;

  /** `viaAnotherReplica`: the access-log entry names a request this replica never saw, as when Envoy's log stream lands elsewhere. */
  async function login(ip: string, username: string, stepMs: number, viaAnotherReplica = false) {
    clockMs += stepMs;
    await authz.check({ path: "/static/login.css", ip, headers: BROWSER, timeMs: clockMs - 500 });
    const requestId = randomUUID();
    const check = await authz.check({
      method: "POST", path: "/api/v1/login", ip, headers: BROWSER, timeMs: clockMs, requestId,
      body: JSON.stringify({ username, password: `right-${username}` }),
    });
    const allowed = check.status.code === 0;
    await logs.send([{ requestId: viaAnotherReplica ? randomUUID() : requestId, method: "POST", path: "/api/v1/login", ip, timeMs: clockMs, status: allowed ? 200 : httpStatus(check)!, authzMetadata: check.dynamic_metadata, deniedByAuthz: !allowed }]);
    const data = metadata(check);
    return { action: String(data.action), rule: data.rule, reasons: data.reasons as string[] };
  }

  beforeAll(async () => {
    const policy = readFileSync(examplePolicyPath, "utf8")
      .replace("    geo: { countryHeader: x-geo-country }\n", "    geo:\n      countryHeader: x-geo-country\n      hosting: { weight: 10 }\n      impossibleTravel: { maxSpeedKmh: 900 }\n")
      .replace("  rules:\n", [
        "  rules:",
        "    - id: login-from-hosting",
        "      description: People do not log in from servers; ask for MFA",
        "      endpoints: [login]",
        "      when: '\"network.hosting\" in reasons'",
        "      action: step_up",
        "      scope: username",
        "",
      ].join("\n"));
    expect(policy).toContain("impossibleTravel");
    writeFileSync(join(dir, "policy.yaml"), policy);
    services = await startWithRedisAndEnvoyClients({
      policy: join(dir, "policy.yaml"),
      geoipCityDatabase: join(dir, "city.mmdb"),
      geoipAsnDatabase: join(dir, "asn.mmdb"),
    });
    ({ authz, logs } = services);
  });

  afterAll(() => services?.stop());

  it("asks for step-up on a login from a hosting ASN, which a rule can name", async () => {
    const result = await login("100.64.200.7", "carol@example.com", 1000);
    expect(result).toMatchObject({ action: "step_up", rule: "login-from-hosting" });
    expect(result.reasons).toContain("network.hosting");
    const home = await login("100.64.70.7", "dave@example.com", 1000);
    expect(home.reasons).not.toContain("network.hosting");
  });

  it("fills the country from the database when the edge sends no header", async () => {
    const check = await authz.check({ path: "/static/x.css", ip: "100.64.80.1", timeMs: clockMs });
    expect(metadata(check).country).toBeUndefined(); // only logins and catalogue requests carry attribution
    const result = await login("100.64.80.1", "erin@example.com", 1000);
    expect(result.action).toBe("allow");
  });

  it("flags impossible travel between successful logins of one account, and steps up by default", async () => {
    const user = "frank@example.com";
    expect((await login("100.64.70.10", user, 60_000)).action).toBe("allow"); // New York
    expect((await login("100.64.70.11", user, 60_000)).action).toBe("allow"); // New York again
    // Los Angeles ten minutes later: same subnet, same device, about 3,900 km away.
    const jump = await login("100.64.70.200", user, 10 * 60_000);
    expect(jump).toMatchObject({ action: "step_up", rule: "geo:impossible-travel" });
    expect(jump.reasons).toEqual(["account.impossible_travel"]);
    // That login succeeded (after MFA) and is the account's last place now; ten hours later, New York is possible.
    const back = await login("100.64.70.12", user, 10 * 3_600_000);
    expect(back.action).toBe("allow");
    expect(back.reasons ?? []).not.toContain("account.impossible_travel");
  });

  it("learns the place from the attribution Envoy hands back when another replica gets the outcome", async () => {
    const user = "heidi@example.com";
    expect((await login("100.64.70.20", user, 60_000, true)).action).toBe("allow"); // New York, outcome elsewhere
    const jump = await login("2001:db8:70::9", user, 30 * 60_000); // Sydney half an hour later
    expect(jump.action).toBe("step_up"); // the new country and network alone would step up too…
    expect(jump.reasons).toContain("account.impossible_travel"); // …this says the place came back through Envoy
  });

  it("ignores accounts with no login placed yet, and addresses the database cannot place", async () => {
    expect((await login("100.64.70.13", "grace@example.com", 1000)).reasons ?? []).not.toContain("account.impossible_travel");
    expect((await login("198.18.0.1", "grace@example.com", 1000)).reasons ?? []).not.toContain("account.impossible_travel");
  });
});
