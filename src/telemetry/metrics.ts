import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { createRateLimitMetrics } from "./ratelimit-metrics.js";

/**
 * Decision latency from sub-millisecond (memory store, no Redis) past Envoy's default ext_authz
 * timeout of 200 ms: 0.15 and 0.2 show Checks nearing it, 0.25 to 1 those that crossed it (Envoy
 * has given up on them and applied failure_mode_allow), so an alert can read the share of
 * Checks within 50 ms of the timeout and the share beyond it.
 */
const DECISION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1];

/**
 * Event-loop delay (see event-loop-delay.ts): a few ms is a busy loop, 0.05 the bound issue 16
 * sets for a Check, 0.2 Envoy's default ext_authz timeout.
 */
const EVENT_LOOP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1];

/**
 * How the pod-wide /metrics of several workers (the `workers` setting) merges a gauge that every
 * worker reports alike, or that is 1 when any worker is in that state: the maximum, not the sum.
 */
export const SAME_IN_EVERY_WORKER = "max" as const;

/** Label value for an absent endpoint or rule: keeps label sets bounded and queries simple. */
export const NONE = "none";

function createInstruments(registry: Registry) {
  const registers = [registry];
  return {
    decisions: new Counter({
      name: "palisade_decisions_total",
      help: "Decisions taken, by action, policy endpoint and deciding rule",
      labelNames: ["action", "endpoint", "rule", "shadow"] as const,
      registers,
    }),
    decisionDuration: new Histogram({
      name: "palisade_decision_duration_seconds",
      help: "Time from request received to decision, by transport",
      labelNames: ["transport"] as const,
      buckets: DECISION_BUCKETS,
      registers,
    }),
    eventLoopDelay: new Histogram({
      name: "palisade_event_loop_delay_seconds",
      help: "How late a timer due every 20 ms ran: how long work arriving then waited for the event loop",
      buckets: EVENT_LOOP_BUCKETS,
      registers,
    }),
    storeErrors: new Counter({
      name: "palisade_store_errors_total",
      help: "Failed store calls, by store (memory|redis) and kind (timeout, unavailable…)",
      labelNames: ["store", "kind"] as const,
      registers,
    }),
    storeDegraded: new Gauge({
      name: "palisade_store_degraded",
      help: "1 while the store is unreachable and decisions run on local state",
      aggregator: SAME_IN_EVERY_WORKER,
      registers,
    }),
    policyReloads: new Counter({
      name: "palisade_policy_reloads_total",
      help: "Policy reload attempts, by result (success|rejected)",
      labelNames: ["result"] as const,
      registers,
    }),
    policyInfo: new Gauge({
      name: "palisade_policy_info",
      help: "1 for the policy in force, labelled with its name and version",
      labelNames: ["version", "name"] as const,
      aggregator: SAME_IN_EVERY_WORKER,
      registers,
    }),
    policyWarnings: new Gauge({
      name: "palisade_policy_warnings",
      help: "Warnings of the policy in force: what loads but probably does not do what its author meant (the log and `palisade policy lint` say which)",
      aggregator: SAME_IN_EVERY_WORKER,
      registers,
    }),
    requestAnomalies: new Counter({
      name: "palisade_request_anomalies_total",
      help: "Bad input seen in requests (oversize headers, unparsable body…), by anomaly code",
      labelNames: ["code"] as const,
      registers,
    }),
    grpcErrors: new Counter({
      name: "palisade_grpc_errors_total",
      help: "gRPC calls answered with an error status, by service and status code",
      labelNames: ["service", "code"] as const,
      registers,
    }),
    accessLogEntries: new Counter({
      name: "palisade_access_log_entries_total",
      help: "Access-log entries received from Envoy, by result (recorded, malformed, error)",
      labelNames: ["result"] as const,
      registers,
    }),
    loginOutcomes: new Counter({
      name: "palisade_login_outcomes_total",
      help: "Login outcomes learned, by outcome (success, failure, unknown_user), registration outcomes (signup_created, signup_held, signup_unmarked, signup_refused) or why an entry was ignored",
      labelNames: ["outcome"] as const,
      registers,
    }),
    ruleErrors: new Counter({
      name: "palisade_rule_errors_total",
      help: "Rule conditions that failed to evaluate (and so did not match), by rule",
      labelNames: ["rule"] as const,
      registers,
    }),
    feedLoads: new Counter({
      name: "palisade_reputation_feed_loads_total",
      help: "Reputation feed loads, by list and result (success|failure); a failure keeps the last good copy",
      labelNames: ["list", "feed", "result"] as const,
      registers,
    }),
    feedEntries: new Gauge({
      name: "palisade_reputation_feed_entries",
      help: "Ranges in the copy of each reputation list's feeds in force",
      labelNames: ["list", "feed"] as const,
      aggregator: SAME_IN_EVERY_WORKER,
      registers,
    }),
    feedLastSuccess: new Gauge({
      name: "palisade_reputation_feed_last_success_timestamp_seconds",
      help: "When each reputation list's feed last loaded successfully (Unix time)",
      labelNames: ["list", "feed"] as const,
      aggregator: SAME_IN_EVERY_WORKER,
      registers,
    }),
    ruleBudgetExceeded: new Counter({
      name: "palisade_rule_budget_exceeded_total",
      help: "Checks that ran out of their rule-evaluation budget (the remaining rules were not evaluated)",
      registers,
    }),
    shadowDecisions: new Counter({
      name: "palisade_shadow_decisions_total",
      help: "Actions shadow-mode rules would have taken, by rule and action",
      labelNames: ["rule", "action"] as const,
      registers,
    }),
  };
}

/**
 * Palisade's Prometheus metrics on a registry of their own (not prom-client's global one), so
 * tests and tools can create several. Labels carry policy names and codes, never identifiers.
 */
/**
 * `defaultMetrics: false` leaves out prom-client's process and runtime metrics, whose collectors
 * (GC and event-loop observers) live as long as the process: for a registry nobody scrapes, such
 * as the one warm-up requests are counted in (src/app/warm-up.ts).
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const instruments = createInstruments(registry);
  return {
    registry,
    ...instruments,
    /** ShouldRateLimit statistics under envoyproxy/ratelimit's names. */
    rateLimit: createRateLimitMetrics(registry),
    /** Prometheus text exposition format of every metric, for GET /metrics. */
    contentType: registry.contentType,
    metricsText: (): Promise<string> => registry.metrics(),
    /** Counts one decision, with "none" for an absent endpoint or rule. */
    recordDecision(decision: { action: string; endpoint?: string; rule?: string; shadow: boolean }): void {
      instruments.decisions.inc({
        action: decision.action,
        endpoint: decision.endpoint ?? NONE,
        rule: decision.rule ?? NONE,
        shadow: String(decision.shadow),
      });
    },
    /** Marks `policy` as the one in force, with its warnings; the previous policy's series disappears. */
    setActivePolicy(policy: { name: string; version: string; warnings: readonly unknown[] }): void {
      instruments.policyInfo.reset();
      instruments.policyInfo.set({ name: policy.name, version: policy.version }, 1);
      instruments.policyWarnings.set(policy.warnings.length);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
