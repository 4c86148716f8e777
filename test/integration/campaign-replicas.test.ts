/**
 * The early campaign call across replicas: three instances of the service on one real
 * redis-server, asked by clients built from Envoy's protos, each login's outcome streamed back to
 * the replica that decided it. A list whose failing accounts Envoy spread over the replicas, one
 * each, is called on every replica once they have merged (about a second of event time), as one
 * replica calls it when it sees all three.
 *
 * The slow call (`campaign.slow`) on the same replicas: a list tried at 3 logins a minute, each
 * from its own address with a session cookie, spread over the replicas, on a shop where one
 * person signs in every two minutes, far below the 20 logins a minute the merged call needs. Once
 * 20 accounts failed (7 minutes in), every replica calls it and challenges the list's next first
 * sign-ins. A list whose credentials are mostly right signs in as often as it fails, yet its wrong
 * entries never get in: once 20 of them failed it is called as well, while as many people who
 * mistype and then get in are not.
 *
 * Account checking through the slow call's bare floor (`campaign.slow.bareFailingAccounts`, set to
 * 3 here; the example policy leaves it off): a
 * list mostly right, posted from a new address every 20 s, each with a fresh session cookie as a
 * checker gets by loading the form, while a shopper on each replica reads a product and loads its
 * picture. Its right entries are let in until three of its wrong ones failed
 * (`session.bare_login` on every one), then every replica calls the campaign and challenges its
 * next first sign-ins. The same list from sessions that loaded an asset before the form is not
 * called on three failures: that floor is the bare sessions'.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReplicasOnRedis, type ReplicasOnRedis } from "../support/app.js";
import { metadata, type EnvoyAccessLogClient, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath } from "../support/policies.js";

/** A browser that loaded the site and keeps its session cookie: failures the early call counts. */
const headers = (session: string) => ({
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
  "content-type": "application/json",
  cookie: `sid=${session}`,
});

const MINUTE = 60_000;
let services: ReplicasOnRedis | undefined;
let authz: EnvoyAuthzClient[] = [];
let logs: EnvoyAccessLogClient[] = [];
/** Event time advances by itself so every test runs on its own stretch of recorded time. */
let clockMs = Date.now() - 3 * 3_600_000;
let address = 0;

/** The example policy with the slow call's bare floor (`bareFailingAccounts: 3`), which the example leaves off. */
function policyWithBareFloor(): string {
  const example = readFileSync(examplePolicyPath, "utf8");
  const policy = example.replace("perSignedIn: 2 }", "perSignedIn: 2, bareFailingAccounts: 3 }");
  if (policy === example) throw new Error("the example policy's campaign.slow moved: update this test");
  const file = join(mkdtempSync(join(tmpdir(), "palisade-bare-floor-")), "policy.yaml");
  writeFileSync(file, policy);
  return file;
}

beforeAll(async () => {
  services = await startReplicasOnRedis(3, { policy: policyWithBareFloor() });
  ({ authz, logs } = services);
}, 60_000);

afterAll(() => services?.stop());

/**
 * A login of `username` (a new list entry by default) through `replica` from an address and a
 * session of its own, `atMs` into the stretch; `shell`: the session loaded an asset 2 s before.
 * With an outcome, its 401 or 200 is streamed back to the same replica when Palisade let it
 * through. Returns Palisade's action and reasons.
 */
async function attempt(
  replica: number,
  startMs: number,
  atMs: number,
  outcome?: "failed" | "signed in",
  username = `list-${randomUUID()}`,
  shell = false,
): Promise<{ action: string; reasons: string[] }> {
  const requestId = randomUUID();
  const ip = `100.77.${Math.floor(++address / 250)}.${(address % 250) + 1}`;
  const session = randomUUID();
  if (shell) await browse(replica, session, ip, "/static/css/site.css", startMs + atMs - 2_000);
  const check = await authz[replica]!.check({
    method: "POST",
    path: "/api/v1/login",
    ip,
    headers: headers(session),
    timeMs: startMs + atMs,
    requestId,
    body: JSON.stringify({ username, password: `guess-${randomUUID()}` }),
  });
  const { action, reasons } = metadata(check) as { action: string; reasons?: string[] };
  if (outcome && (action === "allow" || action === "step_up")) {
    await logs[replica]!.send([
      { requestId, method: "POST", path: "/api/v1/login", ip, timeMs: startMs + atMs, status: outcome === "failed" ? 401 : 200, authzMetadata: check.dynamic_metadata },
    ]);
  }
  return { action, reasons: reasons ?? [] };
}

/** The reasons of a new list entry's login (see `attempt`). */
async function login(replica: number, startMs: number, atMs: number, outcome?: "failed"): Promise<string[]> {
  return (await attempt(replica, startMs, atMs, outcome)).reasons;
}

/** Three accounts of a list fail within 200 ms, through `through` (a replica for each); then logins of the list follow. */
async function campaign(through: [number, number, number]): Promise<{ justAfter: string[]; merged: string[][] }> {
  clockMs += 10 * 60_000; // far past the last stretch's minutes
  const startMs = clockMs;
  for (const [i, replica] of through.entries()) await login(replica, startMs, i * 100, "failed");
  const justAfter = await login(0, startMs, 300);
  // Two merges (about once a second each) on every replica, by the list's next logins.
  for (const atMs of [1_300, 2_600]) for (const replica of [0, 1, 2]) await login(replica, startMs, atMs);
  const merged = [];
  for (const replica of [0, 1, 2]) merged.push(await login(replica, startMs, 2_800));
  return { justAfter, merged };
}

describe("the early campaign call shared by replicas", () => {
  it("calls a list spread over three replicas on each of them once they merged, as one replica calls it", async () => {
    const one = await campaign([0, 0, 0]);
    expect(one.justAfter).toContain("site.campaign_early");
    for (const reasons of one.merged) expect(reasons).toContain("site.campaign_early");

    const spread = await campaign([0, 1, 2]);
    expect(spread.justAfter).not.toContain("site.campaign_early"); // replica 0 saw one failing account of three
    for (const reasons of spread.merged) expect(reasons).toContain("site.campaign_early");
  });
});

describe("the slow campaign call on a small shop", () => {
  it("is called on every replica once 20 accounts of a list failed, 3 a minute, against one sign-in every two minutes", async () => {
    clockMs += 2 * 3_600_000; // past both 30-minute spans of the long window since the early call's stretches
    const startMs = clockMs;
    const before: string[][] = [];
    for (let minute = 0; minute < 7; minute++) {
      for (let i = 0; i < 3; i++) before.push((await attempt(i, startMs, minute * MINUTE + i * 20_000, "failed")).reasons);
      if (minute % 2 === 0) await attempt(minute % 3, startMs, minute * MINUTE + 50_000, "signed in", `shopper-${minute}`);
    }
    expect(before.filter((reasons) => reasons.includes("site.campaign"))).toEqual([]);
    // The 21st account failed at 6:40; a login on each replica a couple of merges later.
    const after = [];
    for (const replica of [0, 1, 2]) await attempt(replica, startMs, 7 * MINUTE + 1_000 + replica * 10, "failed");
    for (const replica of [0, 1, 2]) after.push(await attempt(replica, startMs, 7 * MINUTE + 3_000 + replica * 10, "failed"));
    for (const { action, reasons } of after) {
      expect(reasons).toContain("site.campaign");
      expect(action).toBe("challenge");
    }
  }, 60_000);

  it("calls a list that signs in as often as it fails once 20 of its accounts failed and never got in, and not people who mistype and get in", async () => {
    /** Seven minutes, three accounts a minute failing, one on each replica, and three signing in: new ones, or with `recovering` the same that failed. */
    async function minutes(recovering: boolean): Promise<{ action: string; reasons: string[] }[]> {
      clockMs += 2 * 3_600_000; // past both 30-minute spans of the long window
      const startMs = clockMs;
      for (let minute = 0; minute < 7; minute++) {
        for (let i = 0; i < 3; i++) {
          const account = `account-${randomUUID()}`;
          await attempt(i, startMs, minute * MINUTE + i * 10_000, "failed", account);
          await attempt(i, startMs, minute * MINUTE + i * 10_000 + 5_000, "signed in", recovering ? account : undefined);
        }
      }
      const after = [];
      for (const replica of [0, 1, 2]) await attempt(replica, startMs, 7 * MINUTE + 1_000 + replica * 10, "signed in");
      for (const replica of [0, 1, 2]) after.push(await attempt(replica, startMs, 7 * MINUTE + 3_000 + replica * 10));
      return after;
    }
    for (const { action, reasons } of await minutes(false)) {
      expect(reasons).toContain("site.campaign");
      expect(action).toBe("challenge");
    }
    for (const { reasons } of await minutes(true)) expect(reasons).not.toContain("site.campaign");
  }, 90_000);
});

/** A GET of `path` by a browser session through `replica`. */
async function browse(replica: number, session: string, ip: string, path: string, timeMs: number): Promise<void> {
  await authz[replica]!.check({ method: "GET", path, ip, headers: headers(session), timeMs, requestId: randomUUID() });
}

/** A shopper on each replica reads a product and loads its picture: assets after reads reach every replica. */
async function shoppers(startMs: number): Promise<void> {
  for (const replica of [0, 1, 2]) {
    const session = randomUUID();
    const ip = `100.77.${Math.floor(++address / 250)}.${(address % 250) + 1}`;
    await browse(replica, session, ip, "/api/v1/products/12001", startMs + replica * 100);
    await browse(replica, session, ip, "/static/img/products/12001-1.webp", startMs + replica * 100 + 50);
  }
}

/** Nine entries 20 s apart over the replicas, every third wrong; then a login on each replica, twice, a few merges later. */
async function checking(shell: boolean): Promise<{ list: { action: string; reasons: string[] }[]; after: { action: string; reasons: string[] }[] }> {
  clockMs += 2 * 3_600_000; // past both 30-minute spans of the long window
  const startMs = clockMs;
  await shoppers(startMs);
  const list = [];
  for (let i = 0; i < 9; i++) list.push(await attempt(i % 3, startMs, 10_000 + i * 20_000, i % 3 === 2 ? "failed" : "signed in", undefined, shell));
  const endMs = 10_000 + 9 * 20_000;
  for (const replica of [0, 1, 2]) await attempt(replica, startMs, endMs + replica * 10, undefined, undefined, shell);
  const after = [];
  for (const replica of [0, 1, 2]) after.push(await attempt(replica, startMs, endMs + 2_000 + replica * 10, undefined, undefined, shell));
  return { list, after };
}

describe("account checking from bare sessions, called by the slow call's bare floor", () => {
  it("is not called on three failures of sessions that loaded the site's assets first: those need failingAccounts", async () => {
    const { list, after } = await checking(true);
    for (const { reasons } of [...list, ...after]) {
      expect(reasons).not.toContain("session.bare_login");
      expect(reasons).not.toContain("site.campaign");
    }
  }, 60_000);

  it("lets the list's first entries in, then challenges its first sign-ins on every replica once three of its wrong ones failed", async () => {
    const { list, after } = await checking(false);
    for (const { reasons } of list) expect(reasons).toContain("session.bare_login");
    // The first eight entries came before the third wrong one's outcome was merged: let in, no call.
    for (const { action, reasons } of list.slice(0, 8)) {
      expect(reasons).not.toContain("site.campaign");
      expect(action).toBe("allow");
    }
    for (const { action, reasons } of after) {
      expect(reasons).toContain("site.campaign");
      expect(action).toBe("challenge");
    }
  }, 60_000);
});
