import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledScraping } from "../policy/signals.js";
import { MemoryStore } from "../state/memory-store.js";
import { RhythmDetector } from "./rhythm.js";

const config: CompiledScraping = {
  windowMs: 600_000,
  distinctResources: {},
  sequentialIds: { threshold: 10, maxStep: 3, weight: 35 },
  regularity: { minRequests: 12, maxVariation: 0.15, minGapMs: 250, weight: 25 },
};
const T0 = Date.UTC(2026, 11, 7, 12);

/**
 * An enumerator reading ids 100, 101, … one a second from one address, its requests spread over
 * three replicas sharing one store two by two (ids 100–101 on the first, 102–103 on the second…),
 * so that each replica's own ids jump by five and its own gaps alternate one and five seconds.
 * Each replica exchanges as a Check would (`maybeExchange` before `observe`), shoppers' Checks
 * among the enumerator's. Returns, per enumerator request, the fired codes.
 */
async function enumerate(count: number, exchange: boolean): Promise<string[][]> {
  const store = new MemoryStore();
  const replicas = Array.from({ length: 3 }, () => new RhythmDetector(exchange ? store : undefined));
  const found: string[][] = [];
  const check = async (replica: RhythmDetector, timeMs: number, ipId: string, id?: number) => {
    await replica.maybeExchange(config, timeMs);
    const request: NormalisedRequest = { method: "GET", path: `/api/v1/products/${id ?? "list"}`, query: "", host: "", headers: new Map(), headerShape: "s", timeMs, anomalies: [], ipId };
    return replica.observe(request, id === undefined ? undefined : String(id), config).filter((s) => s.fired).map((s) => s.code);
  };
  for (let i = 0; i < count; i++) {
    const timeMs = T0 + i * 1_000;
    found.push(await check(replicas[Math.floor(i / 2) % 3]!, timeMs, "enumerator", 100 + i));
    // Shoppers' Checks in between, one replica after another, so each replica exchanges often.
    for (let k = 1; k < 10; k++) await check(replicas[k % 3]!, timeMs + k * 100, `shopper${i}`);
  }
  return found;
}

describe("rhythm shared by replicas through the store's exchange", () => {
  it("sees one address's sequential ids and metronome gaps over all replicas' requests", async () => {
    const found = await enumerate(40, true);
    const first = (code: string) => found.findIndex((codes) => codes.includes(code));
    // A request is folded in once every replica has published a second (IN_FLIGHT_MS) past it:
    // the run lags two requests, the gaps three.
    expect(first("ip.sequential_ids")).toBe(13);
    expect(first("client.too_regular")).toBe(14);
    expect(found.slice(14).every((codes) => codes.includes("ip.sequential_ids") && codes.includes("client.too_regular"))).toBe(true);
  });

  it("waits for a replica that publishes late rather than fold past its requests", async () => {
    // One request a second at random ids, each replica in turn; shoppers' Checks reach the first
    // two replicas only, so the third publishes at its next enumerator request, three seconds
    // late. Folded two seconds behind, its requests were left out and every third gap of the
    // fold was two seconds: not regular.
    const store = new MemoryStore();
    const replicas = Array.from({ length: 3 }, () => new RhythmDetector(store));
    const regular: boolean[] = [];
    for (let i = 0; i < 60; i++) {
      const timeMs = T0 + i * 1_000;
      const replica = replicas[i % 3]!;
      await replica.maybeExchange(config, timeMs);
      const id = (i * 7_919) % 5_000;
      const request: NormalisedRequest = { method: "GET", path: `/api/v1/products/${id}`, query: "", host: "", headers: new Map(), headerShape: "s", timeMs, anomalies: [], ipId: "enumerator" };
      regular.push(replica.observe(request, String(id), config).some((s) => s.code === "client.too_regular"));
      for (let k = 1; k < 10; k++) {
        const shopper = replicas[k % 2]!;
        await shopper.maybeExchange(config, timeMs + k * 100);
        shopper.observe({ ...request, path: "/api/v1/products/list", timeMs: timeMs + k * 100, ipId: `shopper${i}` }, undefined, config);
      }
    }
    // Twelve gaps over all replicas, folded up to the third replica's publication (three seconds late).
    expect(regular.slice(0, 14).some(Boolean)).toBe(false);
    expect(regular.slice(14).every(Boolean)).toBe(true);
  });

  it("sees neither on each replica's share alone", async () => {
    const found = await enumerate(40, false);
    expect(found.flat()).toEqual([]);
  });
});
