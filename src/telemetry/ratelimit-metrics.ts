import { Counter, type Registry } from "prom-client";
import type { DescriptorEvent, RateLimitObserver } from "../ratelimit/limiter.js";
import type { Logger } from "./logger.js";

/**
 * envoyproxy/ratelimit's per-key statistics under the names its Prometheus statsd-exporter
 * mapping gives them (`ratelimit_service_rate_limit_<stat>`), so existing dashboards and alerts
 * keep working; the whole descriptor key is one `key` label instead of key1/key2 (that split is
 * an artifact of statsd paths). Plus Palisade's own counters under `palisade_ratelimit_`.
 */
export function createRateLimitMetrics(registry: Registry) {
  const registers = [registry];
  // Per-descriptor hits are tallied by the observer and added to these counters when they are
  // read (prom-client calls `collect` before every read of a metric), see createRateLimitObserver.
  const beforeRead = new Set<() => void>();
  const collect = () => {
    for (const flush of beforeRead) flush();
  };
  const perKey = (stat: string, help: string) =>
    new Counter({ name: `ratelimit_service_rate_limit_${stat}`, help, labelNames: ["domain", "key"] as const, registers, collect });
  return {
    /** Flushes run before any per-key counter is read. */
    beforeRead,
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

/** Hits of one domain and key since the per-key counters were last read. */
interface Tally {
  total: number;
  over: number;
  near: number;
  within: number;
  shadow: number;
  overFromCache: number;
  /** Which counters hits went to since the last read (TOTAL | OVER | …). */
  touched: number;
}

const TOTAL = 1;
const OVER = 2;
const SHADOW = 4;
const FROM_CACHE = 8;
const WITHIN = 16;
const NEAR = 32;

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
  // Hits per domain and key, added to the counters when they are read: prom-client's inc() builds
  // and hashes a label string per call (two to four per descriptor, every ShouldRateLimit); a
  // tally is two Map look-ups and additions. Keys are bounded as above, so the tallies are too.
  const tallies = new Map<string, Map<string, Tally>>();
  const tallyOf = (domain: string, key: string): Tally => {
    let byKey = tallies.get(domain);
    if (byKey === undefined) tallies.set(domain, (byKey = new Map()));
    let tally = byKey.get(key);
    if (tally === undefined) byKey.set(key, (tally = { total: 0, over: 0, near: 0, within: 0, shadow: 0, overFromCache: 0, touched: 0 }));
    return tally;
  };
  metrics.beforeRead.add(() => {
    for (const [domain, byKey] of tallies) {
      for (const [key, tally] of byKey) {
        if (tally.touched === 0) continue; // nothing since the last read
        // Each counter the observer would have incremented gets its sum, even of 0 hits: a series appears as it did.
        const labels = { domain, key };
        if (tally.touched & TOTAL) metrics.totalHits.inc(labels, tally.total);
        if (tally.touched & OVER) metrics.overLimit.inc(labels, tally.over);
        if (tally.touched & SHADOW) metrics.shadowMode.inc(labels, tally.shadow);
        if (tally.touched & FROM_CACHE) metrics.overLimitWithLocalCache.inc(labels, tally.overFromCache);
        if (tally.touched & WITHIN) metrics.withinLimit.inc(labels, tally.within);
        if (tally.touched & NEAR) metrics.nearLimit.inc(labels, tally.near);
        tally.total = tally.over = tally.near = tally.within = tally.shadow = tally.overFromCache = tally.touched = 0;
      }
    }
  });
  return {
    descriptor(event) {
      const tally = tallyOf(event.domain, keyFor(event));
      tally.total += event.hits;
      let touched = TOTAL;
      if (event.overLimit) {
        tally.over += event.hits;
        touched |= OVER;
        if (event.shadowMode) {
          tally.shadow += event.hits;
          touched |= SHADOW;
        }
        if (event.fromCache) {
          tally.overFromCache += event.hits;
          touched |= FROM_CACHE;
        }
      } else {
        tally.within += event.hits;
        touched |= WITHIN;
        if (event.nearLimitHits > 0) {
          tally.near += event.nearLimitHits;
          touched |= NEAR;
        }
      }
      tally.touched |= touched;
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
