import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledScraping } from "../policy/signals.js";
import { RhythmDetector } from "./rhythm.js";

/**
 * The rhythm detector at its edges (rhythm.test.ts plays the common cases): a mean gap of
 * exactly the fastest a person clicks, a new visit after ten minutes starting the statistics
 * afresh, a request that arrives out of order, ids with letters, and a policy that watches only
 * the gaps. Times come from the requests.
 */

const regularity = { minRequests: 6, maxVariation: 0.15, minGapMs: 250, weight: 25 };
const config: CompiledScraping = { windowMs: 600_000, distinctResources: {}, sequentialIds: { threshold: 5, maxStep: 2, weight: 35 }, regularity };

function at(timeMs: number): NormalisedRequest {
  return { method: "GET", path: "/", query: "", host: "", headers: new Map(), headerShape: "s", timeMs, anomalies: [], ipId: "ip1" };
}

/** The codes of the last request's signals after requests at these times. */
function after(times: number[], settings = config, ids: (string | undefined)[] = []): string[] {
  const detector = new RhythmDetector();
  let codes: string[] = [];
  times.forEach((t, i) => (codes = detector.observe(at(t), ids[i], settings).map((s) => s.code)));
  return codes;
}
const steady = (from: number, count: number, gap: number) => Array.from({ length: count }, (_, i) => from + i * gap);

describe("rhythm at its edges", () => {
  it("calls a mean gap of exactly minGapMs regular, not too fast", () => {
    expect(after(steady(0, 8, 250))).toEqual(["client.too_regular"]);
    expect(after(steady(0, 8, 249))).toEqual(["client.too_fast"]);
  });

  it("starts the gap statistics afresh after more than ten minutes, and not after exactly ten", () => {
    // An irregular start, then a pause, then a metronome: only a fresh start sees the metronome.
    const irregular = [0, 100, 5_000, 5_200, 60_000, 60_050, 200_000];
    const resumed = 200_000 + 600_001;
    expect(after([...irregular, ...steady(resumed, 8, 1_000)])).toEqual(["client.too_regular"]);
    expect(after([...irregular, ...steady(200_000 + 600_000, 8, 1_000)])).toEqual([]);
  });

  it("takes no gap from a request that arrives before the one it follows", () => {
    const times = steady(0, 8, 1_000);
    // A straggler timed before the last request: its negative gap is no gap at all.
    expect(after([...times.slice(0, 7), 5_500, 6_500, 7_500])).toEqual(["client.too_regular"]);
  });

  it("reads only whole numbers as ids, and watches gaps alone when the policy sets no sequential ids", () => {
    const ids = ["1", "2", "3", "4", "5a", "6", "7"];
    const gaps = [0, 1_500, 9_000, 9_900, 20_000, 20_700, 40_000];
    const detector = new RhythmDetector();
    const runs = gaps.map((t, i) => detector.observe(at(t), ids[i], config).find((s) => s.code === "ip.sequential_ids")?.value ?? 0);
    expect(runs).toEqual([0, 1, 2, 3, 3, 4, 5]);
    expect(after(steady(0, 8, 1_000), { ...config, sequentialIds: undefined }, steady(1, 8, 1).map(String))).toEqual(["client.too_regular"]);
  });
});
