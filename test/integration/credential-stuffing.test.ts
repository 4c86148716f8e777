/**
 * Credential stuffing and account takeover through the real services: Checks and
 * StreamAccessLogs from clients built with Envoy's protos, a real redis-server, the example
 * policy. Each test plays Envoy and the application: a Check, then the application's answer
 * (or Palisade's denial) back through the access log, exactly as Envoy would stream it.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import {
  envoyAccessLogClient,
  envoyAuthzClient,
  httpStatus,
  metadata,
  type EnvoyAccessLogClient,
  type EnvoyAuthzClient,
} from "../support/envoy-client.js";

const BROWSER = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
  "content-type": "application/json",
};
/** A stuffing tool borrowing a browser's user agent but not its other headers. */
const TOOL = { "user-agent": BROWSER["user-agent"], "content-type": "application/json" };
/** A plain script, as single-host bursts usually are. */
const SCRIPT = { "user-agent": "python-requests/2.32", accept: "*/*", "content-type": "application/json" };

let redis: RedisServerHandle;
let app: App;
let authz: EnvoyAuthzClient;
let logs: EnvoyAccessLogClient;
/** Event time advances by itself so every test runs on its own stretch of recorded time. */
let clockMs = Date.now() - 4 * 3_600_000;

interface Attempt {
  ip: string;
  username: string;
  correct: boolean;
  headers?: Record<string, string>;
  stepMs?: number;
  /** Load a page's asset first, as a browser does (always for the plain BROWSER headers). */
  page?: boolean;
}

/** One login as Envoy and the application would play it; returns Palisade's action. */
async function login({ ip, username, correct, headers = BROWSER, stepMs = 1000, page = headers === BROWSER }: Attempt): Promise<string> {
  clockMs += stepMs;
  // A browser loads the login page's assets before it posts the form.
  if (page) await authz.check({ path: "/static/login.css", ip, headers, timeMs: clockMs - 500 });
  const requestId = randomUUID();
  const check = await authz.check({
    method: "POST",
    path: "/api/v1/login",
    ip,
    headers,
    timeMs: clockMs,
    requestId,
    body: JSON.stringify({ username, password: correct ? `right-${username}` : `guess-${randomUUID()}` }),
  });
  const allowed = check.status.code === 0;
  await logs.send([
    {
      requestId,
      method: "POST",
      path: "/api/v1/login",
      ip,
      timeMs: clockMs,
      status: allowed ? (correct ? 200 : 401) : httpStatus(check)!,
      authzMetadata: check.dynamic_metadata,
      deniedByAuthz: !allowed,
    },
  ]);
  return String(metadata(check).action);
}

const mitigated = (action: string) => action !== "allow" && action !== "step_up";
const share = (actions: string[]) => actions.filter(mitigated).length / actions.length;

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, trustEventTime: true });
  authz = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  logs = envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  authz?.close();
  logs?.close();
  await app?.stop();
  await redis?.stop();
});

// The campaign test sends 300 Checks one after another: 24.7 s at a load average of 30, near
// the 30 s default limit. Event time is simulated, so a slower machine changes no decision.
describe("credential stuffing", { timeout: 120_000 }, () => {
  it("mitigates a burst from one host within a dozen attempts", async () => {
    const actions = [];
    for (let i = 0; i < 40; i++) {
      actions.push(await login({ ip: "100.64.1.10", username: `victim${i}@example.com`, correct: false, headers: SCRIPT }));
    }
    const first = actions.findIndex(mitigated);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(12);
    expect(share(actions.slice(first))).toBe(1);
  });

  it("mitigates a campaign spread over hundreds of addresses, one attempt each, by its cohort", async () => {
    const actions = [];
    for (let i = 0; i < 300; i++) {
      actions.push(await login({ ip: `100.${80 + (i % 40)}.${i % 250}.${(i * 7) % 250}`, username: `list${i}@example.com`, correct: false, headers: TOOL, stepMs: 150 }));
    }
    // The site-wide failure ratio needs a few seconds of traffic before it is called anomalous.
    expect(share(actions.slice(100))).toBeGreaterThan(0.9);
  });

  it("lets real users through meanwhile: a typo, then the right password", async () => {
    expect(await login({ ip: "100.64.9.9", username: "alice@example.com", correct: false })).toBe("allow");
    expect(await login({ ip: "100.64.9.9", username: "alice@example.com", correct: true })).toBe("allow");
  });

  it("lets forty colleagues behind one corporate NAT log in", async () => {
    const actions = [];
    for (let i = 0; i < 40; i++) {
      const username = `employee${i}@corp.example`;
      // One in ten mistypes first.
      if (i % 10 === 0) actions.push(await login({ ip: "100.64.50.1", username, correct: false, stepMs: 10_000 }));
      actions.push(await login({ ip: "100.64.50.1", username, correct: true, stepMs: 10_000 }));
    }
    expect(actions.filter(mitigated)).toEqual([]);
  });

  it("lets an office sign in at nine, twenty logins a minute behind one NAT, each browser with its own session", async () => {
    const actions = [];
    for (let i = 0; i < 60; i++) {
      const headers = { ...BROWSER, cookie: `sid=office-${i}` };
      const username = `staff${i}@corp.example`;
      if (i % 10 === 0) actions.push(await login({ ip: "100.64.51.1", username, correct: false, headers, page: true, stepMs: 3_000 }));
      actions.push(await login({ ip: "100.64.51.1", username, correct: true, headers, page: true, stepMs: 3_000 }));
    }
    // Before accounts signed in from the address proved it a crowd, the login burst rule throttled
    // everyone behind it once it passed ten logins a minute.
    expect(actions.filter(mitigated)).toEqual([]);
  });

  it("gives a stuffer inventing a session cookie per attempt no crowd's pass, even after a few colleagues signed in", async () => {
    const ip = "100.64.52.1";
    for (let i = 0; i < 6; i++) {
      expect(await login({ ip, username: `desk${i}@corp.example`, correct: true, headers: { ...BROWSER, cookie: `sid=desk-${i}` }, page: true, stepMs: 5_000 })).toBe("allow");
    }
    const actions = [];
    for (let i = 0; i < 40; i++) {
      actions.push(await login({ ip, username: `combo${i}@example.com`, correct: false, headers: { ...BROWSER, cookie: `sid=fresh-${i}` }, page: true, stepMs: 1_500 }));
    }
    const first = actions.findIndex(mitigated);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(12);
    expect(share(actions.slice(first))).toBeGreaterThan(0.9);
  });
});

describe("account takeover", () => {
  it("asks for step-up when a known account logs in from a new device and network", async () => {
    const home = { ip: "100.64.70.5", username: "bob@example.com", correct: true };
    expect(await login(home)).toBe("allow");
    expect(await login(home)).toBe("allow");
    const stranger = { ...home, ip: "100.99.3.4", headers: { ...BROWSER, "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0" } };
    expect(await login(stranger)).toBe("step_up");
  });

  it("asks a script that found a right password for a second factor, and does not learn its device from that login", async () => {
    // A checker's hit with a browser's full headers: no page loaded, none of the site's
    // cookies, an account never signed in here.
    const hit = { ip: "100.99.8.8", username: "dora@example.com", correct: true, headers: { ...BROWSER } };
    expect(await login(hit)).toBe("step_up");
    expect(await login({ ...hit, stepMs: 60_000 })).toBe("step_up");
    // The owner's browser, which loaded the site: asked too, since the account's password was
    // just confirmed from elsewhere and no device of its own is known yet; never blocked.
    expect(await login({ ip: "100.64.71.5", username: "dora@example.com", correct: true })).toBe("step_up");
  });

  it("lets a person sign in from a browser that loaded the site, and the app that keeps its device cookie", async () => {
    expect(await login({ ip: "100.64.72.5", username: "erin@example.com", correct: true })).toBe("allow");
    const app = { ...SCRIPT, "user-agent": "Storefront/5.2.1 (iPhone; iOS 17.6; Scale/3.00)", cookie: "did=7f3a9c" };
    expect(await login({ ip: "100.64.72.6", username: "frank@example.com", correct: true, headers: app })).toBe("allow");
  });

  it("knows a device by the cookie an account signed in with, on a new network and after a browser update, and asks a stranger even with the owner's headers", async () => {
    // Two minutes apart, so the account's own login rate (over five in five minutes) stays out of it:
    // its sliding window leans on the bucket before, and six logins 70 s apart crossed the
    // threshold whenever a bucket boundary fell just before the sixth.
    const own = { ...BROWSER, cookie: "did=4c1e9a77b2d05f18; sid=a1" };
    expect(await login({ ip: "100.64.73.5", username: "gina@example.com", correct: true, headers: own, page: true, stepMs: 120_000 })).toBe("allow");
    // The same browser, updated, on mobile data: a new header set and a new network, its device cookie.
    const updated = { ...own, "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/132.0 Safari/537.36", cookie: "did=4c1e9a77b2d05f18; sid=b2" };
    expect(await login({ ip: "100.98.4.4", username: "gina@example.com", correct: true, headers: updated, page: true, stepMs: 120_000 })).toBe("allow");
    // Someone else with the password, from a network and a browser of its own, with its own device cookie.
    const stranger = { ...BROWSER, "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", cookie: "did=0000aaaa1111bbbb; sid=c3" };
    expect(await login({ ip: "100.97.5.5", username: "gina@example.com", correct: true, headers: stranger, page: true, stepMs: 120_000 })).toBe("step_up");
    // A step-up proves the password, not the device: that cookie does not become a known one.
    expect(await login({ ip: "100.97.5.5", username: "gina@example.com", correct: true, headers: stranger, page: true, stepMs: 120_000 })).toBe("step_up");
    // The owner's very header set (a popular browser's) without the owner's device cookie, from a new network.
    const twin = { ...updated, cookie: "sid=e5" };
    expect(await login({ ip: "100.95.7.7", username: "gina@example.com", correct: true, headers: twin, page: true, stepMs: 120_000 })).toBe("step_up");
    // Without the exemption the updated browser on mobile data would have been asked as well.
    const unknown = { ...updated, "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/133.0 Safari/537.36", cookie: "sid=d4" };
    expect(await login({ ip: "100.96.6.6", username: "gina@example.com", correct: true, headers: unknown, page: true, stepMs: 120_000 })).toBe("step_up");
  });

  it("does not hold an office's slow-stuffing evidence against a person on a device the account signed in with", async () => {
    const laptop = { ...BROWSER, cookie: "did=77e0c3d9a4b5f601; sid=h1" };
    expect(await login({ ip: "100.64.74.5", username: "hana@example.com", correct: true, headers: laptop, page: true, stepMs: 70_000 })).toBe("allow");
    // At the office, before anyone there got in today: her typo, then a colleague's first try.
    const office = "100.93.1.1";
    expect(await login({ ip: office, username: "hana@example.com", correct: false, headers: laptop, page: true, stepMs: 70_000 })).toBe("allow");
    const colleague = { ...BROWSER, cookie: "sid=h2" };
    expect(await login({ ip: office, username: "ivan@example.com", correct: true, headers: colleague, page: true, stepMs: 2_000 })).toBe("challenge");
    // Her retry on her own laptop goes through, and its success clears the address.
    expect(await login({ ip: office, username: "hana@example.com", correct: true, headers: laptop, page: true, stepMs: 2_000 })).toBe("allow");
    expect(await login({ ip: office, username: "ivan@example.com", correct: true, headers: colleague, page: true, stepMs: 2_000 })).toBe("allow");
  });

  it("blocks the first refresh Palisade sees when it lacks the device cookie the app sends with every refresh", async () => {
    clockMs += 1000;
    const response = await authz.check({
      method: "POST",
      path: "/oauth/token",
      ip: "100.70.99.1",
      headers: { ...SCRIPT, "content-type": "application/x-www-form-urlencoded" },
      timeMs: clockMs,
      body: `grant_type=refresh_token&refresh_token=rt-${randomUUID()}`,
    });
    expect(metadata(response).action).toBe("block");
  });

  /** One refresh of `token` with the whole cookie jar (the app's device cookie travels with it); returns Palisade's action. */
  async function refresh(token: string, ip: string, stepMs: number): Promise<string> {
    clockMs += stepMs;
    const response = await authz.check({
      method: "POST",
      path: "/oauth/token",
      ip,
      headers: { ...BROWSER, "content-type": "application/x-www-form-urlencoded", cookie: "did=5e1d0c" },
      timeMs: clockMs,
      body: `grant_type=refresh_token&refresh_token=${token}`,
    });
    return String(metadata(response).action);
  }

  it("quarantines a refresh token at its second network a second after its first use, not its sixth address", async () => {
    const token = `rt-${randomUUID()}`;
    const actions = [];
    for (let i = 0; i < 8; i++) actions.push(await refresh(token, `100.70.${i}.1`, 1000));
    // Token binding: another network a second after the token's last use (session.handoff);
    // without it, more networks within ten minutes than a person moves through (the fourth).
    expect(actions).toEqual(["allow", "quarantine", "quarantine", "quarantine", "quarantine", "quarantine", "quarantine", "quarantine"]);
  });

  it("quarantines a jar thief's first refresh minutes after the owner's, and not a phone that moved to mobile data", async () => {
    // The app refreshes once per 5-minute access token: another network 3.5 minutes after the
    // owner's refresh is a second holder, not the owner's next refresh (session.handoff, 4m).
    const stolen = `rt-${randomUUID()}`;
    expect(await refresh(stolen, "100.71.1.1", 1000)).toBe("allow");
    expect(await refresh(stolen, "100.71.2.1", 210_000)).toBe("quarantine");
    // Home Wi-Fi, then mobile data from the next refresh on, when the access token ran out.
    const roaming = `rt-${randomUUID()}`;
    expect(await refresh(roaming, "100.72.1.1", 1000)).toBe("allow");
    expect(await refresh(roaming, "100.72.2.1", 300_000)).toBe("allow");
    expect(await refresh(roaming, "100.72.2.1", 300_000)).toBe("allow");
  });
});

describe("access-log stream robustness", () => {
  it("counts and ignores garbage, unknown request ids and missing fields without closing the stream", async () => {
    await logs.send([
      { requestId: "never-checked", method: "POST", path: "/api/v1/login", ip: "not-an-ip", status: 401 },
      { requestId: "", method: "", path: "", ip: "", status: 0 },
      { requestId: "x", method: "GET", path: "/static/a.css", ip: "100.64.1.1", status: 200 },
    ]);
    const text = await app.metrics.metricsText();
    expect(text).toMatch(/palisade_access_log_entries_total\{result="recorded"\} \d+/);
    expect(text).toMatch(/palisade_login_outcomes_total\{outcome="ignored_no_context"\} [1-9]/);
    expect(await login({ ip: "100.64.9.77", username: "carol@example.com", correct: true })).toBe("allow");
  });
});
