import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";
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
