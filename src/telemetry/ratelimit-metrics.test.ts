import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";
import type { DescriptorEvent } from "../ratelimit/limiter.js";
import { createRateLimitMetrics, createRateLimitObserver, MAX_LOGGED_UNKNOWN_DOMAINS } from "./ratelimit-metrics.js";

describe("unknown rate-limit domains", () => {
  const setup = () => {
    const registry = new Registry();
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    const observer = createRateLimitObserver(createRateLimitMetrics(registry), logger, () => ["storefront"]);
    const count = async () => (await registry.getSingleMetric("palisade_ratelimit_unknown_domain_total")!.get()).values[0]!.value;
    const warnings = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((record) => record.level === "warn");
    return { observer, count, warnings };
  };

  it("are counted every time and logged once per domain, with the domains that exist", async () => {
    const { observer, count, warnings } = setup();
    for (const domain of ["palisade", "palisade", "other", "palisade"]) observer.unknownDomain(domain);
    expect(await count()).toBe(4);
    expect(warnings().map((record) => [record.domain, record.configuredDomains])).toEqual([
      ["palisade", ["storefront"]],
      ["other", ["storefront"]],
    ]);
  });

  it("stop being logged by name past a bound, since clients choose them, and are still counted", async () => {
    const { observer, count, warnings } = setup();
    for (let i = 0; i < MAX_LOGGED_UNKNOWN_DOMAINS + 50; i++) observer.unknownDomain(`d${i}-${"x".repeat(400)}`);
    expect(await count()).toBe(MAX_LOGGED_UNKNOWN_DOMAINS + 50);
    expect(warnings()).toHaveLength(MAX_LOGGED_UNKNOWN_DOMAINS);
    expect((warnings()[0]!.domain as string).length).toBe(256);
  });
});

describe("per-key hit counters", () => {
  const event = (overrides: Partial<DescriptorEvent>): DescriptorEvent => ({
    domain: "storefront",
    statsKey: "remote_address",
    rollupStatsKey: "remote_address",
    hits: 1,
    overLimit: false,
    nearLimitHits: 0,
    shadowMode: false,
    fromCache: false,
    ...overrides,
  });
  const setup = () => {
    const registry = new Registry();
    const observer = createRateLimitObserver(createRateLimitMetrics(registry), createLogger({ destination: { write: () => {} } }), () => ["storefront"]);
    const series = async () => {
      const text = await registry.metrics();
      return text.split("\n").filter((line) => line.startsWith("ratelimit_service_rate_limit_"));
    };
    return { observer, series };
  };

  it("hold every hit when read, including series of 0 hits, and count each hit once across reads", async () => {
    const { observer, series } = setup();
    observer.descriptor(event({ hits: 3 }));
    observer.descriptor(event({ hits: 2, nearLimitHits: 1 }));
    observer.descriptor(event({ statsKey: "endpoint_login", rollupStatsKey: "endpoint_login", hits: 0 }));
    observer.descriptor(event({ hits: 4, overLimit: true, shadowMode: true, fromCache: true }));
    observer.descriptor(event({ domain: "other", hits: 1, overLimit: true }));
    const expected = [
      'ratelimit_service_rate_limit_total_hits{domain="storefront",key="remote_address"} 9',
      'ratelimit_service_rate_limit_total_hits{domain="storefront",key="endpoint_login"} 0',
      'ratelimit_service_rate_limit_total_hits{domain="other",key="remote_address"} 1',
      'ratelimit_service_rate_limit_over_limit{domain="storefront",key="remote_address"} 4',
      'ratelimit_service_rate_limit_over_limit{domain="other",key="remote_address"} 1',
      'ratelimit_service_rate_limit_near_limit{domain="storefront",key="remote_address"} 1',
      'ratelimit_service_rate_limit_within_limit{domain="storefront",key="remote_address"} 5',
      'ratelimit_service_rate_limit_within_limit{domain="storefront",key="endpoint_login"} 0',
      'ratelimit_service_rate_limit_shadow_mode{domain="storefront",key="remote_address"} 4',
      'ratelimit_service_rate_limit_over_limit_with_local_cache{domain="storefront",key="remote_address"} 4',
    ];
    expect((await series()).sort()).toEqual([...expected].sort());
    expect((await series()).sort()).toEqual([...expected].sort()); // a second read adds nothing
    observer.descriptor(event({ hits: 1 }));
    expect(await series()).toContain('ratelimit_service_rate_limit_total_hits{domain="storefront",key="remote_address"} 10');
    expect(await series()).toContain('ratelimit_service_rate_limit_within_limit{domain="storefront",key="remote_address"} 6');
  });
});
