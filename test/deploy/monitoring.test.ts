/**
 * The Grafana dashboard (charts/palisade/dashboards/palisade.json) and the chart's
 * PrometheusRule query only metrics the service exposes, with labels those metrics carry:
 * names are read from the /metrics of a service started in-process, label names from its
 * registry.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startTestApp } from "../support/app.js";
import { describeWithChartTools } from "./chart-tools.js";
import { CHART_DIR, find, render } from "./fixtures.js";

const DASHBOARD_FILE = path.join(CHART_DIR, "dashboards", "palisade.json");
const dashboardText = fs.readFileSync(DASHBOARD_FILE, "utf8");
const dashboard = JSON.parse(dashboardText) as { panels: Panel[]; templating: { list: { name: string; query?: unknown }[] } };

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { expr: string }[];
}

const METRIC = /\b((?:palisade|ratelimit_service)_[a-z0-9_]+)(\{[^}]*\})?/g;

/** What an expression asks of the service: metric names, and label names per metric. */
function demands(expr: string): { metric: string; labels: string[] }[] {
  return [...expr.matchAll(METRIC)].map((match) => ({
    metric: match[1]!,
    labels: [...(match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!),
  }));
}

/** Labels an expression aggregates by: `by (a, b)`. */
function groupings(expr: string): string[] {
  return [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((match) => match[1]!.split(",").map((label) => label.trim()).filter(Boolean));
}

let app: App;
/** Metric name → its label names (histograms under their series names too, with `le`). */
const exposed = new Map<string, string[]>();

beforeAll(async () => {
  app = await startTestApp();
  const text = await (await fetch(`http://127.0.0.1:${app.adminPort}/metrics`)).text();
  const labelNames = new Map(app.metrics.registry.getMetricsAsArray().map((metric) => [metric.name, [...(((metric as unknown as { labelNames?: string[] }).labelNames) ?? [])]]));
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const labels = [...(labelNames.get(name!) ?? []), "job", "instance"];
    exposed.set(name!, labels);
    if (type === "histogram") for (const suffix of ["bucket", "sum", "count"]) exposed.set(`${name}_${suffix}`, [...labels, ...(suffix === "bucket" ? ["le"] : [])]);
  }
});

afterAll(async () => {
  await app?.stop();
});

/** Problems with the queries: unknown metrics, unknown label names. */
function problems(queries: string[]): string[] {
  const found: string[] = [];
  for (const expr of queries) {
    const asked = demands(expr);
    for (const { metric, labels } of asked) {
      const known = exposed.get(metric);
      if (!known) found.push(`${metric}: not in /metrics (${expr})`);
      else for (const label of labels.filter((l) => !known.includes(l))) found.push(`${metric}: no label ${label}`);
    }
    for (const label of groupings(expr)) {
      if (!asked.some(({ metric }) => exposed.get(metric)?.includes(label))) found.push(`by (${label}): no metric of "${expr}" has it`);
    }
  }
  return found;
}

describe("Grafana dashboard", () => {
  const queries = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));

  it("queries only metrics and labels the service exposes", () => {
    expect(exposed.size).toBeGreaterThan(20);
    expect(queries.length).toBeGreaterThan(15);
    expect(problems(queries)).toEqual([]);
    const variables = dashboard.templating.list.map((variable) => JSON.stringify(variable.query ?? ""));
    expect(problems(variables)).toEqual([]);
  });

  it("covers decisions by action and rule, friction, latency, store, reloads and webhooks", () => {
    const all = queries.join("\n");
    for (const metric of [
      "palisade_decisions_total",
      "palisade_friction_relief_total",
      "palisade_decision_duration_seconds_bucket",
      "palisade_store_degraded",
      "palisade_policy_reloads_total",
      "ratelimit_service_config_load_error",
      "palisade_webhook_deliveries_total",
    ]) {
      expect(all).toContain(metric);
    }
    expect(all).toContain("vector($ext_authz_timeout)");
  });

  it("is well formed: unique panel ids, inside the 24-column grid, on the chosen data source", () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      if (panel.type !== "row") expect(panel.datasource?.uid, panel.title).toBe("${datasource}");
    }
  });
});

describeWithChartTools("the chart's PrometheusRule and dashboard ConfigMap", () => {
  const objects = render({ prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } }).objects;

  it("alerts on store down, rejected reloads, p99 near the timeout, mitigation surges, webhook and feed failures", () => {
    const rules: { alert: string; expr: string }[] = find(objects, "PrometheusRule", "palisade").spec.groups.flatMap((group: any) => group.rules);
    expect(rules.map((rule) => rule.alert)).toEqual([
      "PalisadeStoreDown",
      "PalisadePolicyReloadRejected",
      "PalisadeRateLimitReloadRejected",
      "PalisadeDecisionLatencyNearTimeout",
      "PalisadeMitigationSurge",
      "PalisadeWebhookFailures",
      "PalisadeReputationFeedFailing",
    ]);
    expect(problems(rules.map((rule) => rule.expr))).toEqual([]);
    expect(rules.find((rule) => rule.alert === "PalisadeDecisionLatencyNearTimeout")!.expr).toMatch(/> 0\.2$/);
  });

  it("ships the dashboard file unchanged, labelled for Grafana's sidecar", () => {
    const configMap = find(objects, "ConfigMap", "palisade-dashboard");
    expect(configMap.metadata.labels.grafana_dashboard).toBe("1");
    expect(JSON.parse(configMap.data["palisade.json"])).toEqual(dashboard);
  });
});
