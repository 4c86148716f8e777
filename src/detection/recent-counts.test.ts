import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { planLogin } from "./login.js";
import { RecentCounts } from "./recent-counts.js";

const WINDOW = 600_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % WINDOW); // a bucket edge
const signals: CompiledSignals = { distinctUsernames: { windowMs: WINDOW, fingerprint: { threshold: 60, weight: 25 } } };
const login = { authentication: true, name: "login" } as CompiledEndpoint;

function attempt(timeMs: number, user = "u-1"): NormalisedRequest {
  return {
    method: "POST", path: "/api/v1/login", query: "", host: "", headerShape: "s", timeMs, anomalies: [],
    headers: new Map(), ipId: "ip-1", usernameId: user, fingerprintId: "fp-1",
  };
}

const fingerprintOp = (plan: ReturnType<typeof planLogin>) => plan.ops.find((o) => o.entity === "fp:fp-1")!.op;
const fingerprintSignal = (plan: ReturnType<typeof planLogin>, results: number[]) =>
  plan.evaluate(results).find((s) => s.code === "fingerprint.distinct_usernames");

describe("recent copies of campaign-wide distinct counts", () => {
  it("stands in only above the threshold, within a second of event time and within one bucket", () => {
    const recent = new RecentCounts();
    recent.remember("k", WINDOW, T0 + 100, 61);
    expect(recent.usable("k", WINDOW, T0 + 100, 60)).toBe(61);
    expect(recent.usable("k", WINDOW, T0 + 1_099, 60)).toBe(61);
    expect(recent.usable("k", WINDOW, T0 + 1_100, 60)).toBeUndefined(); // a second old
    expect(recent.usable("k", WINDOW, T0 + 50, 60)).toBeUndefined(); // from the future
    expect(recent.usable("k", WINDOW, T0 + 100, 61)).toBeUndefined(); // not above the threshold
    recent.remember("k", WINDOW, T0 + WINDOW - 10, 70);
    expect(recent.usable("k", WINDOW, T0 + WINDOW + 10, 60)).toBeUndefined(); // the next bucket
    recent.remember("k", WINDOW, T0 + 5, 80); // an older reading answering late is ignored
    expect(recent.usable("k", WINDOW, T0 + WINDOW - 5, 60)).toBe(70);
  });

  it("lets a login add its username behind a busy fingerprint without counting, and fire as a fresh count would", () => {
    const recent = new RecentCounts();
    const first = planLogin(attempt(T0 + 10), login, signals, recent);
    expect(fingerprintOp(first)).not.toHaveProperty("count");
    const counted = first.ops.map((o) => (o.entity === "fp:fp-1" ? 75 : 1));
    expect(fingerprintSignal(first, counted)).toMatchObject({ value: 75, fired: true, weight: 25 });

    const next = planLogin(attempt(T0 + 500, "u-2"), login, signals, recent);
    expect(fingerprintOp(next)).toMatchObject({ op: "distinct.add", member: "u-2", count: false });
    expect(fingerprintSignal(next, next.ops.map(() => 0))).toMatchObject({ value: 75, fired: true, weight: 25 });

    expect(fingerprintOp(planLogin(attempt(T0 + 1_010, "u-3"), login, signals, recent))).not.toHaveProperty("count");
  });

  it("counts afresh below the threshold", () => {
    const recent = new RecentCounts();
    const first = planLogin(attempt(T0 + 10), login, signals, recent);
    first.evaluate(first.ops.map(() => 60));
    expect(fingerprintOp(planLogin(attempt(T0 + 20, "u-2"), login, signals, recent))).not.toHaveProperty("count");
  });
});
