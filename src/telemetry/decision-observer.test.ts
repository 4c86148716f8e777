import { describe, expect, it } from "vitest";
import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import { createDecisionObserver } from "./decision-observer.js";
import { createLogger } from "./logger.js";
import { createMetrics } from "./metrics.js";

const decision: Decision = {
  decisionId: "d-1",
  action: "throttle",
  risk: 70,
  reasons: [{ code: "ip.velocity", value: 30, threshold: 20, weight: 40 }],
  rule: "login-velocity",
  policyVersion: "3",
  endpoint: "login",
  subject: "p-user",
  degraded: false,
  shadowed: [{ rule: "new-rule", action: "block" }],
  eventTimeMs: 0,
};
const request = { anomalies: ["headers.oversize"] } as NormalisedRequest;

function setup() {
  const metrics = createMetrics();
  const observer = createDecisionObserver({ metrics, logger: createLogger({ level: "silent" }) });
  return { metrics, observer };
}

describe("DecisionObserver", () => {
  it("counts the decision, its shadow matches and anomalies, and times it", async () => {
    const { metrics, observer } = setup();
    observer.decided(decision, request, "authz", process.hrtime.bigint());
    const text = await metrics.metricsText();
    expect(text).toContain('palisade_decisions_total{action="throttle",endpoint="login",rule="login-velocity",shadow="true"} 1');
    expect(text).toContain('palisade_shadow_decisions_total{rule="new-rule",action="block"} 1');
    expect(text).toContain('palisade_request_anomalies_total{code="headers.oversize"} 1');
    expect(text).toContain('palisade_decision_duration_seconds_count{transport="authz"} 1');
  });

  it("counts failures under the status the transport answered with", async () => {
    const { metrics, observer } = setup();
    observer.failed(new Error("redis down"), "authz", process.hrtime.bigint(), "UNAVAILABLE");
    observer.failed(new TypeError("bug"), "authz", process.hrtime.bigint(), "INTERNAL");
    const text = await metrics.metricsText();
    expect(text).toContain('palisade_grpc_errors_total{service="authz",code="UNAVAILABLE"} 1');
    expect(text).toContain('palisade_grpc_errors_total{service="authz",code="INTERNAL"} 1');
  });

  it("passes the evaluation through its span", async () => {
    const { observer } = setup();
    const evaluation = { decision, request };
    await expect(observer.traceCheck(async () => evaluation)).resolves.toBe(evaluation);
  });

  it("builds no trace carriers while tracing is off", async () => {
    const { observer } = setup();
    const evaluation = { decision, request };
    let built = 0;
    await expect(observer.traceCheck(async () => evaluation, () => (built++, []))).resolves.toBe(evaluation);
    expect(built).toBe(0);
  });
});
