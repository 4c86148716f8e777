import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledScraping } from "../policy/signals.js";
import { RhythmDetector } from "./rhythm.js";

const config: CompiledScraping = {
  windowMs: 600_000,
  distinctResources: {},
  sequentialIds: { threshold: 5, maxStep: 2, weight: 35 },
  regularity: { minRequests: 6, maxVariation: 0.15, minGapMs: 250, weight: 25 },
};

function at(timeMs: number, ipId = "ip1"): NormalisedRequest {
  return { method: "GET", path: "/", query: "", host: "", headers: new Map(), headerShape: "s", timeMs, anomalies: [], ipId };
}

describe("RhythmDetector", () => {
  it("counts runs of near-sequential ids and resets on a jump", () => {
    const detector = new RhythmDetector();
    const runs = [1, 2, 4, 5, 6, 7, 8, 100].map((id, i) => detector.observe(at(i * 7_000 + (i % 3) * 1_500), String(id), config));
    expect(runs.map((signals) => signals.find((s) => s.code === "ip.sequential_ids")?.value ?? 0)).toEqual([0, 1, 2, 3, 4, 5, 6, 0]);
    expect(runs[6]!.find((s) => s.code === "ip.sequential_ids")?.fired).toBe(true);
  });

  it("tells a metronome and a sprinter from a person", () => {
    const metronome = new RhythmDetector();
    const sprinter = new RhythmDetector();
    const person = new RhythmDetector();
    const last = (detector: RhythmDetector, gaps: number[]) => {
      let t = 0;
      let signals = detector.observe(at(t), undefined, config);
      for (const gap of gaps) signals = detector.observe(at((t += gap)), undefined, config);
      return signals.map((s) => s.code);
    };
    expect(last(metronome, Array(8).fill(1000))).toEqual(["client.too_regular"]);
    expect(last(sprinter, [50, 80, 40, 120, 60, 90, 70, 30])).toEqual(["client.too_fast"]);
    expect(last(person, [3000, 12000, 800, 25000, 4000, 9000, 1500, 30000])).toEqual([]);
  });

  it("ignores ids that are not numbers", () => {
    const detector = new RhythmDetector();
    expect(detector.observe(at(0), "sku-1", config)).toEqual([]);
    expect(detector.observe(at(5000), "sku-2", config)).toEqual([]);
  });
});
