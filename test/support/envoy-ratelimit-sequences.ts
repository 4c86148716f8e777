/**
 * The request sequences of envoyproxy/ratelimit's own integration tests
 * (test/integration/integration_test.go) and example scripts (integration-test/scripts/*.sh),
 * written out as ShouldRateLimit calls: the scripts' HTTP requests as the descriptors its example
 * Envoy (examples/envoy/proxy.yaml) sends for them. Each step carries the answer that project
 * gives, so one sequence serves both the replay against Palisade alone (`expect` checked) and
 * the side-by-side run against the reference service (answers compared).
 */
import type { EnvoyRateLimitRequest, EnvoyRateLimitResponse } from "./envoy-ratelimit-client.js";

export type Unit = "SECOND" | "MINUTE" | "HOUR" | "DAY";
/** A status as that project's tests write it: code, limit, unit, remaining (and the limit's name); or no limit / unlimited. */
export type ExpectedStatus = readonly ["OK" | "OVER_LIMIT", number, Unit, number, string?] | "no limit" | "unlimited";

export interface Expected {
  overall: "OK" | "OVER_LIMIT";
  statuses: readonly ExpectedStatus[];
  /** Checked when given: Palisade's x-ratelimit-* headers, as that project sends them. */
  headers?: readonly [string, string][];
}

export interface SequenceRunner {
  /** Sends one request; checks it (replay) or compares it with the reference (side by side). */
  ask(request: EnvoyRateLimitRequest, expected?: Expected): Promise<EnvoyRateLimitResponse>;
  /** Lets time pass; false when the runner cannot wait that long (the sequence then ends). */
  advance(ms: number): Promise<boolean>;
}

export interface Sequence {
  name: string;
  /** Which upstream configuration it runs on. */
  config: "integration" | "examples";
  stopIncrementWhenOverLimit?: boolean;
  /**
   * Set where the Go module proxy's reference predates the behaviour, with why; such sequences
   * are compared but their differences are expected.
   */
  referenceDiffers?: string;
  run(runner: SequenceRunner): Promise<void>;
}

const request = (domain: string, ...descriptors: (readonly [string, string][])[]): EnvoyRateLimitRequest => ({
  domain,
  descriptors: descriptors.map((pairs) => ({ entries: pairs.map(([key, value]) => ({ key, value })) })),
});

const ok = (limit: number, unit: Unit, remaining: number, name?: string): ExpectedStatus => ["OK", limit, unit, remaining, name];
const over = (limit: number, unit: Unit, name?: string): ExpectedStatus => ["OVER_LIMIT", limit, unit, 0, name];

/** testBasicBaseConfig: unknown domain, one per-second limit, then minute and hour limits side by side. */
function basicConfig(stopIncrementWhenOverLimit: boolean): Sequence {
  return {
    name: `integration_test.go testBasicConfig${stopIncrementWhenOverLimit ? " (STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT)" : ""}`,
    config: "integration",
    stopIncrementWhenOverLimit,
    async run({ ask, advance }) {
      const run = stopIncrementWhenOverLimit ? "stop" : "count";
      await ask(request("foo", [["hello", "world"]]), { overall: "OK", statuses: ["no limit"] });
      await ask(request("basic", [["key1", "foo"]]), { overall: "OK", statuses: [ok(50, "SECOND", 49)] });
      for (let i = 0; i < 25; i++) {
        const allowed = i < 20;
        await ask(request("another", [["key2", `${run}-1`]]), {
          overall: allowed ? "OK" : "OVER_LIMIT",
          statuses: [allowed ? ok(20, "MINUTE", 19 - i) : over(20, "MINUTE")],
        });
      }
      for (let i = 0; i < 15; i++) {
        const allowed = i < 10;
        // Over the hour limit, the minute counter stops at 10 when only the keys going over are counted.
        const minuteRemaining = !allowed && stopIncrementWhenOverLimit ? 10 : 19 - i;
        await ask(request("another", [["key2", `${run}-2`]], [["key3", `${run}-2`]]), {
          overall: allowed ? "OK" : "OVER_LIMIT",
          statuses: [ok(20, "MINUTE", minuteRemaining), allowed ? ok(10, "HOUR", 9 - i) : over(10, "HOUR")],
          headers: allowed ? undefined : [["x-ratelimit-limit", "10"], ["x-ratelimit-remaining", "0"]],
        });
      }
      const first = await ask(request("another", [["key4", `${run}-durTest`]]), { overall: "OK", statuses: [ok(20, "DAY", 19)] });
      if (!(await advance(2_000))) return;
      const second = await ask(request("another", [["key4", `${run}-durTest`]]), { overall: "OK", statuses: [ok(20, "DAY", 18)] });
      const seconds = (response: EnvoyRateLimitResponse) => Number(response.statuses[0]?.duration_until_reset?.seconds);
      if (!(seconds(second) < seconds(first))) throw new Error(`duration_until_reset did not tick down: ${seconds(first)} then ${seconds(second)}`);
    },
  };
}

/** testShareThreshold: values matching a shared wildcard count together; others each alone. */
const shareThreshold: Sequence = {
  name: "integration_test.go testShareThreshold",
  config: "integration",
  async run({ ask }) {
    const domain = "share-threshold-test";
    for (let i = 0; i < 10; i++) await ask(request(domain, [["files", "files/a.pdf"]]), { overall: "OK", statuses: [ok(10, "HOUR", 9 - i)] });
    await ask(request(domain, [["files", "files/b.csv"]]), { overall: "OVER_LIMIT", statuses: [over(10, "HOUR")] });
    for (let i = 0; i < 10; i++) {
      await ask(request(domain, [["files_no_share", `files_no_share/${i}`]]), { overall: "OK", statuses: [ok(10, "HOUR", 9)] });
    }
  },
};

/** Envoy's descriptors for the example routes (examples/envoy/proxy.yaml), from request headers. */
function twoHeader(headers: Record<string, string>): [string, string][][] {
  return routeDescriptors(headers, [["foo", "bar"], ["foo", "baz"]]);
}
function fourHeader(headers: Record<string, string>): [string, string][][] {
  return routeDescriptors(headers, [["foo", "bar"], ["source_cluster", "destination_cluster"]]);
}
function fiveHeader(headers: Record<string, string>): [string, string][][] {
  return routeDescriptors(headers, [["foo", "bar"], ["source_cluster", "destination_cluster"], ["category"]]);
}

/** A request_headers action without its header drops the whole descriptor, as Envoy does. */
function routeDescriptors(headers: Record<string, string>, actions: string[][]): [string, string][][] {
  return actions.filter((names) => names.every((name) => headers[name] !== undefined)).map((names) => names.map((name) => [name, headers[name]!] as [string, string]));
}

const rl = (descriptors: [string, string][][]) => request("rl", ...descriptors);

const exampleScripts: Sequence = {
  name: "integration-test/scripts: simple-get, trigger-ratelimit, trigger-shadow-mode-key, value-included-in-stats-key-when-unspecified",
  config: "examples",
  async run({ ask }) {
    // simple-get.sh: foo: test, baz: shady (the shadow-mode limit, 3 per minute).
    await ask(rl(twoHeader({ foo: "test", baz: "shady" })), { overall: "OK", statuses: [ok(3, "MINUTE", 2)] });
    // trigger-ratelimit.sh: (foo: *), (baz: not-so-shady), 3 per minute.
    for (let i = 0; i < 5; i++) {
      await ask(rl(twoHeader({ foo: "pelle", baz: "not-so-shady" })), {
        overall: i < 3 ? "OK" : "OVER_LIMIT",
        statuses: [i < 3 ? ok(3, "MINUTE", 2 - i) : over(3, "MINUTE")],
      });
    }
    // trigger-shadow-mode-key.sh: the same limit in shadow mode answers OK, with 0 remaining once over.
    for (let i = 0; i < 6; i++) {
      await ask(rl(twoHeader({ foo: "pelle", baz: "shady" })), {
        overall: "OK",
        statuses: [i < 3 ? ok(3, "MINUTE", 2 - i) : ["OK", 3, "MINUTE", 0]],
        headers: i < 3 ? undefined : [["x-ratelimit-limit", "3"], ["x-ratelimit-remaining", "0"]],
      });
    }
    // value-included-in-stats-key-when-unspecified.sh: (unspec: *), detailed_metric, 2 per minute.
    for (let i = 0; i < 3; i++) {
      await ask(rl([[["unspec", "unspecified_value"]]]), { overall: i < 2 ? "OK" : "OVER_LIMIT", statuses: [i < 2 ? ok(2, "MINUTE", 1 - i) : over(2, "MINUTE")] });
    }
  },
};

/** replaces.sh: a limit named in another's `replaces` does not apply where both do. */
const replacesScript: Sequence = {
  name: "integration-test/scripts/replaces.sh",
  config: "examples",
  async run({ ask }) {
    const banned = { foo: "bkthomps", bar: "banned" };
    await ask(rl(twoHeader(banned)), { overall: "OVER_LIMIT", statuses: [over(0, "MINUTE", "banned_limit")] });
    await ask(rl(fourHeader({ ...banned, source_cluster: "proxy", destination_cluster: "mock" })), {
      overall: "OVER_LIMIT",
      statuses: [over(0, "MINUTE", "banned_limit"), ok(1, "MINUTE", 0)],
    });
    for (let i = 0; i < 3; i++) {
      await ask(rl(fourHeader({ ...banned, source_cluster: "proxy", destination_cluster: "override" })), {
        overall: i < 2 ? "OK" : "OVER_LIMIT",
        statuses: ["no limit", i < 2 ? ok(2, "MINUTE", 1 - i) : over(2, "MINUTE")],
      });
    }
    const mine = { foo: "my_foo", bar: "bkthomps", source_cluster: "proxy" };
    for (let i = 0; i < 3; i++) {
      await ask(rl(fourHeader({ ...mine, destination_cluster: "bkthomps" })), {
        overall: i < 2 ? "OK" : "OVER_LIMIT",
        statuses: ["no limit", i < 2 ? ok(2, "MINUTE", 1 - i) : over(2, "MINUTE")],
      });
    }
    // not_bkthomps matches no destination: the bkthomps limit (1 per minute) applies again.
    await ask(rl(fourHeader({ ...mine, destination_cluster: "not_bkthomps" })), { overall: "OK", statuses: [ok(1, "MINUTE", 0, "bkthomps"), "no limit"] });
    await ask(rl(fourHeader({ ...mine, destination_cluster: "not_bkthomps" })), { overall: "OVER_LIMIT", statuses: [over(1, "MINUTE", "bkthomps"), "no limit"] });
    await ask(rl(fourHeader({ ...mine, destination_cluster: "bkthomps" })), { overall: "OVER_LIMIT", statuses: ["no limit", over(2, "MINUTE")] });
    const account = { ...mine, destination_cluster: "fake", category: "account" };
    for (let i = 0; i < 5; i++) {
      await ask(rl(fiveHeader(account)), {
        overall: i < 4 ? "OK" : "OVER_LIMIT",
        statuses: ["no limit", "no limit", i < 4 ? ok(4, "MINUTE", 3 - i) : over(4, "MINUTE")],
      });
    }
    await ask(rl(twoHeader({ foo: "foo_2", bar: "bkthomps" })), { overall: "OK", statuses: [ok(1, "MINUTE", 0, "bkthomps")] });
    await ask(rl(twoHeader({ foo: "foo_2", bar: "bkthomps" })), { overall: "OVER_LIMIT", statuses: [over(1, "MINUTE", "bkthomps")] });
    const fake = { foo: "foo_3", bar: "bar_3", source_cluster: "proxy", destination_cluster: "fake" };
    for (let i = 0; i < 3; i++) {
      await ask(rl(fourHeader(fake)), {
        overall: i < 2 ? "OK" : "OVER_LIMIT",
        statuses: [ok(3, "MINUTE", 2 - i), i < 2 ? ok(2, "MINUTE", 1 - i, "fake_name") : over(2, "MINUTE", "fake_name")],
      });
    }
    await ask(rl(fiveHeader(account)), { overall: "OVER_LIMIT", statuses: ["no limit", "no limit", over(4, "MINUTE")] });
  },
};

const QUOTA_DIFFERS =
  "the module proxy's reference predates envoyproxy/ratelimit#1059: it rewrites an over-quota status to OK without a reset, and answers OK even when every quota is spent";

/** quota.sh: two quota_mode limits; the request is refused only once both are spent. */
const quotaScript: Sequence = {
  name: "integration-test/scripts/quota.sh",
  config: "examples",
  referenceDiffers: QUOTA_DIFFERS,
  async run({ ask, advance }) {
    const both = () => request("rl", [["service", "service_1"]], [["service", "service_2"]]);
    await ask(both(), { overall: "OK", statuses: [ok(1, "MINUTE", 0), ok(2, "MINUTE", 1)] });
    await ask(both(), { overall: "OK", statuses: [over(1, "MINUTE"), ok(2, "MINUTE", 0)] });
    await ask(both(), { overall: "OVER_LIMIT", statuses: [over(1, "MINUTE"), over(2, "MINUTE")] });
    if (!(await advance(60_000))) return;
    await ask(both(), { overall: "OK", statuses: [ok(1, "MINUTE", 0), ok(2, "MINUTE", 1)] });
  },
};

/** token-quota.sh: a check without hits on the way in, the hit counted when the response is done. */
const tokenQuotaScript: Sequence = {
  name: "integration-test/scripts/token-quota.sh",
  config: "examples",
  referenceDiffers: QUOTA_DIFFERS,
  async run({ ask }) {
    const withHits = (hits: number) => ({ domain: "rl", descriptors: [{ entries: [{ key: "service", value: "service_2" }], hits_addend: { value: hits } }] });
    for (let i = 0; i < 3; i++) {
      await ask(withHits(0), { overall: "OK", statuses: [ok(2, "MINUTE", 2 - i)] });
      await ask(withHits(1), { overall: i < 2 ? "OK" : "OVER_LIMIT", statuses: [i < 2 ? ok(2, "MINUTE", 1 - i) : over(2, "MINUTE")] });
    }
    await ask(withHits(0), { overall: "OVER_LIMIT", statuses: [over(2, "MINUTE")] });
  },
};

/**
 * multiservice-tokenquota.sh: the request checks both services' quotas; Envoy routes to the
 * service named in the metadata of the quotas that passed, and counts the hit there.
 */
const multiserviceScript: Sequence = {
  name: "integration-test/scripts/multiservice-tokenquota.sh",
  config: "examples",
  referenceDiffers: `${QUOTA_DIFFERS}; and it has no descriptor metadata (#1112) to route by`,
  async run({ ask }) {
    const check = () => ({
      domain: "rl",
      descriptors: ["service_1", "service_2"].map((value) => ({ entries: [{ key: "service", value }], hits_addend: { value: 0 } })),
    });
    const expectations: [Expected, string | undefined][] = [
      [{ overall: "OK", statuses: [ok(1, "MINUTE", 1), ok(2, "MINUTE", 2)] }, "service_1"],
      [{ overall: "OK", statuses: [ok(1, "MINUTE", 0), ok(2, "MINUTE", 2)] }, "service_1"],
      [{ overall: "OK", statuses: [over(1, "MINUTE"), ok(2, "MINUTE", 2)] }, "service_2"],
      [{ overall: "OK", statuses: [over(1, "MINUTE"), ok(2, "MINUTE", 1)] }, "service_2"],
      [{ overall: "OK", statuses: [over(1, "MINUTE"), ok(2, "MINUTE", 0)] }, "service_2"],
      [{ overall: "OVER_LIMIT", statuses: [over(1, "MINUTE"), over(2, "MINUTE")] }, undefined],
    ];
    for (const [expected, servedBy] of expectations) {
      const answer = await ask(check(), expected);
      const routed = serviceWithQuota(answer);
      if (routed !== servedBy) throw new Error(`routed to ${String(routed)}, expected ${String(servedBy)}`);
      if (answer.overall_code === "OK" && routed) {
        await ask({ domain: "rl", descriptors: [{ entries: [{ key: "service", value: routed }], hits_addend: { value: 1 } }] });
      }
    }
  },
};

/** `metadata.service_with_quota.name` of the answer's dynamic metadata, which the example Envoy routes by. */
export function serviceWithQuota(response: EnvoyRateLimitResponse): string | undefined {
  const fields = response.dynamic_metadata?.fields as Record<string, StructValue> | undefined;
  const name = fields?.metadata?.structValue?.fields?.service_with_quota?.structValue?.fields?.name;
  return name?.stringValue;
}

interface StructValue {
  stringValue?: string;
  structValue?: { fields?: Record<string, StructValue> };
}

export const SEQUENCES: readonly Sequence[] = [
  basicConfig(false),
  basicConfig(true),
  shareThreshold,
  exampleScripts,
  replacesScript,
  quotaScript,
  tokenQuotaScript,
  multiserviceScript,
];
