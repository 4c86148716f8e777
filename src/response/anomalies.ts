import type { Decision } from "../domain/decision.js";
import type { ResponseEvents } from "./events.js";

/**
 * Site-wide anomalies, as the decisions show them: any reason `site.*` on an endpoint means
 * one is in force there. An anomaly starts with the first such decision and ends once
 * decisions on that endpoint have shown none for `quietMs` (so a figure hovering at its
 * threshold does not start and end one every second). Each replica reports what it sees.
 */
export class AnomalyTracker {
  readonly #active = new Map<string, { lastSeenMs: number; reasons: string[] }>();

  constructor(
    private readonly events: ResponseEvents,
    private readonly quietMs = 60_000,
  ) {}

  observe(decision: Decision): void {
    const endpoint = decision.endpoint;
    if (!endpoint) return;
    const reasons = decision.reasons.filter((r) => r.code.startsWith("site.")).map((r) => r.code);
    const active = this.#active.get(endpoint);
    if (reasons.length > 0) {
      if (!active) this.events.publish({ type: "anomaly.started", endpoint, reasons });
      this.#active.set(endpoint, { lastSeenMs: decision.eventTimeMs, reasons });
    } else if (active && decision.eventTimeMs - active.lastSeenMs >= this.quietMs) {
      this.#active.delete(endpoint);
      this.events.publish({ type: "anomaly.ended", endpoint, reasons: active.reasons });
    }
  }

  /** Endpoints with an anomaly in force, for the analyst API. */
  active(): { endpoint: string; reasons: string[]; lastSeen: string }[] {
    return [...this.#active].map(([endpoint, { lastSeenMs, reasons }]) => ({ endpoint, reasons, lastSeen: new Date(lastSeenMs).toISOString() }));
  }
}
