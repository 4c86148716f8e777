import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { CohortTracker } from "./cohorts.js";
import type { Signal } from "./signal.js";

const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const signals: CompiledSignals = { cohorts: { windowMs: 10 * 60_000, sessionCookies: ["sid", "did"], minMembers: 3, browserWithoutSession: 40 } };
const endpoint = { name: "product", pageView: false } as CompiledEndpoint;

interface Use {
  ip: string;
  atMs?: number;
  cookie?: string;
  userAgent?: string;
  shape?: string;
  recorded?: string[];
  related?: Signal[];
}

/** The cohort signal each request gets, as [value, fired], or undefined when it is no member. */
function observe(uses: Use[], tracker = new CohortTracker()) {
  return uses.map(({ ip, atMs = 0, cookie, userAgent = CHROME, shape = "s1", recorded, related = [] }) => {
    const headers = new Map([["user-agent", userAgent]]);
    if (cookie) headers.set("cookie", cookie);
    const request: NormalisedRequest = {
      method: "GET",
      path: "/api/v1/products/1",
      query: "",
      host: "",
      headers,
      headerShape: shape,
      timeMs: atMs,
      anomalies: [],
      ipId: ip,
      recordedHeaders: recorded ? new Set(recorded) : undefined,
    };
    const found = tracker.observe(request, endpoint, signals, related)[0];
    return found && ([found.value, found.fired] as const);
  });
}

describe("cohorts without a baseline", () => {
  it("flags browser-claiming clients without the site's cookies once enough addresses share a header set, from the first request of the run", () => {
    expect(observe([{ ip: "a" }, { ip: "b" }, { ip: "b" }, { ip: "c" }, { ip: "d" }])).toEqual([
      [1, false],
      [2, false],
      [2, false],
      [3, true],
      [4, true],
    ]);
  });

  it("leaves out clients with a session or device cookie, clients that do not claim a browser, and addresses that loaded a page", () => {
    const pageViewed: Signal = { code: "ip.page_views", value: 2, weight: 0, fired: false };
    expect(observe([
      { ip: "a", cookie: "sid=1" },
      { ip: "b", cookie: "theme=dark; did=x" },
      { ip: "c", userAgent: "Storefront/5.2.1 (iPhone; iOS 17.6; Scale/3.00)" },
      { ip: "d", related: [pageViewed] },
    ])).toEqual([undefined, undefined, undefined, undefined]);
  });

  it("keeps header sets apart and forgets members after the window", () => {
    const tracker = new CohortTracker();
    expect(observe([{ ip: "a" }, { ip: "b" }, { ip: "c", shape: "s2" }], tracker).map((r) => r?.[0])).toEqual([1, 2, 1]);
    expect(observe([{ ip: "d", atMs: 11 * 60_000 }], tracker)).toEqual([[1, false]]);
  });

  it("says nothing when the cookie header is unknown (an imported log that never recorded it)", () => {
    expect(observe([{ ip: "a", recorded: ["user-agent"] }, { ip: "b", recorded: ["user-agent"] }, { ip: "c", recorded: ["user-agent"] }])).toEqual([undefined, undefined, undefined]);
  });
});
