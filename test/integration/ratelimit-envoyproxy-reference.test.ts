import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyRateLimitClient, type EnvoyRateLimiter, type EnvoyRateLimitRequest, type EnvoyRateLimitResponse } from "../support/envoy-ratelimit-client.js";
import { checkWithReference, referenceMissing, referenceSkipped, startReference, REFERENCE_VERSION, type ReferenceService } from "../support/envoy-ratelimit-reference.js";
import { SEQUENCES, type Sequence } from "../support/envoy-ratelimit-sequences.js";
import {
  describeCase,
  EXAMPLES_CONFIG,
  INTEGRATION_RUNTIME,
  loadUpstreamCase,
  UPSTREAM_CONFIG_CASES,
  UPSTREAM_DATA,
  upstreamDir,
} from "../support/envoy-ratelimit-upstream.js";
import { sharedDataMissing } from "../support/shared-data.js";

/**
 * envoyproxy/ratelimit itself beside Palisade: the same configuration files judged by both, and
 * the same descriptor sequences sent to both (Palisade in `ratelimitCompat: envoyproxy`), answers
 * compared field by field. The reference is the newest version the Go module proxy serves; where
 * it predates a feature of that project's current sources, the difference is named here.
 */
const PREDATES_METADATA = "the reference predates descriptor metadata (envoyproxy/ratelimit#1112): `metadata` is an unknown key to it";
const REFERENCE_REFUSES: Record<string, string> = {
  [EXAMPLES_CONFIG]: PREDATES_METADATA,
  "test/config/metadata.yaml": PREDATES_METADATA,
  "test/config/share_threshold.yaml": "the reference predates share_threshold on stars inside a value (envoyproxy/ratelimit#1085)",
};

/** Where Palisade's own mode answers differently on purpose (docs/ratelimit.md has the table). */
const DELIBERATE: Record<string, string> = {
  "statuses.duration_until_reset": "to the millisecond, not whole seconds",
  "statuses.limit_remaining": "a denied request counts nothing, and over a limit the true remainder is reported",
  response_headers_to_add: "x-ratelimit-limit lists every limit as a quota policy; the reset is rounded up",
  dynamic_metadata: "Palisade's own metadata: domain, risk, degraded, shadow_over_limit",
};

/** Which fields of two comparable answers differ: top-level names, `statuses.<field>` inside statuses. */
function differingFields(ours: ReturnType<typeof comparable>, theirs: ReturnType<typeof comparable>): string[] {
  const differs = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  const fields = (["overall_code", "response_headers_to_add", "dynamic_metadata"] as const).filter((field) => differs(ours[field], theirs[field]));
  const statusFields = ours.statuses.flatMap((status, i) =>
    (Object.keys(status) as (keyof typeof status)[]).filter((field) => differs(status[field], theirs.statuses[i]?.[field])).map((field) => `statuses.${field}`),
  );
  return [...fields, ...statusFields];
}

/** Fields of the reference's dynamic metadata that its current sources no longer send. */
const OLD_METADATA_FIELDS = ["quotaModeEnabled", "quotaModeViolations"];

const skip = sharedDataMissing(UPSTREAM_DATA) ?? referenceSkipped;
const scratch: string[] = [];

describe.skipIf(skip)(`envoyproxy/ratelimit ${REFERENCE_VERSION} as a live reference`, () => {
  it("is installed (CI installs it; set PALISADE_SKIP_ENVOY_RATELIMIT=1 to skip on a machine without Go)", () => {
    expect(referenceMissing()).toBeUndefined();
  });

  describe.skipIf(referenceMissing())("configuration files", () => {
    it("loads or refuses each of that project's configurations as the reference does", async () => {
      const dir = upstreamDir!;
      const verdicts = await Promise.all(
        UPSTREAM_CONFIG_CASES.map(async (upstreamCase) => {
          const files = upstreamCase.paths.flatMap((path) => filesOf(join(dir, path)));
          const reference = await checkWithReference(files, { mergeDomains: upstreamCase.mergeDomains ?? false });
          const palisade = await loadUpstreamCase(dir, upstreamCase);
          const named = REFERENCE_REFUSES[upstreamCase.paths.join(" + ")];
          return { name: describeCase(upstreamCase), reference: reference.ok, palisade: palisade.ok, named, output: reference.output };
        }),
      );
      const same = verdicts.filter((v) => v.reference === v.palisade);
      const differing = verdicts.filter((v) => v.reference !== v.palisade);
      console.info(`[envoyproxy/ratelimit reference] ${same.length} of ${verdicts.length} configurations judged alike; differing, as named: ${differing.map((v) => v.name).join(", ")}`);
      // Every difference is one named above, where Palisade loads what only the current sources accept.
      expect(differing.map((v) => ({ name: v.name, palisade: v.palisade, named: v.named !== undefined }))).toEqual(
        differing.map((v) => ({ name: v.name, palisade: true, named: true })),
      );
      expect(differing.map((v) => v.name).sort()).toEqual(Object.keys(REFERENCE_REFUSES).sort());
    });
  });

  describe.skipIf(referenceMissing())("descriptor sequences", () => {
    let palisadeRedis: RedisServerHandle;
    let referenceRedis: RedisServerHandle;
    let flushers: Redis[] = [];
    const apps: App[] = [];
    const references: ReferenceService[] = [];
    const pairs = new Map<string, { palisade: EnvoyRateLimiter; reference: EnvoyRateLimiter }>();
    const tally = { identical: 0, total: 0, namedDifferences: 0, straddled: 0 };

    beforeAll(async () => {
      [palisadeRedis, referenceRedis] = await Promise.all([startRedisServer(), startRedisServer()]);
      flushers = [new Redis(palisadeRedis.url), new Redis(referenceRedis.url)];
    });

    afterAll(async () => {
      console.info(
        `[envoyproxy/ratelimit reference] ${tally.identical} of ${tally.total} answers identical; ${tally.namedDifferences} differ in sequences named as predating the reference; ` +
          `${tally.straddled} pairs straddled a second's edge (their resets not compared)`,
      );
      for (const { palisade, reference } of pairs.values()) [palisade, reference].forEach((client) => client.close());
      await Promise.all([...apps.map((app) => app.stop()), ...references.map((reference) => reference.stop())]);
      for (const flusher of flushers) flusher.disconnect();
      await Promise.all([palisadeRedis?.stop(), referenceRedis?.stop()]);
      for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
    });

    async function pairFor(sequence: Sequence) {
      const stop = sequence.stopIncrementWhenOverLimit ?? false;
      const key = `${sequence.config}/${stop}`;
      const known = pairs.get(key);
      if (known) return known;
      const inPlace = join(upstreamDir!, sequence.config === "examples" ? EXAMPLES_CONFIG : INTEGRATION_RUNTIME);
      // Palisade reads the files unchanged; the reference gets the examples without the metadata it cannot read.
      const runtimeDir = sequence.config === "examples" ? examplesWithoutMetadata() : inPlace;
      const reference = await startReference({ runtimeDir, redisAddress: `127.0.0.1:${referenceRedis.port}`, stopIncrementWhenOverLimit: stop });
      references.push(reference);
      const app = await startTestApp({ redisUrl: palisadeRedis.url, ratelimitConfig: inPlace, ratelimitCompat: "envoyproxy", ratelimitStopIncrementWhenOverLimit: stop });
      apps.push(app);
      const pair = { palisade: envoyRateLimitClient(`127.0.0.1:${app.grpcPort}`, { ours: true }), reference: envoyRateLimitClient(reference.grpcAddress, { ours: true }) };
      pairs.set(key, pair);
      return pair;
    }

    it("differs from Palisade's own mode only where docs/ratelimit.md says it does, on purpose", async () => {
      const sequence = SEQUENCES.find((candidate) => candidate.config === "examples" && !candidate.referenceDiffers)!;
      const { reference } = await pairFor(sequence);
      const ownMode = await startTestApp({ redisUrl: palisadeRedis.url, ratelimitConfig: join(upstreamDir!, EXAMPLES_CONFIG) });
      apps.push(ownMode);
      const palisade = envoyRateLimitClient(`127.0.0.1:${ownMode.grpcPort}`, { ours: true });
      await Promise.all(flushers.map((flusher) => flusher.flushall()));
      const seen = new Set<string>();
      await sequence.run({
        ask: async (request) => {
          const { answers } = await bothAtOnce({ palisade, reference }, request);
          const [ours, theirs] = [comparable(answers[0], [], false), comparable(answers[1], OLD_METADATA_FIELDS, false)];
          for (const field of differingFields(ours, theirs)) seen.add(field);
          return answers[0];
        },
        advance: async () => false,
      });
      palisade.close();
      const unnamed = [...seen].filter((field) => !(field in DELIBERATE));
      expect(unnamed, `differences not named as deliberate: ${unnamed.join(", ")}`).toEqual([]);
      console.info(`[envoyproxy/ratelimit reference] Palisade's own mode differs, as named, in: ${[...seen].map((field) => `${field} (${DELIBERATE[field]})`).join("; ")}`);
    });

    it.each(SEQUENCES.map((sequence) => [sequence.name, sequence] as const))("%s", async (_, sequence) => {
      const pair = await pairFor(sequence);
      await Promise.all(flushers.map((flusher) => flusher.flushall()));
      const differences: string[] = [];
      await sequence.run({
        ask: async (request) => {
          const { answers, straddled } = await bothAtOnce(pair, request);
          const [palisade, reference] = answers;
          tally.total++;
          if (straddled) tally.straddled++;
          const ours = comparable(palisade, [], straddled);
          const theirs = comparable(reference, OLD_METADATA_FIELDS, straddled);
          if (JSON.stringify(ours) === JSON.stringify(theirs)) tally.identical++;
          else differences.push(`${JSON.stringify(request)}: palisade ${JSON.stringify(ours)}, reference ${JSON.stringify(theirs)}`);
          return palisade;
        },
        // The reference runs on the wall clock: a short wait is real, a minute's is skipped.
        advance: async (ms) => ms < 2_000 && (await new Promise((resolve) => setTimeout(resolve, ms)), true),
      });
      if (sequence.referenceDiffers) {
        tally.namedDifferences += differences.length;
        expect(differences.length, sequence.referenceDiffers).toBeGreaterThan(0);
      } else {
        expect(differences).toEqual([]);
      }
    });
  });
});

/** The files a case loads: a directory's YAML files (config/ for the runtime layout), or the file. */
function filesOf(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  const dir = readdirSync(path).includes("config") ? join(path, "config") : path;
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => join(dir, name));
}

/** A scratch runtime directory with the example files, `metadata` taken out for the reference's sake. */
function examplesWithoutMetadata(): string {
  const runtime = join(mkdtempSync(join(tmpdir(), "palisade-envoy-examples-")), "ratelimit");
  scratch.push(join(runtime, ".."));
  mkdirSync(join(runtime, "config"), { recursive: true });
  for (const file of filesOf(join(upstreamDir!, EXAMPLES_CONFIG))) {
    const document = parse(readFileSync(file, "utf8")) as unknown;
    writeFileSync(join(runtime, "config", file.split("/").pop()!), stringify(withoutKey(document, "metadata")));
  }
  return runtime;
}

function withoutKey(value: unknown, key: string): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutKey(item, key));
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([name]) => name !== key).map(([name, inner]) => [name, withoutKey(inner, key)]));
}

/**
 * Sends one request to both at the same moment, away from a second's edge, so that the whole
 * seconds of duration_until_reset are the same second for both. On a loaded machine a pair can
 * still straddle an edge: that is reported, and its resets are then not compared.
 */
async function bothAtOnce(pair: { palisade: EnvoyRateLimiter; reference: EnvoyRateLimiter }, request: EnvoyRateLimitRequest) {
  const intoSecond = Date.now() % 1000;
  if (intoSecond > 850) await new Promise((resolve) => setTimeout(resolve, 1010 - intoSecond));
  const sentAt = Math.floor(Date.now() / 1000);
  const answers = await Promise.all([pair.palisade.shouldRateLimit(request), pair.reference.shouldRateLimit(request)]);
  return { answers, straddled: Math.floor(Date.now() / 1000) !== sentAt };
}

/** Every field of the answer, in one order; `dropped` metadata fields are left out, and the resets when `retimed`. */
function comparable(response: EnvoyRateLimitResponse, dropped: readonly string[], retimed: boolean) {
  const metadata = { ...(response.dynamic_metadata?.fields ?? {}) } as Record<string, unknown>;
  for (const field of dropped) delete metadata[field];
  return {
    overall_code: response.overall_code,
    statuses: response.statuses.map(({ code, current_limit, limit_remaining, duration_until_reset }) => ({
      code,
      current_limit: current_limit && { name: current_limit.name, requests_per_unit: current_limit.requests_per_unit, unit: current_limit.unit },
      limit_remaining,
      duration_until_reset: duration_until_reset && { seconds: retimed ? "retimed" : Number(duration_until_reset.seconds), nanos: duration_until_reset.nanos },
    })),
    response_headers_to_add: response.response_headers_to_add.map(({ key, value }) => [key, retimed && key === "x-ratelimit-reset" ? "retimed" : value]),
    dynamic_metadata: sortKeys(metadata),
  };
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([key, inner]) => [key, sortKeys(inner)]));
}
