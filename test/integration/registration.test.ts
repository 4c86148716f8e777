/**
 * A registration endpoint through the real services: Checks and StreamAccessLogs from clients
 * built with Envoy's protos, a real redis-server, the example policy (its `signup` endpoint). A
 * sign-up the application marks as created (`x-signup-result: created`) teaches the new account's
 * history the registering browser's device cookie, so that browser's first sign-in during a
 * campaign is a known device's; a failed one teaches nothing, and neither does a success without
 * the marker (a site hiding which addresses have an account answers a taken one so too).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAccessLogClient, envoyAuthzClient, httpStatus, metadata, type EnvoyAccessLogClient, type EnvoyAuthzClient } from "../support/envoy-client.js";

/** A browser that loaded the site: its session cookie, and the site's device cookie when it has one; or a script that kept no cookie (device null). */
const browser = (device?: string | null) => ({
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
  "content-type": "application/json",
  ...(device !== null && { cookie: device ? `did=${device}; sid=${randomUUID()}` : `sid=${randomUUID()}` }),
});

let redis: RedisServerHandle;
let app: App;
let authz: EnvoyAuthzClient;
let logs: EnvoyAccessLogClient;
/** Event time advances by itself so every test runs on its own stretch of recorded time. */
let clockMs = Date.now() - 2 * 3_600_000;
let address = 0;

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, trustEventTime: true });
  authz = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  logs = envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`);
}, 60_000);

afterAll(async () => {
  authz?.close();
  logs?.close();
  await app?.stop();
  await redis?.stop();
});

interface Post {
  path: "/api/v1/register" | "/api/v1/login";
  body: Record<string, string>;
  device?: string | null;
  atMs: number;
  /** What the application answers when Palisade lets it through. */
  status: number;
  /** A network of its own; an address of its own in the test's network otherwise. */
  ip?: string;
  /** The response headers Envoy logs with the application's answer. */
  responseHeaders?: Record<string, string>;
}

/** One POST as Envoy and the application play it, from an address of its own; the Check's action and reasons. */
async function post({ path, body, device, atMs, status, responseHeaders, ip = `100.71.${Math.floor(++address / 250)}.${(address % 250) + 1}` }: Post): Promise<{ action: string; reasons: string[] }> {
  const requestId = randomUUID();
  const check = await authz.check({ method: "POST", path, ip, headers: browser(device), timeMs: atMs, requestId, body: JSON.stringify(body) });
  const allowed = check.status.code === 0;
  await logs.send([
    { requestId, method: "POST", path, ip, timeMs: atMs, status: allowed ? status : httpStatus(check)!, responseHeaders: allowed ? responseHeaders : undefined, authzMetadata: check.dynamic_metadata, deniedByAuthz: !allowed },
  ]);
  return { action: String(metadata(check).action), reasons: (metadata(check).reasons as string[] | undefined) ?? [] };
}

/** The example storefront's mark on a sign-up that created an account (its signup `outcome.createdHeader`). */
const CREATED = { "x-signup-result": "created" };

/** A sign-up the application answers with `status`; marked as created unless `responseHeaders` says otherwise. */
const register = (email: string, device: string | null, atMs: number, status = 201, responseHeaders: Record<string, string> = CREATED, ip?: string) =>
  post({ path: "/api/v1/register", body: { email, password: "correct-horse-battery" }, device, atMs, status, responseHeaders, ip });
const signIn = (username: string, device: string | null, atMs: number, ip?: string) =>
  post({ path: "/api/v1/login", body: { username, password: "correct-horse-battery" }, device, atMs, status: 200, ip });

/** Three accounts of a list fail within 200 ms from browsers that kept the session: the early campaign call. */
async function campaign(startMs: number): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await post({ path: "/api/v1/login", body: { username: `list-${randomUUID()}@example.com`, password: `guess-${randomUUID()}` }, atMs: startMs + i * 100, status: 401 });
  }
}

describe("a registration endpoint", () => {
  it("makes the registering browser's first sign-in during a campaign a known device's, where without it the sign-in is challenged", async () => {
    clockMs += 10 * 60_000;
    const startMs = clockMs;
    const registered = await register("nora@example.com", "5b0c7e21d9a4f388", startMs - 40_000);
    expect(registered.action).toBe("allow");
    await register("omar@example.com", "a9d2e0f4c7b15366", startMs - 30_000, 409, {}); // the address has an account already
    await campaign(startMs);

    const newOwner = await signIn("nora@example.com", "5b0c7e21d9a4f388", startMs + 300);
    expect(newOwner.reasons).toContain("account.known_device");
    expect(newOwner.reasons).not.toContain("username.never_succeeded");
    expect(newOwner.action).toBe("allow");

    // The same first sign-in without a registration behind it, and after one that failed.
    const unregistered = await signIn("petra@example.com", "3e6f18a0b2c4d597", startMs + 400);
    expect(unregistered.reasons).toEqual(expect.arrayContaining(["site.campaign_early", "username.never_succeeded"]));
    expect(unregistered.action).toBe("challenge");
    expect((await signIn("omar@example.com", "a9d2e0f4c7b15366", startMs + 500)).action).toBe("challenge");

    // The registered account from another browser on another network: a new device, challenged.
    const stranger = await signIn("nora@example.com", "0d1e2f3a4b5c6d7e", startMs + 600, "100.93.8.8");
    expect(stranger.reasons).toEqual(expect.arrayContaining(["account.new_device", "account.new_subnet"]));
    expect(stranger.action).toBe("challenge");
  });

  it("teaches a dormant account nothing from a sign-up answered as a success without the creation marker: the thief's next sign-in is still stepped up", async () => {
    clockMs += 10 * 60_000;
    const startMs = clockMs;
    const outcomes = async (outcome: string) => Number(new RegExp(`palisade_login_outcomes_total\\{outcome="${outcome}"\\} (\\d+)`).exec(await app.metrics.metricsText())?.[1] ?? 0);
    const [unmarkedBefore, createdBefore] = [await outcomes("signup_unmarked"), await outcomes("signup_created")];

    // The site hides which addresses have an account: "check your mail", 200, for one that has.
    const thief = "100.94.7.7";
    const signUp = await register("ines@example.com", null, startMs - 60_000, 200, { "x-signup-result": "check-your-mail" }, thief);
    expect(signUp.action).toBe("allow");
    const takeover = await signIn("ines@example.com", null, startMs - 30_000, thief);
    expect(takeover.reasons).toEqual(expect.arrayContaining(["username.never_succeeded", "client.no_session"]));
    expect(takeover.action).toBe("step_up");

    // The same sign-up marked as created teaches the account its creator's client and network.
    const creator = "100.94.8.8";
    await register("jonas@example.com", null, startMs - 60_000, 201, CREATED, creator);
    const owner = await signIn("jonas@example.com", null, startMs - 30_000, creator);
    expect(owner.reasons).not.toContain("username.never_succeeded");
    expect(owner.action).toBe("allow");

    expect(await outcomes("signup_unmarked")).toBe(unmarkedBefore + 1);
    expect(await outcomes("signup_created")).toBe(createdBefore + 1);
  });
});
