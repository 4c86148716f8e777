import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { MemoryStore } from "../state/memory-store.js";
import { BehaviourBaselines, clientClass } from "./behaviour.js";
import type { Signal } from "./signal.js";

/** Request rates per endpoint and client class against a prior, then against what was learned. */

const MINUTE = 60_000;
const T0 = 1_700_000_040_000;
const config = { zScore: 3, minSamples: 2, learningRate: 0.5, priorMean: 10, priorStddev: 5, weight: 20 };
const policy = { signals: { scraping: { velocityBaseline: config } } } as unknown as CompiledPolicy;

function request(timeMs: number, userAgent = "Mozilla/5.0 Firefox/128.0", endpoint: string | undefined = "products"): NormalisedRequest {
  return { method: "GET", path: "/p", query: "", host: "", headers: new Map([["user-agent", userAgent]]), headerShape: "s", timeMs, anomalies: [], ...(endpoint ? { endpoint } : {}) };
}

describe("client classes", () => {
  it("calls a client a script when a library or automation signal names it, else a browser by its user agent", () => {
    const library: Signal = { code: "client.library", value: 1, weight: 30, fired: true };
    const automation: Signal = { code: "client.automation", value: 1, weight: 25, fired: true };
    expect(clientClass(request(T0), [library])).toBe("script");
    expect(clientClass(request(T0), [automation])).toBe("script");
    expect(clientClass(request(T0), [{ ...library, code: "client.other" }])).toBe("browser");
    expect(clientClass(request(T0, "curl/8.5"), [])).toBe("other");
  });
});

describe("behaviour baselines", () => {
  it("judges against the prior until enough minutes are learned: mean plus z standard deviations", async () => {
    const baselines = new BehaviourBaselines(new MemoryStore());
    const [normal] = await baselines.observe(request(T0), policy, 25, "browser");
    expect(normal).toEqual({
      code: "behaviour.velocity", value: 25, threshold: 25, weight: 20, fired: false, detail: "browser clients of products, threshold from prior",
    });
    expect((await baselines.observe(request(T0), policy, 25.5, "browser"))[0]!.fired).toBe(true);
  });

  it("says nothing without the signal, a measured rate or an endpoint", async () => {
    const baselines = new BehaviourBaselines(new MemoryStore());
    expect(await baselines.observe(request(T0), { signals: {} } as unknown as CompiledPolicy, 50, "browser")).toEqual([]);
    expect(await baselines.observe(request(T0), policy, undefined, "browser")).toEqual([]);
    expect(await baselines.observe(request(T0, undefined, ""), policy, 50, "browser")).toEqual([]);
  });

  it("learns each finished minute per endpoint and class, then judges against the learned mean and spread", async () => {
    const baselines = new BehaviourBaselines(new MemoryStore());
    // Three minutes of browsers at 4 to 6 requests a minute: the baseline learns a mean near 5.
    for (let minute = 0; minute < 3; minute++) {
      for (const velocity of [4, 5, 6]) await baselines.observe(request(T0 + minute * MINUTE), policy, velocity, "browser");
    }
    const [learned] = await baselines.observe(request(T0 + 3 * MINUTE), policy, 9, "browser");
    expect(learned!.detail).toBe("browser clients of products, threshold from baseline");
    // Mean 5, spread 1 (variance 1 a minute): 5 + 3 × 1.
    expect(learned).toMatchObject({ value: 9, threshold: 8, fired: true });
    // Another class of the same endpoint has learned nothing yet: the prior still judges it.
    expect((await baselines.observe(request(T0 + 3 * MINUTE), policy, 9, "script"))[0]).toMatchObject({ threshold: 25, fired: false });
  });

  it("learns nothing from an outlier, so a flood does not raise the bar it is judged by", async () => {
    const baselines = new BehaviourBaselines(new MemoryStore());
    for (let minute = 0; minute < 3; minute++) {
      for (const velocity of [5, 5, 500]) await baselines.observe(request(T0 + minute * MINUTE), policy, velocity, "browser");
    }
    // Only the 5s were learned (the 500s fired against the prior): mean 5, spread 0, so 5 + 3 × 1.
    expect((await baselines.observe(request(T0 + 3 * MINUTE), policy, 5, "browser"))[0]).toMatchObject({ threshold: 8, fired: false });
  });
});
