import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { planSession } from "./session.js";
import { planVelocity } from "./velocity.js";

/** Per-endpoint velocity and the session signals, each on its own against counts it is handed. */

function request(overrides: Partial<NormalisedRequest> = {}): NormalisedRequest {
  return {
    method: "POST", path: "/login", query: "", host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [],
    ipId: "ip-1", subnet: "198.51.100.0/24", usernameId: "user-1", sessionId: "sess-1",
    ...overrides,
  };
}

const endpoint = (velocity: CompiledEndpoint["velocity"], pageView = false) => ({ name: "login", pageView, velocity }) as CompiledEndpoint;

describe("velocity", () => {
  const login = endpoint({ ip: { windowMs: 60_000, threshold: 10, weight: 30 }, username: { windowMs: 300_000, threshold: 5, weight: 40 } });

  it("counts the request once per configured scope the request has, per endpoint", () => {
    expect(planVelocity(request(), login).ops).toEqual([
      { entity: "ip:ip-1", op: { op: "window.add", name: "ep:login", windowMs: 60_000, amount: 1 } },
      { entity: "user:user-1", op: { op: "window.add", name: "ep:login", windowMs: 300_000, amount: 1 } },
    ]);
    expect(planVelocity(request({ usernameId: undefined }), login).ops.map((o) => o.entity)).toEqual(["ip:ip-1"]);
    expect(planVelocity(request(), endpoint({})).ops).toEqual([]);
  });

  it("fires above the threshold only, rounds the sliding count, and says when the window ends", () => {
    const plan = planVelocity(request(), login);
    expect(plan.evaluate([10, 5.237])).toEqual([
      { code: "velocity.ip", value: 10, threshold: 10, weight: 30, fired: false, detail: "login per 60s", windowMs: 60_000 },
      { code: "velocity.username", value: 5.24, threshold: 5, weight: 40, fired: true, detail: "login per 300s", windowMs: 300_000 },
    ]);
    expect(plan.evaluate([]).map((s) => s.value)).toEqual([0, 0]);
  });
});

describe("session signals", () => {
  const replay: CompiledSignals = { tokenReplay: { windowMs: 600_000, threshold: 2, weight: 50 } };
  const api = endpoint({});

  it("adds the address to the session's set and fires above the threshold of addresses", () => {
    const plan = planSession(request(), api, replay);
    expect(plan.ops).toEqual([{ entity: "sess:sess-1", op: { op: "distinct.add", name: "sess.ips", windowMs: 600_000, member: "ip-1" } }]);
    expect(plan.evaluate([2])).toEqual([{ code: "session.token_replay", value: 2, threshold: 2, weight: 50, fired: false, detail: "IPs using this session or token" }]);
    expect(plan.evaluate([3])[0]!.fired).toBe(true);
    expect(plan.evaluate([])[0]!.value).toBe(0);
  });

  it("judges nothing without a session, an address or the signal", () => {
    for (const plan of [planSession(request({ sessionId: undefined }), api, replay), planSession(request({ ipId: undefined }), api, replay), planSession(request(), api, {})]) {
      expect(plan.ops).toEqual([]);
      expect(plan.evaluate([5])).toEqual([]);
    }
  });

  it("counts a page view on a page endpoint for the login sequence, after the replay count", () => {
    const signals: CompiledSignals = { ...replay, sequence: { windowMs: 1_800_000, weight: 20 } };
    const page = endpoint({}, true);
    const plan = planSession(request(), page, signals);
    expect(plan.ops).toEqual([
      { entity: "sess:sess-1", op: { op: "distinct.add", name: "sess.ips", windowMs: 600_000, member: "ip-1" } },
      { entity: "ip:ip-1", op: { op: "window.add", name: "pages", windowMs: 1_800_000, amount: 1 } },
    ]);
    // The replay signal reads its own result, not the page count that follows it.
    expect(plan.evaluate([1, 40])[0]).toMatchObject({ value: 1, fired: false });
    // A page view alone: counted, and no replay signal.
    const pageOnly = planSession(request(), page, { sequence: { windowMs: 1_800_000, weight: 20 } });
    expect(pageOnly.ops).toEqual([{ entity: "ip:ip-1", op: { op: "window.add", name: "pages", windowMs: 1_800_000, amount: 1 } }]);
    expect(pageOnly.evaluate([1])).toEqual([]);
    expect(planSession(request(), api, signals).ops).toHaveLength(1);
    expect(planSession(request({ ipId: undefined }), page, { sequence: { windowMs: 1_800_000, weight: 20 } }).ops).toEqual([]);
  });
});
