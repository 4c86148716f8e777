/**
 * The catalogue walk across replicas: three instances of the service on one real redis-server,
 * asked by clients built from Envoy's protos. A walk through the catalogue, one product per
 * residential address, whose reads Envoy hands out two by two to each replica in turn leaves every
 * replica ids five apart, wider than the example's `maxStep` of 3: no replica's own reads form
 * a band. The reads each replica publishes through the store four times a second fill the others'
 * gaps, and the walk is called on all three.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReplicasOnRedis, type ReplicasOnRedis } from "../support/app.js";
import { metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";

/** A browser that loaded the site and keeps its session cookie: no member of the cookieless cohort. */
const headers = (session: number) => ({
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
  cookie: `sid=walker-${session}`,
});

let services: ReplicasOnRedis | undefined;
let authz: EnvoyAuthzClient[] = [];

beforeAll(async () => {
  services = await startReplicasOnRedis(3);
  ({ authz } = services);
}, 60_000);

afterAll(() => services?.stop());

describe("the catalogue walk shared by replicas", () => {
  it("calls a walk whose reads no replica sees enough of, on every replica, from the reads they exchanged", async () => {
    const startMs = Date.now() - 3_600_000;
    const walkedOn = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const replica = Math.floor(i / 2) % 3; // ids 0, 1, 6, 7… on the first: steps of 5 between pairs
      const check = await authz[replica]!.check({
        method: "GET",
        path: `/api/v1/products/${7_000 + i}`,
        ip: `100.64.${Math.floor(i / 200)}.${(i % 200) + 1}`,
        headers: headers(i),
        timeMs: startMs + i * 1_000,
      });
      const reasons = (metadata(check).reasons as string[] | undefined) ?? [];
      if (reasons.includes("cohort.catalogue_walk")) walkedOn.add(replica);
    }
    expect([...walkedOn].sort()).toEqual([0, 1, 2]);
  });
});
