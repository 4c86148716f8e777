import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { CohortTracker } from "./cohorts.js";

const signals: CompiledSignals = {
  cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid"], minMembers: 5, browserWithoutSession: 40, catalogueWalk: { maxStep: 3, withinMs: 10_000, minRun: 5, weight: 40 } },
};
const product = { name: "product", pageView: false, resourceSegment: 4 } as CompiledEndpoint;

/** The walk signal's value for each request ([run, fired]), or undefined when it continued nothing. */
function walk(requests: { ip: string; id: number | string; atMs: number }[], settings = signals) {
  const tracker = new CohortTracker();
  return requests.map(({ ip, id, atMs }) => {
    const request: NormalisedRequest = {
      method: "GET",
      path: `/api/v1/products/${id}`,
      query: "",
      host: "",
      headers: new Map([["cookie", "sid=1"]]),
      headerShape: "s",
      timeMs: atMs,
      anomalies: [],
      ipId: ip,
    };
    const found = tracker.observe(request, product, settings, []).find((s) => s.code === "cohort.catalogue_walk");
    return found && ([found.value, found.fired] as const);
  });
}

describe("cohort.catalogue_walk", () => {
  it("flags a walk in order spread over addresses from its fifth step, and keeps it while shoppers ask for other things", () => {
    const steps = Array.from({ length: 8 }, (_, i) => ({ ip: `proxy${i}`, id: 100 + i, atMs: i * 200 }));
    // A shopper's product in the middle of the walk neither continues nor breaks it.
    const requests = [...steps.slice(0, 6), { ip: "shopper", id: 7, atMs: 1_150 }, ...steps.slice(6)];
    expect(walk(requests)).toEqual([undefined, [1, false], [2, false], [3, false], [4, false], [5, true], undefined, [6, true], [7, true]]);
  });

  it("is quiet for shoppers: one product continuing the one before by chance is no walk", () => {
    const shoppers = [{ ip: "a", id: 40, atMs: 0 }, { ip: "b", id: 41, atMs: 500 }, { ip: "c", id: 9, atMs: 900 }, { ip: "d", id: 10, atMs: 1_500 }, { ip: "e", id: 250, atMs: 2_000 }];
    expect(walk(shoppers).filter((found) => found?.[1])).toEqual([]);
  });

  it("needs other addresses, small steps, and steps close in time", () => {
    const oneHost = Array.from({ length: 8 }, (_, i) => ({ ip: "host", id: 100 + i, atMs: i * 200 }));
    expect(walk(oneHost).every((found) => found === undefined)).toBe(true); // one address: its own sequence, ip.sequential_ids
    const wide = Array.from({ length: 8 }, (_, i) => ({ ip: `p${i}`, id: 100 + i * 5, atMs: i * 200 }));
    expect(walk(wide).every((found) => found === undefined)).toBe(true);
    const slow = Array.from({ length: 8 }, (_, i) => ({ ip: `p${i}`, id: 100 + i, atMs: i * 11_000 }));
    expect(walk(slow).every((found) => found === undefined)).toBe(true);
  });

  it("takes the walkers' late reads into the walk: the gaps its steps left, filled from other addresses", () => {
    // Handed 100..109 in order, the walkers arrive shuffled (a session's first read waits for the site).
    const order = [100, 101, 103, 102, 104, 106, 105, 107, 109, 108];
    const found = walk(order.map((id, i) => ({ ip: `proxy${i}`, id, atMs: i * 200 })));
    expect(found).toEqual([undefined, [1, false], [2, false], [3, false], [4, false], [5, true], [6, true], [7, true], [8, true], [9, true]]);
  });

  it("fills a gap only from another address than the step's, within the time limit, and once", () => {
    const steps = [100, 101, 102, 105].map((id, i) => ({ ip: `p${i}`, id, atMs: i * 100 }));
    expect(walk([...steps, { ip: "p3", id: 103, atMs: 400 }]).at(-1)).toBeUndefined(); // the stepper itself
    expect(walk([...steps, { ip: "x", id: 104, atMs: 300 + 10_001 }]).at(-1)).toBeUndefined(); // too late
    expect(walk([...steps, { ip: "x", id: 104, atMs: 400 }, { ip: "y", id: 104, atMs: 500 }]).slice(-2)).toEqual([[4, false], undefined]);
  });

  it("ignores ids that are not numbers, and says nothing when the policy does not ask", () => {
    expect(walk([{ ip: "a", id: "abc", atMs: 0 }, { ip: "b", id: "1e3", atMs: 10 }])).toEqual([undefined, undefined]);
    const steps = Array.from({ length: 8 }, (_, i) => ({ ip: `p${i}`, id: 100 + i, atMs: i * 200 }));
    expect(walk(steps, { cohorts: { ...signals.cohorts!, catalogueWalk: undefined } }).every((found) => found === undefined)).toBe(true);
  });
});
