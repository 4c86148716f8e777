import { describe, expect, it } from "vitest";
import { minimalPolicyDocument, policyFrom } from "../../test/support/policies.js";
import type { HttpAttributes } from "../domain/request.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { MemoryStore } from "../state/memory-store.js";
import type { Publication } from "../state/store.js";
import { createDetectionState, createPipeline } from "./pipeline.js";

const T0 = Date.UTC(2026, 11, 7, 12);
const pseudonymiser = new HmacPseudonymiser({ current: Buffer.alloc(32, 5) });
const policy = policyFrom(minimalPolicyDocument({ signals: { cohorts: { window: "10m", sessionCookies: ["sid"] } } }));

/** A shared store whose exchanges are answered only when the test says so (a slow Redis, another replica's turn). */
class HeldExchangeStore extends MemoryStore {
  readonly held: { publication: Publication; release: () => void }[] = [];

  override exchange(entity: string, publication: Publication, nowMs: number): Promise<string[]> {
    return new Promise((resolve) => this.held.push({ publication, release: () => resolve(super.exchange(entity, publication, nowMs)) }));
  }
}

/** A login on the minimal policy's one endpoint. */
const login = (atMs: number): HttpAttributes => ({
  method: "POST",
  path: "/login",
  headers: new Map([["x-forwarded-for", "192.0.2.7"]]),
  body: new TextEncoder().encode(JSON.stringify({ username: "ann", password: "pw" })),
  timeMs: T0 + atMs,
});

/** Lets every pending callback run (the memory store answers within a few turns of the loop). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("a replica's exchange turns and the Check that starts one", () => {
  it("answers the Check while the turn it started is still waiting for the store", async () => {
    const store = new HeldExchangeStore();
    const pipeline = createPipeline({ store, pseudonymiser, policy: () => policy, clock: { now: () => T0 }, eventTime: { maxSkewMs: 60_000, trust: true }, detection: createDetectionState(store) });
    let answered = false;
    const evaluating = pipeline.evaluate(login(0)).then(() => (answered = true));
    await settle();
    // The first Check of a replica finds its cohorts turn due.
    expect(store.held.map((h) => h.publication.name)).toEqual(["cohorts"]);
    expect(answered).toBe(true);
    store.held[0]!.release();
    await evaluating;
  });
});
