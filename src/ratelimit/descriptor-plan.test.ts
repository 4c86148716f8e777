import { describe, expect, it } from "vitest";
import { parseDomainFile } from "./config-loader.js";
import { applyReplaces, MAX_REMEMBERED_VALUE, MAX_TUPLE_NODES, planDescriptor, type Plan } from "./descriptor-plan.js";
import { MAX_HITS, type RateLimitDescriptor } from "./request.js";

/**
 * What one descriptor is planned against, before anything is counted: the limiter's suites
 * reach this through counters and Envoy's answers; here the plan itself is checked, so each
 * part of it (counter, cost, risk, modes, replaces) is pinned by a case of its own.
 */
const DOMAIN = parseDomainFile(
  `
domain: plan
descriptors:
  - key: files
    value: files/*
    share_threshold: true
    rate_limit: { unit: minute, requests_per_unit: 3 }
  - key: api
    descriptors:
      - key: path
        value: /v1/*
        share_threshold: true
        rate_limit: { unit: minute, requests_per_unit: 5 }
  - key: search
    rate_limit: { unit: minute, requests_per_unit: 10, risk_floor: 0.5 }
  - key: ip
    rate_limit: { unit: minute, requests_per_unit: 6 }
  - key: shadow
    shadow_mode: true
    quota_mode: true
    metadata: { tier: gold }
    rate_limit: { unit: hour, requests_per_unit: 2, unit_multiplier: 2 }
  - key: open
    rate_limit: { unlimited: true, name: open-door }
  - key: tier
    value: premium
    rate_limit: { unit: minute, requests_per_unit: 4, name: premium, replaces: [{ name: per-user }] }
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 2, name: per-user }
`,
  "plan.yaml",
)!;

/** The identity itself as the store entity, so a test can read what a counter is keyed by. */
const plain = (identity: string) => identity;
const d = (...pairs: [string, string][]): RateLimitDescriptor => ({ entries: pairs.map(([key, value]) => ({ key, value })) });
const plan = (descriptor: RateLimitDescriptor, requestHits = 1) => planDescriptor(DOMAIN, descriptor, requestHits, plain);
const limited = (p: Plan) => {
  if (p.kind !== "limited") throw new Error(`expected a limited plan, got ${p.kind}`);
  return p;
};

describe("planDescriptor", () => {
  it("names a tuple's counter by the pseudonym given now: after a key rotation, by the new one", () => {
    let key = "old";
    const rotating = (identity: string) => `${key}(${identity})`;
    const entityOf = (...pairs: [string, string][]) => limited(planDescriptor(DOMAIN, d(...pairs), 1, rotating)).entity;
    const identity = JSON.stringify(["plan", "ip", "10.0.0.9"]);
    expect(entityOf(["ip", "10.0.0.9"])).toBe(`rl.old(${identity})`);
    expect(entityOf(["ip", "10.0.0.9"])).toBe(`rl.old(${identity})`);
    key = "new";
    expect(entityOf(["ip", "10.0.0.9"])).toBe(`rl.new(${identity})`);
    expect(entityOf(["api", "v1"], ["path", "/v1/x"])).toBe(`rl.new(${JSON.stringify(["plan", "api", "v1", "path", "/v1/*"])})`);
  });

  it("names every tuple alike past the memo's bounds: more tuples than it holds, values too long to keep", () => {
    const pseudonymised: string[] = [];
    const recording = (identity: string) => {
      pseudonymised.push(identity);
      return identity;
    };
    for (let i = 0; i <= MAX_TUPLE_NODES; i++) {
      const address = `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
      expect(limited(planDescriptor(DOMAIN, d(["ip", address]), 1, recording)).entity).toBe(`rl.${JSON.stringify(["plan", "ip", address])}`);
    }
    expect(limited(planDescriptor(DOMAIN, d(["ip", "10.0.0.0"]), 1, recording)).entity).toBe(`rl.${JSON.stringify(["plan", "ip", "10.0.0.0"])}`);
    const long = "x".repeat(MAX_REMEMBERED_VALUE + 1);
    expect(limited(planDescriptor(DOMAIN, d(["ip", long]), 1, recording)).entity).toBe(`rl.${JSON.stringify(["plan", "ip", long])}`);
    expect(pseudonymised).toHaveLength(MAX_TUPLE_NODES + 3);
  });

  it("keys a counter by the domain and every entry, through the pseudonymiser, one counter per window", () => {
    const p = limited(plan(d(["ip", "10.0.0.1"])));
    expect(p.entity).toBe(`rl.${JSON.stringify(["plan", "ip", "10.0.0.1"])}`);
    expect(p.windows).toEqual([
      { window: expect.objectContaining({ role: "limit", requestsPerUnit: 6, windowMs: 60_000 }), limit: 6, counterSuffix: "/limit/60000/fixed" },
    ]);
    expect(limited(planDescriptor(DOMAIN, d(["ip", "10.0.0.1"]), 1, (identity) => `h(${identity.length})`)).entity).toBe(`rl.h(${JSON.stringify(["plan", "ip", "10.0.0.1"]).length})`);
    expect(p).toMatchObject({ statsKey: "ip", rollupStatsKey: "ip", shadowMode: false, quotaMode: false, hits: 1 });
    expect(p).not.toHaveProperty("metadata");
    expect(p).not.toHaveProperty("risk");
    expect(p).not.toHaveProperty("ruleName");
  });

  it("counts every value a share_threshold wildcard matches under the pattern, and other values as sent", () => {
    const a = limited(plan(d(["files", "files/a.pdf"])));
    const b = limited(plan(d(["files", "files/b.pdf"])));
    expect(a.entity).toBe(`rl.${JSON.stringify(["plan", "files", "files/*"])}`);
    expect(b.entity).toBe(a.entity);
    // Nested: the level that matched by key alone keeps its value; the shared level counts as its pattern.
    const nested = limited(plan(d(["api", "k1"], ["path", "/v1/users"])));
    expect(nested.entity).toBe(`rl.${JSON.stringify(["plan", "api", "k1", "path", "/v1/*"])}`);
    expect(limited(plan(d(["api", "k2"], ["path", "/v1/orders"]))).entity).toBe(`rl.${JSON.stringify(["plan", "api", "k2", "path", "/v1/*"])}`);
  });

  it("takes a mode, metadata and a window length from the configured descriptor", () => {
    const p = limited(plan(d(["shadow", "x"])));
    expect(p).toMatchObject({ shadowMode: true, quotaMode: true, metadata: { tier: "gold" } });
    expect(p.windows.map((w) => w.counterSuffix)).toEqual(["/limit/7200000/fixed"]);
  });

  it("keeps a limit Envoy sends out of shadow and quota mode and counts it on an hourly fixed window of its own", () => {
    const p = limited(plan({ ...d(["shadow", "x"]), limit: { requestsPerUnit: 9, unit: "hour" } }));
    expect(p).toMatchObject({ shadowMode: false, quotaMode: false, replaces: [] });
    expect(p).not.toHaveProperty("metadata");
    expect(p).not.toHaveProperty("ruleName");
    expect(p.windows).toEqual([
      {
        window: { role: "limit", requestsPerUnit: 9, unit: "hour", unitMultiplier: 1, windowMs: 3_600_000, algorithm: "fixed" },
        limit: 9,
        counterSuffix: "/limit/3600000/fixed",
      },
    ]);
    // A descriptor nothing configured is still limited when Envoy sends the limit; its statistics name its keys.
    const unmatched = limited(plan({ ...d(["nothing", "here"], ["more", "x"]), limit: { requestsPerUnit: 1, unit: "second" } }));
    expect(unmatched).toMatchObject({ statsKey: "nothing.more", rollupStatsKey: "nothing.more" });
    expect(unmatched.windows[0]?.window.windowMs).toBe(1_000);
  });

  it("plans nothing for an unmatched descriptor, and an unlimited one with its name and statistics", () => {
    expect(plan(d(["nothing", "here"]))).toEqual({ kind: "none" });
    expect(plan(d(["open", "x"]), 3)).toEqual({ kind: "unlimited", hits: 3, ruleName: "open-door", replaces: [], statsKey: "open", rollupStatsKey: "open" });
  });

  it("scales a limit with a risk floor by the highest readable risk entry, which is not a counter entry", () => {
    const calm = limited(plan(d(["search", "q"])));
    expect(calm.windows[0]?.limit).toBe(10);
    const risky = limited(plan(d(["search", "q"], ["palisade_risk", "20"], ["palisade_risk", "100"], ["palisade_risk", "high"])));
    expect(risky.risk).toBe(100);
    expect(risky.windows[0]?.limit).toBe(5);
    expect(risky.entity).toBe(calm.entity);
    expect(limited(plan(d(["search", "q"], ["palisade_risk", "50"]))).windows[0]?.limit).toBe(7);
    // Unreadable risk only: no risk at all, the whole limit.
    const unreadable = limited(plan(d(["search", "q"], ["palisade_risk", "high"])));
    expect(unreadable).not.toHaveProperty("risk");
    expect(unreadable.windows[0]?.limit).toBe(10);
    // No risk floor: the risk is recorded but the limit stays whole.
    const ip = limited(plan(d(["ip", "10.0.0.2"], ["palisade_risk", "100"])));
    expect(ip.risk).toBe(100);
    expect(ip.windows[0]?.limit).toBe(6);
  });

  it("costs the descriptor's hits when Envoy set them, else the request's, a whole number within bounds", () => {
    const hits = (descriptorHits: number | undefined, requestHits: number) =>
      limited(planDescriptor(DOMAIN, { ...d(["ip", "10.0.0.3"]), ...(descriptorHits === undefined ? {} : { hits: descriptorHits }) }, requestHits, plain)).hits;
    expect(hits(undefined, 0)).toBe(1);
    expect(hits(undefined, 4)).toBe(4);
    expect(hits(0, 4)).toBe(0);
    expect(hits(7, 4)).toBe(7);
    expect(hits(2.9, 1)).toBe(2);
    expect(hits(-1, 1)).toBe(1);
    expect(hits(Number.NaN, 1)).toBe(1);
    expect(hits(Number.POSITIVE_INFINITY, 1)).toBe(1);
    expect(hits(MAX_HITS + 10, 1)).toBe(MAX_HITS);
    expect(hits(MAX_HITS, 1)).toBe(MAX_HITS);
  });
});

describe("applyReplaces", () => {
  it("drops a named limit another limit of the request replaces, and keeps everything else as it was", () => {
    const premium = plan(d(["tier", "premium"]));
    const perUser = plan(d(["user", "u1"]));
    const ip = plan(d(["ip", "10.0.0.4"]));
    const none = plan(d(["nothing", "x"]));
    expect(applyReplaces([premium, perUser, ip, none])).toEqual([premium, { kind: "none" }, ip, none]);
    // Without the replacing limit, the same plans are returned untouched.
    const plans = [perUser, ip, none];
    expect(applyReplaces(plans)).toBe(plans);
    // An unnamed limit is never replaced, even beside a replacing one.
    expect(applyReplaces([premium, ip])).toEqual([premium, ip]);
  });
});
