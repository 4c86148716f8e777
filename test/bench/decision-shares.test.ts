import { describe, expect, it } from "vitest";
import { answerAction, DecisionShares, sharesLine } from "../../bench/decision-shares.js";
import { STOREFRONT_CLIENTS, storefrontKind, storefrontRequest } from "../../bench/traffic.js";

const cookieOf = (index: number) => (storefrontRequest(index, 0) as { attributes: { request: { http: { headers: Record<string, string> } } } }).attributes.request.http.headers.cookie;

describe("the bench's storefront mix", () => {
  it("gives every client a session cookie of its own, kept across its requests", () => {
    const cookies = new Set(Array.from({ length: STOREFRONT_CLIENTS }, (_, client) => cookieOf(client)));
    expect(cookies.size).toBe(STOREFRONT_CLIENTS);
    expect(cookieOf(7 + STOREFRONT_CLIENTS)).toBe(cookieOf(7));
  });

  it("names the kinds in storefront proportions", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 50; i++) counts.set(storefrontKind(i), (counts.get(storefrontKind(i)) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ asset: 25, product: 13, search: 6, login: 4, refresh: 2 });
  });
});

describe("decision shares", () => {
  it("splits answers by action, overall and per kind", () => {
    const shares = new DecisionShares();
    shares.record(0, "allow"); // asset
    shares.record(1, "allow"); // asset
    shares.record(25, "throttle"); // product
    shares.record(26, "allow"); // product
    expect(shares.summary()).toEqual({
      checks: 4,
      answers: { allow: 0.75, throttle: 0.25 },
      kinds: { asset: { checks: 2, answers: { allow: 1 } }, product: { checks: 2, answers: { throttle: 0.5, allow: 0.5 } } },
    });
    expect(sharesLine(shares.summary())).toBe("decisions over 4 Checks: allow 75.0%, throttle 25.0%; asset (2): allow 100.0%; product (2): throttle 50.0%, allow 50.0%");
  });

  it("takes the action from the answer's metadata, else its status", () => {
    expect(answerAction({ status: { code: 7 }, dynamic_metadata: { fields: { action: { stringValue: "challenge" } } } })).toBe("challenge");
    expect(answerAction({ status: { code: 0 }, ok_response: { headers: [], headers_to_remove: [] } })).toBe("allow");
    expect(answerAction({ status: { code: 7 }, denied_response: { status: { code: "TooManyRequests" }, headers: [], body: "" } })).toBe("denied TooManyRequests");
  });
});
