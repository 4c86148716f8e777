import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { MemoryStore } from "../state/memory-store.js";
import { BehaviourBaselines } from "./behaviour.js";

/**
 * Behaviour baselines at their edges (behaviour.test.ts plays the common cases): requests spread
 * over a minute learn that minute once, a baseline is trusted from exactly `minSamples` minutes,
 * the learned spread scales the threshold, a minute of one request has no spread, and a store
 * that fails leaves the prior in charge. Event time only.
 */

const MINUTE = 60_000;
const T0 = 1_700_000_040_000; // a minute boundary
const config = { zScore: 3, minSamples: 2, learningRate: 0.5, priorMean: 10, priorStddev: 5, weight: 20 };
const policy = { signals: { scraping: { velocityBaseline: config } } } as unknown as CompiledPolicy;

function request(timeMs: number): NormalisedRequest {
  return { method: "GET", path: "/p", query: "", host: "", headers: new Map([["user-agent", "Mozilla/5.0 Firefox/128.0"]]), headerShape: "s", timeMs, anomalies: [], endpoint: "products" };
}

/** Feeds each minute's rates, spread over the minute, and returns the judgement of `velocity` at the start of the next one. */
async function after(baselines: BehaviourBaselines, minutes: number[][], velocity: number) {
  for (const [m, rates] of minutes.entries()) {
    for (const [i, rate] of rates.entries()) await baselines.observe(request(T0 + m * MINUTE + i * 10_000), policy, rate, "browser");
  }
  return (await baselines.observe(request(T0 + minutes.length * MINUTE), policy, velocity, "browser"))[0]!;
}

describe("behaviour baselines at their edges", () => {
  it("learns a minute once however its requests are spread, and trusts it from exactly minSamples minutes", async () => {
    const one = await after(new BehaviourBaselines(new MemoryStore()), [[4, 5, 6]], 9);
    expect(one).toMatchObject({ threshold: 25, fired: false, detail: "browser clients of products, threshold from prior" });
    const two = await after(new BehaviourBaselines(new MemoryStore()), [[4, 5, 6], [4, 5, 6]], 9);
    expect(two).toMatchObject({ threshold: 8, fired: true, detail: "browser clients of products, threshold from baseline" });
  });

  it("scales the threshold with the learned spread, and gives a minute of one request no spread", async () => {
    // Rates 3, 5 and 7: variance 4, spread 2, so 5 + 3 × 2.
    expect(await after(new BehaviourBaselines(new MemoryStore()), [[3, 5, 7], [3, 5, 7]], 11)).toMatchObject({ threshold: 11, fired: false });
    // One request a minute: no variance, so the floor of 1: 5 + 3 × 1.
    expect(await after(new BehaviourBaselines(new MemoryStore()), [[5], [5], [5]], 8.5)).toMatchObject({ threshold: 8, fired: true });
  });

  it("keeps judging against the prior when the store cannot learn", async () => {
    const store = new MemoryStore();
    store.observeBaseline = () => Promise.reject(new Error("store down"));
    expect(await after(new BehaviourBaselines(store), [[4, 5, 6], [4, 5, 6], [4, 5, 6]], 9)).toMatchObject({ threshold: 25, fired: false });
  });
});
