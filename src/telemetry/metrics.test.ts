import { describe, expect, it } from "vitest";
import { createMetrics } from "./metrics.js";

describe("createMetrics", () => {
  it("exposes every Palisade metric and the default process metrics", async () => {
    const metrics = createMetrics();
    const text = await metrics.metricsText();
    for (const name of [
      "palisade_decisions_total",
      "palisade_decision_duration_seconds",
      "palisade_store_errors_total",
      "palisade_store_degraded",
      "palisade_policy_reloads_total",
      "palisade_policy_info",
      "palisade_request_anomalies_total",
      "palisade_grpc_errors_total",
      "palisade_shadow_decisions_total",
      "palisade_event_loop_delay_seconds",
      "process_cpu_seconds_total",
      "nodejs_eventloop_lag_seconds",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it("keeps registries apart", async () => {
    const first = createMetrics();
    const second = createMetrics();
    first.storeDegraded.set(1);
    expect(await first.metricsText()).toContain("palisade_store_degraded 1");
    expect(await second.metricsText()).toContain("palisade_store_degraded 0");
  });

  it("labels decisions with 'none' for an absent endpoint or rule", async () => {
    const metrics = createMetrics();
    metrics.recordDecision({ action: "allow", shadow: false });
    metrics.recordDecision({ action: "throttle", endpoint: "login", rule: "ip-velocity", shadow: true });
    const text = await metrics.metricsText();
    expect(text).toContain('palisade_decisions_total{action="allow",endpoint="none",rule="none",shadow="false"} 1');
    expect(text).toContain('palisade_decisions_total{action="throttle",endpoint="login",rule="ip-velocity",shadow="true"} 1');
  });

  it("reports only the policy in force", async () => {
    const metrics = createMetrics();
    metrics.setActivePolicy({ name: "default", version: "1", warnings: [{ path: "spec", message: "odd" }] });
    metrics.setActivePolicy({ name: "default", version: "2", warnings: [] });
    const text = await metrics.metricsText();
    expect(text).toContain('palisade_policy_info{name="default",version="2"} 1');
    expect(text).not.toContain('version="1"');
    expect(text).toContain("palisade_policy_warnings 0");
  });

  it("counts the warnings of the policy in force", async () => {
    const metrics = createMetrics();
    metrics.setActivePolicy({ name: "default", version: "1", warnings: [{ path: "spec.a", message: "odd" }, { path: "spec.b", message: "odd" }] });
    expect(await metrics.metricsText()).toContain("palisade_policy_warnings 2");
  });

  it("buckets decision durations from 100 µs to past the 200 ms ext_authz timeout", async () => {
    const metrics = createMetrics();
    metrics.decisionDuration.observe({ transport: "authz" }, 0.0003);
    const text = await metrics.metricsText();
    expect(text).toContain('palisade_decision_duration_seconds_bucket{le="0.0001",transport="authz"} 0');
    expect(text).toContain('palisade_decision_duration_seconds_bucket{le="0.0005",transport="authz"} 1');
    expect(text).toContain('palisade_decision_duration_seconds_bucket{le="0.2",transport="authz"} 1');
    // Buckets at issue 16's 50 ms bound for a Check, and on both sides of Envoy's 200 ms ext_authz timeout.
    for (const le of ["0.05", "0.1", "0.15", "0.25", "0.5", "1"]) expect(text).toContain(`palisade_decision_duration_seconds_bucket{le="${le}",transport="authz"} 1`);
  });
});
