import { status as GrpcStatus } from "@grpc/grpc-js";
import { Counter, type Registry } from "prom-client";
import type { DescriptorEvent, RateLimitObserver } from "../ratelimit/limiter.js";
import type { RateLimitDecision } from "../ratelimit/request.js";
import type { DecisionObserver } from "./decision-observer.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";

/**
 * envoyproxy/ratelimit's per-key statistics under the names its Prometheus statsd-exporter
 * mapping gives them (`ratelimit_service_rate_limit_<stat>`), so existing dashboards and alerts
 * keep working; the whole descriptor key is one `key` label instead of key1/key2 (that split is
 * an artifact of statsd paths). Plus Palisade's own counters under `palisade_ratelimit_`.
 */
export function createRateLimitMetrics(registry: Registry) {
  const registers = [registry];
  const perKey = (stat: string, help: string) =>
    new Counter({ name: `ratelimit_service_rate_limit_${stat}`, help, labelNames: ["domain", "key"] as const, registers });
  return {
    totalHits: perKey("total_hits", "Hits on a rate-limit key in total"),
    overLimit: perKey("over_limit", "Hits over the limit (shadow-mode hits included)"),
    nearLimit: perKey("near_limit", "Hits within the limit but past 80% of it"),
    withinLimit: perKey("within_limit", "Hits within the limit"),
    shadowMode: perKey("shadow_mode", "Over-limit hits that shadow mode let through"),
    overLimitWithLocalCache: perKey("over_limit_with_local_cache", "Over-limit hits answered from the local cache, without the store"),
    configLoadSuccess: new Counter({ name: "ratelimit_service_config_load_success", help: "Rate-limit configuration reloads that took effect", registers }),
    configLoadError: new Counter({ name: "ratelimit_service_config_load_error", help: "Rate-limit configuration reloads rejected (the last good one stays)", registers }),
    unknownDomain: new Counter({
      name: "palisade_ratelimit_unknown_domain_total",
      help: "ShouldRateLimit calls for a domain no configuration names (answered OK); no domain label, clients choose it",
      registers,
    }),
    storeUnavailable: new Counter({
      name: "palisade_ratelimit_store_unavailable_total",
      help: "ShouldRateLimit calls the store could not count, by domain and the failure_mode that decided",
      labelNames: ["domain", "failure_mode"] as const,
      registers,
    }),
  };
}

export type RateLimitMetrics = ReturnType<typeof createRateLimitMetrics>;

/** Detailed keys (detailed_metric: request values in the key) tracked at once; later ones roll up. */
export const MAX_DETAILED_KEYS = 1_000;

/**
 * Unknown domains logged by name; later ones are only counted. Clients choose the domain, so
 * the set of names remembered must stay bounded.
 */
export const MAX_LOGGED_UNKNOWN_DOMAINS = 100;

/**
 * The core's hooks, counted. Keys stay bounded: without detailed_metric they come from the
 * configuration; with it, the first MAX_DETAILED_KEYS distinct keys get series of their own and
 * the rest are rolled up into the configured key. An unknown domain is logged once per domain
 * (a mismatch between Envoy's filter and the configuration would otherwise limit nothing,
 * silently) and counted every time.
 */
export function createRateLimitObserver(metrics: RateLimitMetrics, logger: Logger, knownDomains: () => string[]): RateLimitObserver {
  const detailedKeys = new Set<string>();
  const loggedDomains = new Set<string>();
  const keyFor = (event: DescriptorEvent): string => {
    if (event.statsKey === event.rollupStatsKey || detailedKeys.has(event.statsKey)) return event.statsKey;
    if (detailedKeys.size >= MAX_DETAILED_KEYS) return event.rollupStatsKey;
    detailedKeys.add(event.statsKey);
    return event.statsKey;
  };
  return {
    descriptor(event) {
      const labels = { domain: event.domain, key: keyFor(event) };
      metrics.totalHits.inc(labels, event.hits);
      if (event.overLimit) {
        metrics.overLimit.inc(labels, event.hits);
        if (event.shadowMode) metrics.shadowMode.inc(labels, event.hits);
        if (event.fromCache) metrics.overLimitWithLocalCache.inc(labels, event.hits);
      } else {
        metrics.withinLimit.inc(labels, event.hits);
        if (event.nearLimitHits > 0) metrics.nearLimit.inc(labels, event.nearLimitHits);
      }
    },
    unknownDomain(domain) {
      metrics.unknownDomain.inc();
      if (loggedDomains.has(domain) || loggedDomains.size >= MAX_LOGGED_UNKNOWN_DOMAINS) return;
      loggedDomains.add(domain);
      logger.warn(
        { domain: domain.slice(0, 256), configuredDomains: knownDomains() },
        "rate-limit request for a domain no configuration names: answered OK, nothing is limited (logged once per domain; counted in palisade_ratelimit_unknown_domain_total)",
      );
    },
    storeUnavailable: (domain, failureMode) => metrics.storeUnavailable.inc({ domain, failure_mode: failureMode }),
  };
}

/** What the ShouldRateLimit transport reports per call. */
export interface RateLimitTelemetry {
  answered(decision: RateLimitDecision, startedNs: bigint): void;
  /** Counts and logs a failed call; returns the gRPC status to answer with. */
  failed(error: unknown, startedNs: bigint): GrpcStatus;
}

export function createRateLimitTelemetry(deps: { metrics: Metrics; logger: Logger; decisions: DecisionObserver }): RateLimitTelemetry {
  const { metrics, logger, decisions } = deps;
  return {
    answered(decision, startedNs) {
      metrics.decisionDuration.observe({ transport: "ratelimit" }, Number(process.hrtime.bigint() - startedNs) / 1e9);
      if (decision.overallCode === "OVER_LIMIT" || decision.metadata.shadow_over_limit) {
        logger.debug({ domain: decision.metadata.domain, overallCode: decision.overallCode, risk: decision.metadata.risk }, "rate limited");
      }
    },
    failed: (error, startedNs) => decisions.failed(error, "ratelimit", startedNs),
  };
}
