import { Counter, Gauge, type Registry } from "prom-client";
import type { ResponseObserver } from "../response/engine.js";
import type { DeliveryResult } from "../response/webhooks.js";
import { SAME_IN_EVERY_WORKER } from "./metrics.js";

/** What the gauges read at scrape time. */
export interface ResponseGaugeSources {
  quarantines: () => { scope: string }[];
  controls: () => { kind: string }[];
  webhookQueue: () => number;
}

/**
 * Metrics of the response engine, on the service's registry. Labels are scopes, rule ids,
 * event types and results: never identifiers.
 */
export function createResponseMetrics(registry: Registry, sources: () => ResponseGaugeSources | undefined) {
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter({ name, help, labelNames, registers });
  const events = counter(
    "palisade_response_events_total",
    "Response events (quarantine.created, quarantine.lifted, enforcement.block, shadow.would_have, policy.*, rule.*, threshold.*, anomaly.*), by type",
    ["type"],
  );
  const held = counter("palisade_quarantine_enforced_total", "Requests denied by an active quarantine (decided from the local copy, no store round trip), by scope", ["scope"]);
  const sync = counter("palisade_response_sync_total", "How replica copies of shared maps learnt of changes: message, or resync:<why>", ["map", "event"]);
  const auditFailures = counter("palisade_audit_failures_total", "Audit records that could not be written, by action", ["action"]);
  const relief = counter("palisade_friction_relief_total", "Passed challenges and MFA reported, by kind", ["kind"]);
  const deliveries = counter("palisade_webhook_deliveries_total", "Webhook delivery outcomes (delivered, retried, failed, dropped), by event type", ["result", "type"]);
  /** A gauge of how many items carry each value of `label`, counted at scrape time. */
  const countGauge = (name: string, help: string, label: string, items: () => Record<string, string>[]) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers,
      aggregator: SAME_IN_EVERY_WORKER,
      collect() {
        this.reset();
        for (const item of items()) this.inc({ [label]: item[label] });
      },
    });
  countGauge("palisade_quarantines_active", "Quarantines in this replica's copy, by scope", "scope", () => sources()?.quarantines() ?? []);
  countGauge("palisade_runtime_overrides", "Runtime overrides in force, by kind (rollback, rule, threshold)", "kind", () => sources()?.controls() ?? []);
  new Gauge({
    name: "palisade_webhook_queue_depth",
    help: "Webhook events waiting for delivery, over all receivers",
    registers,
    collect() {
      this.set(sources()?.webhookQueue() ?? 0);
    },
  });

  return {
    delivery: (result: DeliveryResult, type: string) => deliveries.inc({ result, type }),
    observer: (setActivePolicy: ResponseObserver["policyInForce"]): ResponseObserver => ({
      event: (event) => events.inc({ type: event.type }),
      held: (quarantine) => held.inc({ scope: quarantine.scope }),
      sync: (map, event) => sync.inc({ map, event }),
      auditFailed: (action) => auditFailures.inc({ action }),
      relief: (kind) => relief.inc({ kind }),
      policyInForce: setActivePolicy,
    }),
  };
}
