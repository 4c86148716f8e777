/**
 * Enumeration through proxies, judged site-wide across replicas: two instances of the service
 * with the example policy on one real redis-server, asked by clients built from Envoy's protos.
 * Guest order numbers are tried one per residential address, and Envoy hands the requests to the
 * two replicas in turn, so each replica sees half the misses, fewer than the policy's 20 missing
 * ids in two minutes; the counts both merge into the store make the surge, and both challenge the
 * next order looked up without a session while a shopper signed in to the site looks up hers.
 * The same for sign-ups answered 409, "already registered".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReplicasOnRedis, type ReplicasOnRedis } from "../support/app.js";
import { metadata, type EnvoyAccessLogClient, type EnvoyAuthzClient } from "../support/envoy-client.js";

const CHROME = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-US,en;q=0.9",
  "accept-encoding": "gzip, deflate, br, zstd",
};
const SIGNED_IN = { ...CHROME, cookie: "sid=shopper-session; did=shopper-device" };

let services: ReplicasOnRedis | undefined;
let authz: EnvoyAuthzClient[] = [];
let logs: EnvoyAccessLogClient[] = [];
let clockMs = Date.now() - 3_600_000;
let requests = 0;

beforeAll(async () => {
  services = await startReplicasOnRedis(2);
  ({ authz, logs } = services);
}, 60_000);

afterAll(() => services?.stop());

/**
 * One request through `replica` from an address of its own: the Check, then the site's answer (when allowed) in the access log
 * of `logReplica` (that replica's own unless Envoy's access-log stream is pinned to another).
 */
async function request(replica: number, method: string, path: string, status: number, headers: Record<string, string>, body?: string, logReplica = replica) {
  clockMs += 2_000;
  const requestId = `enumeration-${++requests}`;
  const ip = `100.88.${Math.floor(requests / 250)}.${(requests % 250) + 1}`;
  const check = await authz[replica]!.check({ method, path, ip, headers, timeMs: clockMs, requestId, ...(body === undefined ? {} : { body }) });
  const { action, reasons } = metadata(check) as { action: string; reasons?: string[] };
  const denied = check.status.code !== 0;
  await logs[logReplica]!.send([{ requestId, method, path, ip, status: denied ? 401 : status, timeMs: clockMs, authzMetadata: check.dynamic_metadata, deniedByAuthz: denied }]);
  return { action, reasons: reasons ?? [] };
}

describe("enumeration through proxies, across replicas", () => {
  it("challenges order look-ups without a session once both replicas' misses make a surge, never a signed-in shopper's", async () => {
    const before = [];
    // 30 missing orders, 15 through each replica: each replica's own share is under the 20 of the policy.
    for (let i = 0; i < 30; i++) before.push(await request(i % 2, "GET", `/api/v1/orders/${300_000 + i * 37}`, 404, CHROME));
    expect(before.slice(0, 20).map((r) => r.action)).toEqual(Array(20).fill("allow"));
    const next = await Promise.all([0, 1].map((replica) => request(replica, "GET", `/api/v1/orders/${400_000 + replica}`, 404, CHROME)));
    for (const { action, reasons } of next) {
      expect(action).toBe("challenge");
      expect(reasons).toContain("site.enumeration");
    }
    const shopper = await Promise.all([0, 1].map((replica) => request(replica, "GET", "/api/v1/orders/512345", 200, SIGNED_IN)));
    expect(shopper.map((r) => r.action)).toEqual(["allow", "allow"]);
    // Another shape is not touched by the orders' surge.
    expect((await request(0, "GET", "/api/v1/coupons/SAVE0001", 404, CHROME)).action).toBe("allow");
  });

  it("challenges on a replica that gets no access log at all, from the count the other merged", async () => {
    // Envoy's access-log stream pinned to replica 0; the Checks still alternate.
    const before = [];
    for (let i = 0; i < 25; i++) before.push(await request(i % 2, "GET", `/api/v1/giftcards/${500_000 + i * 41}`, 404, CHROME, undefined, 0));
    expect(before.slice(0, 20).map((r) => r.action)).toEqual(Array(20).fill("allow"));
    const next = await request(1, "GET", "/api/v1/giftcards/600001", 404, CHROME, undefined, 0);
    expect(next.action).toBe("challenge");
    expect(next.reasons).toContain("site.enumeration");
  });

  it("challenges sign-ups without a session once both replicas saw many addresses answered as already registered", async () => {
    const signUp = (replica: number, email: string, status: number, headers: Record<string, string> = CHROME) =>
      request(replica, "POST", "/api/v1/register", status, { ...headers, "content-type": "application/json" }, JSON.stringify({ email, password: "a" }));
    // 12 registered addresses, 6 through each replica: above the policy's 10, from neither alone.
    for (let i = 0; i < 12; i++) expect((await signUp(i % 2, `known-${i}@example.com`, 409)).action).toBe("allow");
    const probes = await Promise.all([0, 1].map((replica) => signUp(replica, `probe-${replica}@example.com`, 422)));
    for (const { action, reasons } of probes) {
      expect(action).toBe("challenge");
      expect(reasons).toContain("site.enumeration");
    }
    // A newcomer who loaded the sign-up page carries its session cookie and registers.
    expect((await signUp(1, "newcomer@example.com", 201, SIGNED_IN)).action).toBe("allow");
  });
});
