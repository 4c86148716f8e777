import { describe, expect, it } from "vitest";
import { parseDomainFile } from "../ratelimit/config-loader.js";
import type { RateLimitConfig } from "../ratelimit/config.js";
import { RateLimiter, type DescriptorEvent } from "../ratelimit/limiter.js";
import { MemoryStore } from "../state/memory-store.js";
import { rateLimitWarmUpRequests } from "./warm-up.js";

/** Exact values, any value, a wildcard and nesting: each rule a statsKey of its own. */
const CONFIG = `
domain: shop
descriptors:
  - key: remote_address
    rate_limit: { unit: minute, requests_per_unit: 600 }
  - key: endpoint
    value: login
    descriptors:
      - key: remote_address
        rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: path
    value: /api/*
    rate_limit: { unit: second, requests_per_unit: 50 }
  - key: plan
    value: free
    descriptors:
      - key: user
        descriptors:
          - key: action
            value: export
            rate_limit: { unit: hour, requests_per_unit: 10 }
`;
const OTHER = `
domain: partners
descriptors:
  - key: api_key
    rate_limit: { unit: minute, requests_per_unit: 100 }
`;

describe("warm-up's ShouldRateLimit requests", () => {
  it("reach every rule of every domain the configuration declares, as real traffic does", async () => {
    const domains = [parseDomainFile(CONFIG, "shop.yaml")!, parseDomainFile(OTHER, "partners.yaml")!];
    const config: RateLimitConfig = { domains: new Map(domains.map((domain) => [domain.domain, domain])) };
    const counted: DescriptorEvent[] = [];
    const limiter = new RateLimiter({
      config: () => config,
      store: new MemoryStore(),
      pseudonymise: (identity) => identity,
      observer: { descriptor: (event) => counted.push(event), unknownDomain: () => {}, storeUnavailable: () => {} },
    });
    const requests = rateLimitWarmUpRequests(config);
    for (let round = 0; round < 3; round++) {
      for (const request of requests) {
        const descriptors = request.descriptors!.map((descriptor) => ({ entries: descriptor.entries!.map((entry) => ({ key: entry.key!, value: entry.value! })) }));
        await limiter.shouldRateLimit({ domain: request.domain!, descriptors, hits: 0 });
      }
    }
    const rules = new Set(counted.map((event) => `${event.domain}.${event.statsKey}`));
    expect(rules).toEqual(new Set(["shop.remote_address", "shop.endpoint_login.remote_address", "shop.path_/api/*", "shop.plan_free.user.action_export", "partners.api_key"]));
    // Going round its requests, warm-up also meets a tight limit's over-limit answer.
    expect(counted.some((event) => event.overLimit)).toBe(true);
    // Addresses from the documentation range only.
    for (const request of requests) for (const { entries } of request.descriptors!) for (const entry of entries!) if (entry.key === "remote_address") expect(entry.value).toMatch(/^203\.0\.113\./);
  });
});
