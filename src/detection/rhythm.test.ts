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

describe("RhythmDetector, exactly", () => {
  const regularOnly: CompiledScraping = { ...config, sequentialIds: undefined };

  it("reports the variation or the mean gap it judged, rounded, with its threshold", () => {
    const metronome = new RhythmDetector();
    let signals = metronome.observe(at(0), undefined, config);
    for (let i = 1; i <= 6; i++) signals = metronome.observe(at(i * 1000 + (i % 2) * 50), undefined, config);
    // Gaps 1050, 950, 1050, 950, 1050, 950: mean 1000, standard deviation 50 (population).
    expect(signals).toEqual([{ code: "client.too_regular", value: 0.05, threshold: 0.15, weight: 25, fired: true, detail: "variation of the gaps between requests" }]);
    const sprinter = new RhythmDetector();
    for (const t of [0, 100, 300, 400, 600, 700]) sprinter.observe(at(t), undefined, config);
    expect(sprinter.observe(at(900), undefined, config)).toEqual([
      { code: "client.too_fast", value: 150, threshold: 250, weight: 25, fired: true, detail: "mean gap between requests in ms" },
    ]);
  });

  it("judges rhythm only from its minimum number of gaps, and starts over after ten minutes away", () => {
    const detector = new RhythmDetector();
    const codes = (t: number) => detector.observe(at(t), undefined, regularOnly).map((s) => s.code);
    for (let i = 0; i < 6; i++) expect(codes(i * 1000)).toEqual([]); // five gaps
    expect(codes(6000)).toEqual(["client.too_regular"]); // the sixth
    expect(codes(6000 + 600_001)).toEqual([]); // a new visit
    expect(codes(6000 + 600_001 + 1000)).toEqual([]);
    // Exactly ten minutes is still the same visit.
    const patient = new RhythmDetector();
    for (let i = 0; i < 6; i++) patient.observe(at(i * 600_000), undefined, regularOnly);
    expect(patient.observe(at(6 * 600_000), undefined, regularOnly).map((s) => s.code)).toEqual(["client.too_regular"]);
    // Two requests at the same instant add no gap.
    const twins = new RhythmDetector();
    for (let i = 0; i < 6; i++) twins.observe(at(i * 1000), undefined, regularOnly);
    expect(twins.observe(at(5000), undefined, regularOnly)).toEqual([]);
  });

  it("fires a sequential run only above its threshold, counts steps up to maxStep in either direction, and a repeat ends the run", () => {
    const detector = new RhythmDetector();
    const sequence = (ids: number[]) => ids.map((id, i) => detector.observe(at(i * 7_000 + (i % 3) * 2_000, "walker"), String(id), config)[0]);
    const signals = sequence([10, 12, 11, 9, 7, 8, 9, 9, 10]);
    expect(signals.map((s) => s?.value ?? 0)).toEqual([0, 1, 2, 3, 4, 5, 6, 0, 1]);
    expect(signals[5]).toEqual({ code: "ip.sequential_ids", value: 5, threshold: 5, weight: 35, fired: false });
    expect(signals[6]!.fired).toBe(true);
    // Numbers beyond 15 digits, or with anything else, are not ids to walk.
    const other = new RhythmDetector();
    expect(other.observe(at(0, "o"), "1234567890123456", config)).toEqual([]);
    expect(other.observe(at(7000, "o"), "12a", config)).toEqual([]);
    expect(other.observe(at(14000, "o"), "a12", config)).toEqual([]);
  });

  it("follows nothing without an address or either signal", () => {
    const detector = new RhythmDetector();
    expect(detector.observe({ ...at(0), ipId: undefined }, "1", config)).toEqual([]);
    expect(detector.observe(at(0), "1", undefined)).toEqual([]);
    expect(detector.observe(at(0), "1", { windowMs: 600_000, distinctResources: {} })).toEqual([]);
  });
});
