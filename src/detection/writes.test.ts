import { afterAll, describe, expect, it } from "vitest";
import { testDecisionCore } from "../../test/support/decision-core.js";
import { repoRoot } from "../../test/support/policies.js";
import { shapeOf } from "./path-shape.js";

const T0 = Date.UTC(2026, 11, 8, 9);
const PYTHON = "python-requests/2.31.0";
const PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const PAYMENT = "/api/v1/checkout/payment";

const cores: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const core of cores) await core.stop();
});

/** The storefront policy in the server's decision core on one in-memory store, on a clock the test moves. */
async function storefront() {
  let now = T0;
  const core = await testDecisionCore(`${repoRoot}examples/policy.yaml`, { clock: { now: () => now } });
  cores.push(core);
  return {
    async send(ip: string, method: string, path: string, userAgent: string, cookie?: string, stepMs = 5_000) {
      now += stepMs;
      const headers = new Map([["x-forwarded-for", ip], ["user-agent", userAgent], ["content-type", "application/json"]]);
      if (cookie) headers.set("cookie", cookie);
      const { decision } = await core.pipeline.evaluate({ method, path, timeMs: now, headers });
      return decision;
    },
  };
}

describe("path shapes", () => {
  it("puts {id} where a segment names one record, and keeps the words", () => {
    expect(shapeOf("/api/v1/carts/81/items/7").shape).toBe("/api/v1/carts/{id}/items/{id}");
    expect(shapeOf("/api/v1/orders/3f2a9c4e-1b7d-4e8a-9c3d-2b1a0f9e8d7c/cancel").shape).toBe("/api/v1/orders/{id}/cancel");
    expect(shapeOf("/api/v1/checkout/payment").shape).toBe("/api/v1/checkout/payment");
  });
});

describe("writes to paths no endpoint names", () => {
  it("challenges a script paying again and again from one address, throttles it over the hour, then holds it", async () => {
    const s = await storefront();
    const actions: string[] = [];
    for (let i = 0; i < 130; i++) actions.push((await s.send("192.0.2.7", "POST", PAYMENT, PYTHON)).action);
    // A person pays once or twice: the first twenty pass, the next ones in the burst window do not.
    expect(actions.slice(0, 20).every((action) => action === "allow")).toBe(true);
    expect(actions[20]).toBe("challenge");
    expect(actions[45]).toBe("throttle");
    expect(actions.at(-1)).toBe("quarantine");
  });

  it("counts each path shape apart, and never reads", async () => {
    const s = await storefront();
    const cartDecisions = [];
    for (let i = 0; i < 18; i++) cartDecisions.push(await s.send("192.0.2.8", "POST", `/api/v1/cart/${i + 1}/items`, PYTHON));
    for (let i = 0; i < 40; i++) cartDecisions.push(await s.send("192.0.2.8", "GET", "/api/v1/cart", PYTHON));
    cartDecisions.push(await s.send("192.0.2.8", "POST", PAYMENT, PYTHON));
    expect(cartDecisions.map((d) => d.action).filter((a) => a !== "allow")).toEqual([]);
    expect(cartDecisions[17]!.reasons.map((r) => r.code)).not.toContain("client.writes");
  });

  it("counts each phone behind a carrier's address on its own: forty people paying twice pass", async () => {
    const s = await storefront();
    const denied = [];
    for (let person = 0; person < 40; person++) {
      for (let pay = 0; pay < 2; pay++) {
        const decision = await s.send("100.64.0.50", "POST", PAYMENT, PHONE, `sid=session-${person}`, 1_000);
        if (decision.action !== "allow") denied.push(decision.action);
      }
    }
    expect(denied).toEqual([]);
  });

  it("counts the address whatever its cookies: a script making up a cookie each time is challenged past a hundred, then held", async () => {
    const s = await storefront();
    const actions: string[] = [];
    for (let i = 0; i < 310; i++) actions.push((await s.send("192.0.2.9", "POST", PAYMENT, PYTHON, `sid=made-up-${i}`)).action);
    expect(actions.slice(0, 100).every((action) => action === "allow")).toBe(true);
    expect(actions[100]).toBe("challenge");
    expect(actions.at(-1)).toBe("quarantine");
  });
});
