import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { CohortTracker } from "./cohorts.js";

const signals: CompiledSignals = {
  cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid"], minMembers: 5, browserWithoutSession: 40, catalogueWalk: { maxStep: 3, withinMs: 10_000, minRun: 5, weight: 40 } },
};
const product = { name: "product", pageView: false, resourceSegment: 4 } as CompiledEndpoint;
const picture = { name: "static", pageView: true } as CompiledEndpoint;

/**
 * The walk signal's value for each request ([run, fired]), or undefined when it continued
 * nothing; `picture` asks for the product's picture instead of its data.
 */
function walk(requests: { ip: string; id: number | string; atMs: number; picture?: true }[], settings = signals) {
  const tracker = new CohortTracker();
  return requests.map(({ ip, id, atMs, picture: asset }) => {
    const request: NormalisedRequest = {
      method: "GET",
      path: asset ? `/static/img/products/${id}.webp` : `/api/v1/products/${id}`,
      query: "",
      host: "",
      headers: new Map([["cookie", "sid=1"]]),
      headerShape: "s",
      timeMs: atMs,
      anomalies: [],
      ipId: ip,
    };
    const found = tracker.observe(request, asset ? picture : product, settings, []).find((s) => s.code === "cohort.catalogue_walk");
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

  it("takes the walkers' late reads into the walk: ids below the top, read from other addresses", () => {
    // Handed 100..109 in order, the walkers arrive shuffled (a session's first read waits for the site).
    const order = [100, 101, 103, 102, 104, 106, 105, 107, 109, 108];
    const found = walk(order.map((id, i) => ({ ip: `proxy${i}`, id, atMs: i * 200 })));
    expect(found).toEqual([undefined, [1, false], [2, false], [3, false], [4, false], [5, true], [6, true], [7, true], [8, true], [9, true]]);
  });

  it("counts other addresses only, and a late read only within the time limit of its neighbours", () => {
    const steps = [100, 101, 102, 105].map((id, i) => ({ ip: `p${i}`, id, atMs: i * 100 }));
    // The address that read 105 filling 103 continues the walk of the other three, not its own.
    expect(walk([...steps, { ip: "p3", id: 103, atMs: 400 }]).at(-1)).toEqual([3, false]);
    expect(walk([...steps, { ip: "x", id: 104, atMs: 300 + 10_001 }]).at(-1)).toBeUndefined(); // too late for 105, 102 long before
  });

  it("takes a repeated id for no read of the walk, so a shopper opening a product it passed is not flagged", () => {
    const steps = Array.from({ length: 8 }, (_, i) => ({ ip: `proxy${i}`, id: 100 + i, atMs: i * 200 }));
    expect(walk([...steps, { ip: "shopper", id: 103, atMs: 1_700 }]).at(-1)).toBeUndefined();
    // Popular products are read again and again: their reads form no band however close.
    const popular = [3, 5, 4, 6, 2, 7, 5, 4, 6, 3, 8].map((id, i) => ({ ip: `shopper${i}`, id, atMs: i * 1_000 }));
    const repeated = [...popular, ...popular.map((p, i) => ({ ...p, ip: `later${i}`, atMs: 60_000 + i * 1_000 }))];
    expect(walk(repeated).slice(popular.length).every((found) => found === undefined)).toBe(true);
  });

  it("takes a read its address followed with an asset out of the band: a page shown, not a walk's step", () => {
    // A browsing campaign opens a product before each login: first reads of neighbouring ids from many addresses, each with its picture.
    const shown = Array.from({ length: 8 }, (_, i) => [
      { ip: `bot${i}`, id: 100 + i, atMs: i * 200 },
      { ip: `bot${i}`, id: 100 + i, atMs: i * 200 + 50, picture: true as const },
    ]).flat();
    expect(walk([...shown, { ip: "shopper", id: 108, atMs: 1_700 }]).at(-1)).toBeUndefined();
    // Only the address's own latest read leaves: the walkers who loaded nothing still make the walk.
    const bare = Array.from({ length: 6 }, (_, i) => ({ ip: `proxy${i}`, id: 100 + i, atMs: i * 200 }));
    const found = walk([...bare, { ip: "shopper", id: 50, atMs: 1_250 }, { ip: "shopper", id: 50, atMs: 1_300, picture: true }, { ip: "proxy6", id: 106, atMs: 1_400 }]);
    expect(found.at(-1)).toEqual([6, true]);
  });

  it("is a band of ids, not one frontier: reads far behind the top continue it as those at the top do", () => {
    // Handed 100..119, the walkers arrive in blocks shuffled wider than a step.
    const order = [100, 104, 101, 108, 102, 105, 103, 109, 106, 107, 112, 110, 111, 113];
    const found = walk(order.map((id, i) => ({ ip: `proxy${i}`, id, atMs: i * 200 })));
    expect(found.slice(-4)).toEqual([[10, true], [11, true], [12, true], [13, true]]);
  });

  it("ignores ids that are not numbers, and says nothing when the policy does not ask", () => {
    expect(walk([{ ip: "a", id: "abc", atMs: 0 }, { ip: "b", id: "1e3", atMs: 10 }])).toEqual([undefined, undefined]);
    const steps = Array.from({ length: 8 }, (_, i) => ({ ip: `p${i}`, id: 100 + i, atMs: i * 200 }));
    expect(walk(steps, { cohorts: { ...signals.cohorts!, catalogueWalk: undefined } }).every((found) => found === undefined)).toBe(true);
  });
});
