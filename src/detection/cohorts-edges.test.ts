import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { CohortTracker } from "./cohorts.js";
import type { Signal } from "./signal.js";

/**
 * The replica-local cohorts at their bounds (cohorts.test.ts and catalogue-walk.test.ts play
 * the common cases): a walk's step and time limits met exactly, a run that breaks before it is
 * long enough, ids at the length limit, the page-view evidence of a login and the member cap.
 */

const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const WALK = { maxStep: 3, withinMs: 10_000, minRun: 3, weight: 40 };
const signals: CompiledSignals = {
  cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid"], minMembers: 3, browserWithoutSession: 40, catalogueWalk: WALK },
};
const product = { name: "product", pageView: false, resourceSegment: 2 } as CompiledEndpoint;
const review = { name: "review", pageView: false, resourceSegment: 2 } as CompiledEndpoint;
const login = { name: "login", authentication: true, pageView: false } as CompiledEndpoint;

interface Use {
  ip?: string;
  id?: number | string;
  atMs?: number;
  cookie?: string;
  user?: string;
  endpoint?: CompiledEndpoint;
  related?: Signal[];
}

function request({ ip, id = 1, atMs = 0, cookie, user }: Use): NormalisedRequest {
  const headers = new Map([["user-agent", CHROME]]);
  if (cookie) headers.set("cookie", cookie);
  return { method: "GET", path: `/products/${id}`, query: "", host: "", headers, headerShape: "s", timeMs: atMs, anomalies: [], ipId: ip, usernameId: user };
}

/** The signal of `code` each use gets, as [value, fired], or undefined. */
function observe(code: string, uses: Use[], tracker = new CohortTracker()) {
  return uses.map((use) => {
    const found = tracker.observe(request(use), use.endpoint ?? product, signals, use.related ?? []).find((s) => s.code === code);
    return found && ([found.value, found.fired] as const);
  });
}
const walk = (uses: Use[]) => observe("cohort.catalogue_walk", uses.map((u) => ({ cookie: "sid=1", ...u })));

describe("cohort.catalogue_walk at its bounds", () => {
  it("continues with a step of exactly maxStep, exactly withinMs later, and not one id or millisecond more", () => {
    expect(walk([{ ip: "a", id: 10, atMs: 0 }, { ip: "b", id: 13, atMs: 10_000 }, { ip: "c", id: 16, atMs: 20_000 }, { ip: "d", id: 19, atMs: 30_000 }]))
      .toEqual([undefined, [1, false], [2, false], [3, true]]);
    expect(walk([{ ip: "a", id: 10, atMs: 0 }, { ip: "b", id: 14, atMs: 100 }])).toEqual([undefined, undefined]);
    expect(walk([{ ip: "a", id: 10, atMs: 0 }, { ip: "b", id: 11, atMs: 10_001 }])).toEqual([undefined, undefined]);
  });

  it("takes no repeated id, nor another endpoint's id, as part of the walk", () => {
    expect(walk([{ ip: "a", id: 10 }, { ip: "b", id: 10, atMs: 1 }, { ip: "c", id: 9, atMs: 2 }])).toEqual([undefined, undefined, [1, false]]);
    expect(walk([{ ip: "a", id: 10 }, { ip: "b", id: 11, atMs: 1, endpoint: review }])).toEqual([undefined, undefined]);
  });

  it("takes an id read again more than the cohort window later as a first read, and exactly a window later as a repeat", () => {
    const window = 10 * 60_000;
    // c's 10 is a first read again; d's 11 a repeat of b's, so e's 12 continues c's read only.
    expect(walk([{ ip: "a", id: 10 }, { ip: "b", id: 11, atMs: 1 }, { ip: "c", id: 10, atMs: window + 1 }, { ip: "d", id: 11, atMs: window + 1 }, { ip: "e", id: 12, atMs: window + 2 }]))
      .toEqual([undefined, [1, false], undefined, undefined, [1, false]]);
  });

  it("lets a band end where no read comes within the time limit, and stops counting at 64 addresses", () => {
    const long = [10, 11, 12, 13].map((id, i) => ({ ip: `p${i}`, id, atMs: i }));
    // Past the time limit the old band is over: 14 from another address starts a new one.
    expect(walk([...long, { ip: "x", id: 14, atMs: 3 + 10_001 }, { ip: "y", id: 15, atMs: 3 + 10_002 }]).slice(4)).toEqual([undefined, [1, false]]);
    const many = Array.from({ length: 80 }, (_, i) => ({ ip: `p${i}`, id: 1_000 + i, atMs: i * 10 }));
    expect(walk(many).at(-1)).toEqual([64, true]);
  });

  it("takes only whole numbers as ids", () => {
    expect(walk([{ ip: "a", id: 10 }, { ip: "b", id: "11abc", atMs: 1 }, { ip: "c", id: "x12", atMs: 2 }])).toEqual([undefined, undefined, undefined]);
  });

  it("reads ids of up to 15 digits, and nothing from a request without an address", () => {
    const big = 100_000_000_000_000;
    expect(walk([{ ip: "a", id: big }, { ip: "b", id: big + 1, atMs: 1 }])).toEqual([undefined, [1, false]]);
    expect(walk([{ ip: "a", id: `${big}0` }, { ip: "b", id: `${big}1`, atMs: 1 }])).toEqual([undefined, undefined]);
    expect(walk([{ ip: "a", id: 10 }, { id: 11, atMs: 1 }, { ip: "c", id: 12, atMs: 2 }])).toEqual([undefined, undefined, [1, false]]);
  });
});

describe("cohort.browser_without_session at its bounds", () => {
  const code = "cohort.browser_without_session";

  it("counts a login's address that loaded no page, and leaves out one that loaded a page", () => {
    const noPage: Signal = { code: "sequence.no_page_view", value: 0, weight: 20, fired: true };
    const page: Signal = { code: "sequence.no_page_view", value: 1, weight: 20, fired: false };
    expect(observe(code, [{ ip: "a", endpoint: login, related: [noPage] }, { ip: "b", endpoint: login, related: [page] }])).toEqual([[1, false], undefined]);
  });

  it("finds the address's page views among other signals", () => {
    const automation: Signal = { code: "client.automation", value: 1, weight: 25, fired: true };
    const noPages: Signal = { code: "ip.page_views", value: 0, weight: 0, fired: false };
    expect(observe(code, [{ ip: "a", related: [automation, noPages] }])).toEqual([[1, false]]);
    expect(observe(code, [{ ip: "a", related: [{ ...automation, value: 0 }, { ...noPages, value: 4 }] }])).toEqual([undefined]);
  });

  it("keeps a member seen exactly a window ago", () => {
    const tracker = new CohortTracker();
    observe(code, [{ ip: "a", atMs: 0 }], tracker);
    expect(observe(code, [{ ip: "b", atMs: 10 * 60_000 }], tracker)).toEqual([[2, false]]);
    expect(observe(code, [{ ip: "c", atMs: 10 * 60_000 + 1 }], tracker)).toEqual([[2, false]]);
  });

  it("says nothing without the cohorts setting", () => {
    const tracker = new CohortTracker();
    expect(tracker.observe(request({ ip: "a", cookie: "sid=1", user: "u" }), login, {}, [])).toEqual([]);
    expect(tracker.observe(request({ ip: "a" }), product, {}, [])).toEqual([]);
  });

  it("says nothing for a page, or for a request without an address", () => {
    expect(observe(code, [{ ip: "a", endpoint: { ...product, pageView: true } as CompiledEndpoint }, {}])).toEqual([undefined, undefined]);
  });

  it("stops counting members at 256 addresses per header set", () => {
    const uses = Array.from({ length: 300 }, (_, i) => ({ ip: `a${i}`, atMs: i }));
    expect(observe(code, uses).at(-1)).toEqual([256, true]);
  });
});
