import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { testDecisionCore } from "../../test/support/decision-core.js";
import { policyFile, repoRoot } from "../../test/support/policies.js";
import { RECORDED_HEADERS_EXTENSION, type HttpAttributes } from "../domain/request.js";
import { shapeOf } from "./path-shape.js";

const T0 = Date.UTC(2026, 11, 3, 9);
const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

const cores: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const core of cores) await core.stop();
});

/** The example policy (or `policy`) in the server's decision core on one in-memory store; every request from an address of its own. */
async function shop(policy = `${repoRoot}examples/policy.yaml`) {
  let now = T0;
  let addresses = 0;
  const core = await testDecisionCore(policy, { clock: { now: () => now } });
  cores.push(core);
  const { pipeline, outcomes } = core;
  return {
    wait(ms: number) {
      now += ms;
    },
    /** One request and, when allowed, the site's answer through the access log; `cookie` as the browser sends it. */
    async send(method: string, path: string, status: number, options: { cookie?: string; body?: string; extra?: Partial<HttpAttributes> } = {}) {
      now += 1_000;
      const ip = `100.90.${Math.floor(++addresses / 250)}.${(addresses % 250) + 1}`;
      const headers = new Map([["x-forwarded-for", ip], ["user-agent", CHROME], ["accept", "application/json"], ["accept-language", "en-US,en;q=0.9"], ["accept-encoding", "gzip, br"]]);
      if (options.cookie) headers.set("cookie", options.cookie);
      if (options.body) headers.set("content-type", "application/json");
      const requestId = `r-${addresses}`;
      const attrs: HttpAttributes = { method, path, timeMs: now, headers, requestId, ...(options.body ? { body: Buffer.from(options.body) } : {}), ...options.extra };
      const { decision } = await pipeline.evaluate(attrs);
      const denied = decision.action !== "allow" && decision.action !== "step_up";
      await outcomes.record({ requestId, timeMs: now, method, path, statusCode: denied ? 401 : status, clientAddress: ip, responseHeaders: new Map(), deniedByAuthz: denied });
      return { action: decision.action, codes: decision.reasons.map((r) => r.code), details: decision.reasons.map((r) => r.detail) };
    },
  };
}

describe("path shapes", () => {
  it("reads digit runs, long hexadecimal and codes mixing letters and digits as one placeholder", () => {
    expect(shapeOf("/api/v1/orders/200001").shape).toBe("/api/v1/orders/{id}");
    expect(shapeOf("/api/v1/coupons/SAVE0042").shape).toBe("/api/v1/coupons/{id}");
    expect(shapeOf("/invoices/3f2a9c1e-77b0-4e2e-9d61-0c5b8a1f4e21/pdf").shape).toBe("/invoices/{id}/pdf");
    expect(shapeOf("/u/12/orders/a1b2c3d4e5f6").shape).toBe("/u/{id}/orders/{id}");
  });

  it("gives a path with no id-like segment no shape: a fixed path is one resource", () => {
    expect(shapeOf("/api/v1/orders").replaced).toBe(false);
    expect(shapeOf("/blog/moved-post").replaced).toBe(false);
    expect(shapeOf("/old/about.html").replaced).toBe(false);
    expect(shapeOf("/api/v1/2fa").replaced).toBe(false);
  });
});

describe("site-wide enumeration of a path shape", () => {
  async function missing(s: Awaited<ReturnType<typeof shop>>, from: number, count: number) {
    const results = [];
    for (let i = 0; i < count; i++) results.push(await s.send("GET", `/api/v1/orders/${from + i * 13}`, 404));
    return results;
  }

  it("challenges look-ups from clients without a session once the shape missed for more than 20 ids, never a shopper with a session", async () => {
    const s = await shop();
    const first = await missing(s, 500_000, 21);
    expect(first.every((r) => r.action === "allow")).toBe(true);
    const next = await s.send("GET", "/api/v1/orders/600001", 404);
    expect(next.action).toBe("challenge");
    expect(next.details[next.codes.indexOf("site.enumeration")]).toContain("threshold from the policy's prior");
    const shopper = await s.send("GET", "/api/v1/orders/512345", 200, { cookie: "sid=s-1; did=d-1" });
    expect(shopper.action).toBe("allow");
    expect(shopper.codes).not.toContain("site.enumeration");
    // Another path shape is not affected.
    expect((await s.send("GET", "/api/v1/coupons/SAVE0001", 404)).action).toBe("allow");
  });

  it("keeps the surge while its look-ups are denied, and ends it a window after they stop", async () => {
    const s = await shop();
    await missing(s, 500_000, 21);
    // Four minutes of new ids (two windows): each one denied, none answered by the site.
    const held = [];
    for (let i = 0; i < 80; i++) {
      s.wait(2_000);
      held.push(await s.send("GET", `/api/v1/orders/${700_000 + i}`, 404));
    }
    expect(held.filter((r) => r.action !== "challenge")).toEqual([]);
    s.wait(150_000);
    expect((await s.send("GET", "/api/v1/orders/800000", 404)).action).toBe("allow");
  });

  it("counts only misses: found orders, missing pictures and fixed paths make no surge", async () => {
    const s = await shop();
    for (let i = 0; i < 25; i++) await s.send("GET", `/api/v1/orders/${500_000 + i}`, 200);
    for (let i = 0; i < 25; i++) await s.send("GET", `/images/${500_000 + i}.jpg`, 404);
    for (let i = 0; i < 25; i++) await s.send("GET", `/old-page-${"abcdefghijklmnopqrstuvwxy"[i]}`, 404);
    expect((await s.send("GET", "/api/v1/orders/900000", 404)).codes).not.toContain("site.enumeration");
    expect((await s.send("GET", "/images/900000.jpg", 404)).codes).not.toContain("site.enumeration");
  });

  it("raises the threshold to what a shape's own calm minutes learned, and says so", async () => {
    const document = parse(readFileSync(`${repoRoot}examples/policy.yaml`, "utf8")) as { spec: { signals: { siteEnumeration: Record<string, unknown> } } };
    document.spec.signals.siteEnumeration.learning = { minSamples: 5 };
    const s = await shop(policyFile(document));
    // Ten minutes of a shop whose people mistype order numbers in bursts: 2 to 14 misses a minute, never 20 within two minutes.
    let id = 100_000;
    for (let minute = 0; minute < 10; minute++) {
      const misses = minute % 2 === 0 ? 2 : 14;
      for (let i = 0; i < misses; i++) await s.send("GET", `/api/v1/orders/${id++}`, 404);
      s.wait(60_000 - misses * 1_000);
    }
    s.wait(120_000);
    // 25 different ids within two minutes: above the prior of 20, within what this shape learned.
    for (let i = 0; i < 25; i++) await s.send("GET", `/api/v1/orders/${id++}`, 404);
    expect((await s.send("GET", `/api/v1/orders/${id++}`, 404)).codes).not.toContain("site.enumeration");
    for (let i = 0; i < 30; i++) await s.send("GET", `/api/v1/orders/${id++}`, 404);
    const surge = await s.send("GET", `/api/v1/orders/${id++}`, 404);
    expect(surge.action).toBe("challenge");
    expect(surge.details[surge.codes.indexOf("site.enumeration")]).toMatch(/threshold from the learned baseline \(\d+ calm minutes\)/);
  });

  it("says nothing about a client whose cookies the imported log never recorded", async () => {
    const s = await shop();
    await missing(s, 500_000, 21);
    const imported = await s.send("GET", "/api/v1/orders/600001", 404, { extra: { contextExtensions: new Map([[RECORDED_HEADERS_EXTENSION, "user-agent,referer"]]) } });
    expect(imported.codes).not.toContain("site.enumeration");
  });
});

describe("site-wide sign-up probes", () => {
  const signUp = (s: Awaited<ReturnType<typeof shop>>, email: string, status: number, cookie?: string) =>
    s.send("POST", "/api/v1/register", status, { body: JSON.stringify({ email, password: "a" }), ...(cookie ? { cookie } : {}) });

  it("challenges sign-ups without a session once more than 10 different addresses were answered as already registered", async () => {
    const s = await shop();
    for (let i = 0; i < 11; i++) expect((await signUp(s, `known-${i}@example.com`, 409)).action).toBe("allow");
    const probe = await signUp(s, "probe@example.com", 422);
    expect(probe.action).toBe("challenge");
    expect(probe.codes).toContain("site.enumeration");
    expect((await signUp(s, "newcomer@example.com", 201, "sid=s-2")).action).toBe("allow");
  });

  it("lets the app's sessionless sign-ups through again once a short probe's own answers have lapsed", async () => {
    const s = await shop();
    // A 14-address probe within 40 seconds, then the shop's app signing people up once a minute, without a cookie.
    for (let i = 0; i < 14; i++) {
      await signUp(s, `known-${i}@example.com`, 409);
      s.wait(2_000);
    }
    const app = [];
    for (let minute = 0; minute < 60; minute++) {
      s.wait(59_000);
      app.push((await signUp(s, `newcomer-${minute}@example.com`, 201)).action);
    }
    // The probe's answers count for one to two windows of 10 minutes (the store's two buckets), the app's denials one window after that at most.
    expect(app[0]).toBe("challenge");
    expect(app.slice(30)).toEqual(Array(30).fill("allow"));
  });

  it("counts an address once: a person who signs up twice, or many times, is one", async () => {
    const s = await shop();
    for (let i = 0; i < 30; i++) await signUp(s, `forgetful-${i % 5}@example.com`, 409);
    expect((await signUp(s, "probe@example.com", 422)).codes).not.toContain("site.enumeration");
  });
});
