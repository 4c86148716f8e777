import { describe, expect, it } from "vitest";
import { attackLabel, LEGIT, LEGIT_NEW_ACCOUNT } from "../lines.js";
import type { CheckEvent } from "../replay/events.js";
import type { Verdict } from "../replay/target.js";
import { FirstReadTally } from "./first-reads.js";

const policy = {
  endpoints: [
    { name: "static", pageView: true },
    { name: "product", pageView: false, resourceSegment: 3 },
    { name: "search", pageView: false },
  ],
  signals: { cohorts: { sessionCookies: ["sid", "did"] } },
};
const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

interface Sent {
  address: string;
  port?: number;
  timeMs: number;
  path?: string;
  cookie?: string;
  label?: string;
  agent?: string;
  language?: string;
}

function event(sent: Sent): CheckEvent {
  const headers = { "user-agent": sent.agent ?? CHROME, "accept-language": sent.language ?? "en-GB,en;q=0.9", ...(sent.cookie ? { cookie: sent.cookie } : {}) };
  const http = { headers, path: sent.path ?? "/static/app.js" };
  const source = { address: { socket_address: { address: sent.address, port_value: sent.port ?? 40_000 } } };
  return { kind: "check", line: 1, timeMs: sent.timeMs, scenario: "s", label: sent.label ?? attackLabel("scraping"), request: { attributes: { request: { http }, source } } } as CheckEvent;
}

const allowed = (endpoint: string): Verdict => ({ action: "allow", denied: false, endpoint });
const throttled = (endpoint: string): Verdict => ({ action: "throttle", denied: true, endpoint, rule: "catalogue-throttle" });

function tally(): FirstReadTally {
  return new FirstReadTally(policy as never, 250);
}

describe("a browser session's first product read, by sender and by the evidence it shows", () => {
  it("counts each visit's first product read once, with what its page views and the read showed", () => {
    const reads = tally();
    // A bot: shell without a cookie, its first read a second later with sid only, an unpopular id.
    reads.add(event({ address: "203.0.113.1", timeMs: 0 }), allowed("static"));
    reads.add(event({ address: "203.0.113.1", timeMs: 1_000, path: "/api/v1/products/4711", cookie: "sid=a" }), allowed("product"));
    reads.add(event({ address: "203.0.113.1", timeMs: 150_000, path: "/api/v1/products/12", cookie: "sid=a" }), throttled("product"));
    // A returning shopper: her browser sends its device cookie with the shell, reads at once.
    reads.add(event({ address: "198.51.100.9", timeMs: 5_000, cookie: "did=x", label: LEGIT }), allowed("static"));
    reads.add(event({ address: "198.51.100.9", timeMs: 5_040, path: "/api/v1/products/12", cookie: "did=x; sid=b", label: LEGIT }), allowed("product"));
    // A new shopper on an address that was seen before the visit.
    reads.add(event({ address: "198.51.100.7", port: 50_000, timeMs: 6_000, label: LEGIT_NEW_ACCOUNT }), allowed("static"));
    reads.add(event({ address: "198.51.100.7", port: 50_001, timeMs: 7_000, label: LEGIT_NEW_ACCOUNT }), allowed("static"));
    reads.add(event({ address: "198.51.100.7", port: 50_001, timeMs: 7_030, path: "/api/v1/products/250", cookie: "did=y; sid=c", label: LEGIT_NEW_ACCOUNT }), throttled("product"));

    expect(reads.result()).toEqual([
      {
        sender: "attack",
        reads: 1,
        passed: 1,
        showing: { newBrowser: 1, newAddress: 1, missingSessionCookie: 1, slowAfterShell: 1, busyFingerprint: 0, unpopular: 1, newUnpopularFromNewAddress: 1, bornOnProduct: 1, freshId: 1, coveringCohort: 0, newFreshBornCovering: 0 },
      },
      {
        sender: "shopper",
        reads: 1,
        passed: 1,
        showing: { newBrowser: 0, newAddress: 1, missingSessionCookie: 0, slowAfterShell: 0, busyFingerprint: 0, unpopular: 0, newUnpopularFromNewAddress: 0, bornOnProduct: 1, freshId: 0, coveringCohort: 0, newFreshBornCovering: 0 },
      },
      {
        sender: "new-account shopper",
        reads: 1,
        passed: 0,
        showing: { newBrowser: 1, newAddress: 0, missingSessionCookie: 0, slowAfterShell: 0, busyFingerprint: 0, unpopular: 0, newUnpopularFromNewAddress: 0, bornOnProduct: 1, freshId: 1, coveringCohort: 0, newFreshBornCovering: 0 },
      },
    ]);
  });

  it("leaves out clients that claim no browser, reads without a cookie and requests to other endpoints", () => {
    const reads = tally();
    reads.add(event({ address: "203.0.113.1", timeMs: 0, agent: "python-requests/2.32.3", path: "/api/v1/products/1", cookie: "sid=a" }), allowed("product"));
    reads.add(event({ address: "203.0.113.2", timeMs: 0, path: "/api/v1/products/1" }), allowed("product"));
    reads.add(event({ address: "203.0.113.3", timeMs: 0, path: "/api/v1/search?q=tent", cookie: "sid=b" }), allowed("search"));
    expect(reads.result()).toEqual([]);
  });

  it("says a fingerprint is busy from the fifth visit with its user agent and language within a minute", () => {
    const reads = tally();
    const visitAndRead = (n: number, timeMs: number, language?: string) => {
      reads.add(event({ address: `203.0.113.${n}`, timeMs, language }), allowed("static"));
      reads.add(event({ address: `203.0.113.${n}`, timeMs: timeMs + 10, path: "/api/v1/products/1", cookie: "sid=a; did=b" }), allowed("product"));
    };
    visitAndRead(1, 0); // more than a minute before the last: not counted there
    visitAndRead(2, 10_000);
    visitAndRead(3, 20_000);
    visitAndRead(4, 30_000, "de-DE,de;q=0.9,en;q=0.8"); // another language: another fingerprint
    visitAndRead(5, 40_000);
    visitAndRead(6, 50_000); // the fifth within a minute, with the one at 0
    visitAndRead(7, 71_000); // four within its minute: the ones at 0 and 10 s are older
    expect(reads.result()[0]!.showing.busyFingerprint).toBe(1);
  });

  it("says whether the read opened the visit, whether its id was fresh, and whether new browsers were spreading over the catalogue", () => {
    const reads = tally();
    // Twenty new browsers, one a second, each opening with a read of an id nobody asked for.
    for (let n = 0; n < 20; n++) {
      reads.add(event({ address: `203.0.113.${n + 1}`, timeMs: n * 1_000 }), allowed("static"));
      reads.add(event({ address: `203.0.113.${n + 1}`, timeMs: n * 1_000 + 500, path: `/api/v1/products/${1_000 + n * 7}`, cookie: "sid=a" }), allowed("product"));
    }
    // The twenty-first, within the minute: a fresh id, opening its visit, beside the twenty.
    reads.add(event({ address: "203.0.113.99", timeMs: 30_000 }), allowed("static"));
    reads.add(event({ address: "203.0.113.99", timeMs: 30_500, path: "/api/v1/products/4000", cookie: "sid=a" }), allowed("product"));
    // A new shopper who searched first, then opened a product the bots read a moment ago.
    reads.add(event({ address: "198.51.100.7", timeMs: 31_000, label: LEGIT_NEW_ACCOUNT }), allowed("static"));
    reads.add(event({ address: "198.51.100.7", timeMs: 31_100, path: "/api/v1/search?q=tent", cookie: "did=y; sid=c", label: LEGIT_NEW_ACCOUNT }), allowed("search"));
    reads.add(event({ address: "198.51.100.7", timeMs: 32_000, path: "/api/v1/products/1007", cookie: "did=y; sid=c", label: LEGIT_NEW_ACCOUNT }), allowed("product"));
    // Two minutes later the spread is over: the twenty are older than a minute.
    reads.add(event({ address: "203.0.113.100", timeMs: 150_000 }), allowed("static"));
    reads.add(event({ address: "203.0.113.100", timeMs: 150_500, path: "/api/v1/products/4100", cookie: "sid=a" }), allowed("product"));

    const [attack, shopper] = reads.result();
    expect(attack).toMatchObject({ reads: 22, showing: { bornOnProduct: 22, freshId: 22, coveringCohort: 1, newFreshBornCovering: 1 } });
    expect(shopper).toMatchObject({ sender: "new-account shopper", showing: { newBrowser: 1, bornOnProduct: 0, freshId: 0, coveringCohort: 1, newFreshBornCovering: 0 } });
  });
});
