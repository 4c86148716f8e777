import { describe, expect, it } from "vitest";
import { attackLabel, LEGIT } from "../lines.js";
import type { CheckEvent } from "../replay/events.js";
import type { Verdict } from "../replay/target.js";
import { toStruct } from "../../transport/grpc/protos.js";
import { PassTally } from "./passes.js";

const policy = { endpoints: [{ name: "static", pageView: true }, { name: "product", pageView: false }, { name: "search", pageView: false }] };

function event(address: string, label = attackLabel("scraping"), cookie?: string): CheckEvent {
  const headers = { "x-forwarded-for": `${address}, 10.0.0.7`, ...(cookie ? { cookie } : {}) };
  return { kind: "check", line: 1, timeMs: 0, scenario: "s", label, request: { attributes: { request: { http: { headers } }, source: { address: { socket_address: { address: "10.0.0.7" } } } } } } as CheckEvent;
}

const allowed = (endpoint: string): Verdict => ({ action: "allow", denied: false, endpoint });
const throttled = (endpoint: string, rule = "catalogue-throttle", reasons?: string[]): Verdict => ({ action: "throttle", denied: true, endpoint, rule, metadata: reasons && toStruct({ reasons }) });

describe("an attack's requests by their place in their source's sequence", () => {
  it("splits page views, each address's first other request and its later ones, and counts what passed", () => {
    const tally = new PassTally(policy as never);
    tally.add(event("203.0.113.1"), allowed("static"));
    tally.add(event("203.0.113.1"), allowed("product"));
    tally.add(event("203.0.113.2"), allowed("static"));
    tally.add(event("203.0.113.2"), throttled("search", "catalogue-throttle", ["ip.no_page_views", "client.too_regular"]));
    tally.add(event("203.0.113.1"), throttled("product"));
    tally.add(event("203.0.113.1"), allowed("static"));
    tally.add(event("203.0.113.2"), throttled("product", "walk", ["client.too_regular"]));
    tally.add(event("203.0.113.3", LEGIT), { ...allowed("product"), metadata: toStruct({ reasons: ["client.too_regular"] }) });

    const result = tally.result();
    expect(result.rows).toEqual([
      { place: "page", endpoint: "static", requests: 3, passed: 3, deniedBy: {} },
      { place: "first", endpoint: "product", requests: 1, passed: 1, deniedBy: {} },
      { place: "first", endpoint: "search", requests: 1, passed: 0, deniedBy: { "catalogue-throttle": 1 } },
      { place: "later", endpoint: "product", requests: 2, passed: 0, deniedBy: { "catalogue-throttle": 1, walk: 1 } },
    ]);
    expect(result).toMatchObject({ requests: 7, passed: 4, laterShare: 2 / 7 });
    // The signals of the attack's requests, the shoppers' left out.
    expect(result.signals).toEqual({ "ip.no_page_views": 1, "client.too_regular": 2 });
  });

  it("takes the peer's address when no forwarded-for header names the client", () => {
    const tally = new PassTally(policy as never);
    const direct = (address: string) => ({ ...event(address), request: { attributes: { source: { address: { socket_address: { address } } } } } }) as CheckEvent;
    tally.add(direct("198.51.100.1"), allowed("product"));
    tally.add(direct("198.51.100.2"), allowed("product"));
    tally.add(direct("198.51.100.1"), allowed("product"));
    expect(tally.result().rows).toEqual([
      { place: "first", endpoint: "product", requests: 2, passed: 2, deniedBy: {} },
      { place: "later", endpoint: "product", requests: 1, passed: 1, deniedBy: {} },
    ]);
  });

  it("tells two sessions on one address apart by their cookie", () => {
    const tally = new PassTally(policy as never);
    tally.add(event("203.0.113.1"), allowed("static"));
    tally.add(event("203.0.113.1", attackLabel("scraping"), "sid=a"), allowed("product"));
    tally.add(event("203.0.113.1", attackLabel("scraping"), "sid=b"), allowed("product"));
    tally.add(event("203.0.113.1", attackLabel("scraping"), "sid=a"), throttled("product"));
    expect(tally.result().rows).toEqual([
      { place: "page", endpoint: "static", requests: 1, passed: 1, deniedBy: {} },
      { place: "first", endpoint: "product", requests: 2, passed: 2, deniedBy: {} },
      { place: "later", endpoint: "product", requests: 1, passed: 0, deniedBy: { "catalogue-throttle": 1 } },
    ]);
  });

  it("has no share without attack requests", () => {
    expect(new PassTally(policy as never).result()).toEqual({ rows: [], requests: 0, passed: 0, laterShare: null, signals: {} });
  });
});
