/**
 * Warm before ready: a cold process answers its first Checks in tens of milliseconds (V8 has
 * not compiled the hot path, protobuf codecs and CEL programs run for the first time), a warm
 * one in a few. `startApp` runs these warm-up decisions before it opens any port, so neither
 * gRPC health nor /readyz can report ready while the first real Check would still be slow.
 *
 * The decisions run the whole Check path — protobuf bytes decoded as the gRPC server decodes
 * them, the converter, the pipeline on the policy in force, the response engine's responder, the
 * response encoded — with fresh detection state: most on a private in-memory store, the last
 * few on the real store (its connection, scripts, fallback) under entities prefixed `warm-up/`,
 * so no counter, baseline or site-wide figure of the real service sees them; those keys expire
 * with their windows. The last of them go through a gRPC server of their own on loopback, wired
 * as the real one is, so grpc-js's server path and the service around the pipeline run too,
 * challenges included (issued with a key of warm-up's own, sent to no one), and, when a
 * rate-limit configuration is set, ShouldRateLimit on descriptors it declares (counters under
 * `warm-up/` too).
 * Clients come from the documentation address ranges (RFC 5737, RFC 3849) with usernames
 * under example.invalid. No metric, audit record or log line of the service counts them
 * (test/integration/warm-up.test.ts compares a start with and without warm-up).
 */
import cluster from "node:cluster";
import { randomInt } from "node:crypto";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Challenges } from "../challenge/challenges.js";
import { loadChallengeKey } from "../challenge/keys.js";
import type { Clock } from "../domain/clock.js";
import type { Settings } from "../settings/settings.js";
import { ResponseEngine } from "../response/engine.js";
import { MemorySharedBackend } from "../state/shared-backend.js";
import { MemoryStore } from "../state/memory-store.js";
import { NamespacedStore } from "../state/namespaced-store.js";
import type { Store } from "../state/store.js";
import type { Pipeline } from "../pipeline/pipeline.js";
import type { RateLimitConfigSource } from "../ratelimit/config-source.js";
import type { DescriptorLevel, RateLimitConfig } from "../ratelimit/config.js";
import { createLogger } from "../telemetry/logger.js";
import { createMetrics } from "../telemetry/metrics.js";
import { toAccessLogRecord } from "../transport/grpc/accesslog/converter.js";
import { encodeCheckResponse } from "../transport/grpc/authz/check-response-encoder.js";
import { toHttpAttributes } from "../transport/grpc/authz/converter.js";
import { loopbackClient, type LoopbackClient } from "../transport/grpc/loopback.js";
import { palisadeServices, type RateLimitRequest } from "../transport/grpc/protos.js";
import { withHandEncodedResponses } from "../transport/grpc/ratelimit/response-encoder.js";
import type { DecisionCore } from "./decision-core.js";
import { createEnvoyServer } from "./grpc.js";

/** Enough rounds for V8 to optimise the hot functions (it tiers up after some hundreds of calls). */
export const WARM_UP_DECISIONS = 600;
/** Then each request shape twice on the real store: loads its scripts and runs its code once. */
const STORE_ROUNDS = 2;
/**
 * Then Checks through the gRPC server's own code, over a loopback connection, on the real store
 * (under `warm-up/`). Without them the first real Check paid 11–14 ms of main-thread CPU, three
 * to four times a later one, for grpc-js's and Node's HTTP/2 server path, the decision observer
 * and the responder running for the first time (bench/first-checks-cpu.ts). 50 took that to
 * about 4 ms; 120 and 300 did no better and cost 0.2 and 0.5 s more CPU before ready.
 */
export const GRPC_WARM_UP_CHECKS = 50;
/**
 * Of those, every fifth is answered with a challenge, issued by a built-in challenge of warm-up's
 * own: the first challenge of a start otherwise ran its code (altcha, Web Crypto, the page) for
 * the first time on a real client's Check, the costliest of the first hundred.
 */
export const GRPC_CHALLENGE_EVERY = 5;
/**
 * Then, when a rate-limit configuration is set, ShouldRateLimit calls through the same server on
 * descriptors the configuration declares: without them the limiter, its store script and the
 * service's encoder ran for the first time on the first real call, which cost the server 2.9–3.7
 * ms of main-thread CPU against 1.0–1.3 for the 91st–110th (bench/first-check-split.ts,
 * BENCH_SPLIT_RATELIMIT=1; BENCHMARKS.md, branch firstcheck).
 */
export const GRPC_RATE_LIMIT_CALLS = 50;
/** Descriptors per ShouldRateLimit: Envoy sends one per matching route rate limit, a handful. */
const DESCRIPTORS_PER_CALL = 3;
/** How deep warm-up follows nested descriptors: deep enough for every configuration seen so far. */
const DESCRIPTOR_DEPTH = 4;
/** Several calls at once on the one connection, as Envoy sends them. */
const GRPC_IN_FLIGHT = 8;
/** A warm-up Check not answered by then ends the gRPC warm-up: readiness never waits on a stall. */
const GRPC_DEADLINE_MS = 5_000;

const BROWSER = {
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "text/html,application/json",
  "accept-language": "en",
  "accept-encoding": "gzip",
  cookie: "sid=warm-up",
};

/** Request shapes most policies declare: pages, assets, APIs, JSON and form logins, token refresh. */
const SHAPES: { method: string; path: string; contentType?: string; body?: (i: number) => string }[] = [
  { method: "GET", path: "/" },
  { method: "GET", path: "/static/app.js" },
  { method: "GET", path: "/api/v1/products/17" },
  { method: "GET", path: "/api/v1/search?q=warm" },
  ...["/login", "/api/login", "/api/v1/login", "/signin", "/account/login"].map((path) => ({
    method: "POST",
    path,
    contentType: "application/json",
    body: (i: number) => JSON.stringify({ username: `warm-up-${i % 50}@example.invalid`, password: `warm-up-${i}` }),
  })),
  { method: "POST", path: "/oauth/token", contentType: "application/x-www-form-urlencoded", body: (i) => `grant_type=refresh_token&refresh_token=warm-up-${i % 50}` },
];

export interface WarmUpReport {
  decisions: number;
  /** Of which answered through a loopback gRPC server. */
  grpcChecks: number;
  /** Of those, how many were answered with a challenge issued by warm-up's built-in challenge. */
  grpcChallenges: number;
  /** ShouldRateLimit calls answered through the same server (none without a rate-limit configuration). */
  grpcRateLimitCalls: number;
  /** Why the gRPC part stopped early (it did not stop the start). */
  grpcError?: string;
  ms: number;
  /** The full garbage collection between the in-process decisions and the gRPC Checks (included in ms). */
  gcMs: number;
  /** CPU time of the whole process (all threads) meanwhile: what readiness waited for, on a busy machine too. */
  cpuMs: number;
}

export async function warmUp(core: DecisionCore, settings: Settings, clock: Clock, decisions = WARM_UP_DECISIONS, rateLimitConfig?: RateLimitConfigSource): Promise<WarmUpReport> {
  if (decisions === 0) return { decisions: 0, grpcChecks: 0, grpcChallenges: 0, grpcRateLimitCalls: 0, ms: 0, gcMs: 0, cpuMs: 0 };
  const started = performance.now();
  const cpu = process.cpuUsage();
  const real = new NamespacedStore(core.stores.store, "warm-up/");
  const engine = await throwawayEngine(core, settings, clock, real);
  const memory = new MemoryStore();
  try {
    await run(core, settings, clock, core.pipelineOn(memory, engine.responder), 0, decisions);
    await run(core, settings, clock, core.pipelineOn(real, engine.responder), decisions, SHAPES.length * STORE_ROUNDS);
    const gcMs = collectGarbage();
    const grpc = await runThroughGrpc(core, settings, clock, core.pipelineOn(real, engine.responder), real, rateLimitConfig, decisions + SHAPES.length * STORE_ROUNDS);
    warmCodecs(clock.now());
    const { user, system } = process.cpuUsage(cpu);
    return {
      decisions: decisions + SHAPES.length * STORE_ROUNDS + grpc.answered,
      grpcChecks: grpc.answered,
      grpcChallenges: grpc.challenged,
      grpcRateLimitCalls: grpc.rateLimited,
      ...(grpc.error === undefined ? {} : { grpcError: grpc.error }),
      ms: Math.round(performance.now() - started),
      gcMs,
      cpuMs: Math.round((user + system) / 1000),
    };
  } finally {
    await memory.close();
    await engine.stop();
  }
}

/**
 * The in-process decisions leave tens of megabytes of garbage, most of it promoted to the old
 * generation (a start's heap was about 90 MB at ready and 57 MB after its next full collection).
 * Left alone, V8 collects it in the first seconds of serving: incremental marking steps of up to
 * 45 ms on the main thread (--trace-gc). Collected before any port opens, that pause falls on no
 * Check; collected before the gRPC Checks rather than after them, the first real Check cost 3.3
 * instead of 3.8 ms of CPU (median of 8 starts, bench/first-checks-cpu.ts), the gRPC Checks
 * running once more whatever the collection left colder. `gc` is not a global without
 * --expose-gc; the flag is turned on just long enough to take the function from a new context.
 */
function collectGarbage(): number {
  const started = performance.now();
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  setFlagsFromString("--no-expose-gc");
  gc();
  return Math.round(performance.now() - started);
}

/** Drops what it is given: the log of everything warm-up runs. */
const discard = { write: () => {} };

/**
 * A response engine of warm-up's own, so that the responder's code (decision counts, flagged
 * decisions, anomalies, records and quarantines) runs before the first real Check: its shared
 * state is in memory and dropped afterwards, its offences go to the warm-up namespace, and it
 * reads the policy in force through a view that can neither override it nor follow its reloads.
 */
function throwawayEngine(core: DecisionCore, settings: Settings, clock: Clock, store: Store): Promise<ResponseEngine> {
  const source = core.policy;
  return ResponseEngine.start({
    backend: new MemorySharedBackend({ clock: () => clock.now() }),
    store,
    source: {
      current: () => source.current(),
      filePolicy: () => source.filePolicy(),
      fileSnapshot: () => source.fileSnapshot(),
      setOverride: () => {},
      onFileChange: () => () => {},
    },
    log: createLogger({ level: settings.logLevel, destination: discard }),
    clock: () => clock.now(),
    budgetMs: settings.storeTimeout,
  });
}

/**
 * The Check path as the real server runs it: a server wired by the same createEnvoyServer on a
 * loopback address and a port of the system's choosing, closed again before the real one opens. What it
 * decides goes nowhere a user looks: its store is the warm-up namespace, its pipeline's
 * responder is warm-up's throwaway engine (shared state in memory, dropped afterwards), its
 * built-in challenge has a random key of its own and tells only warm-up's count, its metrics are a
 * registry of its own that nothing serves, and its log lines are dropped.
 */
/**
 * In a cluster worker, a loopback address of this worker's own: there every listen on one host
 * and port 0 shares a single port through the primary, so a worker still warming up sent some
 * of its Checks to another worker's real server (logged and counted there when that one listens
 * on 127.0.0.1:0, as tests do) or warm-up server. All of 127.0.0.0/8 is loopback on Linux.
 */
function warmUpHost(): string {
  return cluster.isWorker ? `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}` : "127.0.0.1";
}

async function runThroughGrpc(
  core: DecisionCore,
  settings: Settings,
  clock: Clock,
  pipeline: Pipeline,
  store: Store,
  rateLimitConfig: RateLimitConfigSource | undefined,
  from: number,
): Promise<{ answered: number; challenged: number; rateLimited: number; error?: string }> {
  const host = warmUpHost();
  // Without a key file loadChallengeKey makes a random key, as a start without one does.
  const { keys } = await loadChallengeKey(undefined);
  let challenged = 0;
  const server = createEnvoyServer({
    settings: { ...settings, grpcHost: host, grpcPort: 0 },
    core: {
      pipeline: challengingSome(pipeline),
      policy: core.policy,
      outcomes: core.outcomes,
      stores: { ...core.stores, store },
      pseudonymiser: core.pseudonymiser,
      challenges: new Challenges({ keys, store, clock: () => clock.now(), observer: { issued: () => challenged++ } }),
    },
    ...(rateLimitConfig ? { rateLimitConfig } : {}),
    clock,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: createLogger({ level: settings.logLevel, destination: discard }),
  });
  let client: LoopbackClient | undefined;
  let answered = 0;
  let rateLimited = 0;
  let error: string | undefined;
  const failed = (cause: unknown) => (error ??= cause instanceof Error ? cause.message : String(cause));
  /** `count` calls, GRPC_IN_FLIGHT at a time, until one fails. */
  const send = async (count: number, call: (i: number) => Promise<unknown>): Promise<void> => {
    let sent = 0;
    const next = async (): Promise<void> => {
      while (sent < count && error === undefined) await call(sent++);
    };
    await Promise.all(Array.from({ length: GRPC_IN_FLIGHT }, next));
  };
  // A warm-up that cannot run (no loopback, a call that fails) leaves the server colder, never unable to start.
  try {
    const open = loopbackClient(`${host}:${await server.listen()}`);
    client = open;
    await send(GRPC_WARM_UP_CHECKS, (i) => open.check(warmUpRequest(from + i, clock.now()), GRPC_DEADLINE_MS).then(() => answered++, failed));
    const limits = rateLimitConfig ? rateLimitWarmUpRequests(rateLimitConfig.current()) : [];
    if (limits.length > 0) await send(GRPC_RATE_LIMIT_CALLS, (i) => open.shouldRateLimit(limits[i % limits.length]!, GRPC_DEADLINE_MS).then(() => rateLimited++, failed));
  } catch (cause) {
    failed(cause);
  } finally {
    client?.close();
    await server.shutdown(0);
  }
  return { answered, challenged, rateLimited, ...(error === undefined ? {} : { error }) };
}

/**
 * ShouldRateLimit requests on what the configuration declares: every descriptor path of every
 * domain (to DESCRIPTOR_DEPTH), a value of its own where the configuration takes any value and a
 * wildcard's literal parts around one, so that the limiter matches and counts as for real traffic.
 * The calls go round these requests, so a tight limit is also exceeded and its answer runs too.
 */
export function rateLimitWarmUpRequests(config: RateLimitConfig): RateLimitRequest[] {
  const requests: RateLimitRequest[] = [];
  for (const [domain, { root }] of config.domains) {
    const paths = descriptorPaths(root, DESCRIPTOR_DEPTH);
    for (let i = 0; i < paths.length; i += DESCRIPTORS_PER_CALL) {
      requests.push({ domain, descriptors: paths.slice(i, i + DESCRIPTORS_PER_CALL).map((entries) => ({ entries })) });
    }
  }
  return requests;
}

type Entry = { key: string; value: string };

/** Every path from `level` down, as descriptor entries; a value of warm-up's own where any value matches. */
function descriptorPaths(level: DescriptorLevel, depth: number): Entry[][] {
  if (depth === 0) return [];
  const here: { entry: Entry; children: DescriptorLevel }[] = [];
  for (const [key, byValue] of level.exact) for (const [value, node] of byValue) here.push({ entry: { key, value }, children: node.children });
  for (const [key, entries] of level.wildcards) for (const { parts, node } of entries) here.push({ entry: { key, value: parts.join("warm-up") }, children: node.children });
  // The documentation range (RFC 5737): any-value keys are most often client addresses.
  for (const [key, node] of level.anyValue) here.push({ entry: { key, value: `203.0.113.${randomInt(1, 255)}` }, children: node.children });
  return here.flatMap(({ entry, children }) => [[entry], ...descriptorPaths(children, depth - 1).map((below) => [entry, ...below])]);
}

/** Every GRPC_CHALLENGE_EVERY-th decision turned into a challenge, whatever the policy chose. */
function challengingSome(pipeline: Pipeline): Pipeline {
  let evaluated = 0;
  return {
    async evaluate(attrs) {
      const result = await pipeline.evaluate(attrs);
      if (++evaluated % GRPC_CHALLENGE_EVERY !== 0) return result;
      return { ...result, decision: { ...result.decision, action: "challenge" } };
    },
  };
}

async function run(core: DecisionCore, settings: Settings, clock: Clock, pipeline: Pipeline, from: number, count: number): Promise<void> {
  const check = palisadeServices().authorization.definition.Check;
  for (let i = from; i < from + count; i++) {
    const bytes = check.requestSerialize(warmUpRequest(i, clock.now()));
    const attrs = toHttpAttributes(check.requestDeserialize(bytes));
    const { decision } = await pipeline.evaluate(attrs);
    const policy = core.policy.current();
    check.responseSerialize(encodeCheckResponse(decision, { challenge: policy.challenge, incomingHeaderNames: attrs.headers.keys() }));
  }
}

/**
 * The access-log and rate-limit messages' codecs: protobufjs generates each message type's
 * decoder and converter the first time one arrives, which held up the loop for 13–18 ms when the
 * first access-log batch of a replay came in (bench/live-tail.ts). Decoded here, recorded
 * nowhere: entries go through the converter only, never to the outcome recorder.
 */
const CODEC_ROUNDS = 20;

function warmCodecs(nowMs: number): void {
  const { accessLog, rateLimit } = palisadeServices();
  const logs = accessLog.definition.StreamAccessLogs;
  // As the server serves it: ShouldRateLimit's answers through the hand-written encoder.
  const limits = withHandEncodedResponses(rateLimit.definition).ShouldRateLimit;
  for (let i = 0; i < CODEC_ROUNDS; i++) {
    const request = warmUpRequest(i, nowMs).attributes.request.http;
    const message = {
      identifier: { node: { id: "warm-up", cluster: "warm-up" }, log_name: "warm-up" },
      http_logs: {
        log_entry: [
          {
            common_properties: {
              downstream_remote_address: { socket_address: { address: `203.0.113.${i}`, port_value: 40000 } },
              start_time: { seconds: Math.floor(nowMs / 1000), nanos: 0 },
              duration: { seconds: 0, nanos: 20_000_000 },
              response_flags: i % 2 === 0 ? { unauthorized_details: { reason: 1 } } : {},
              metadata: { filter_metadata: { "envoy.filters.http.ext_authz": { fields: { action: { string_value: "allow" }, endpoint: { string_value: "warm-up" } } } } },
            },
            protocol_version: 2,
            request: { request_method: 1, scheme: "https", authority: request.host, path: request.path, request_id: request.id, user_agent: BROWSER["user-agent"], request_headers: { cookie: "sid=warm-up" } },
            response: { response_code: { value: i % 3 === 0 ? 401 : 200 }, response_headers: { "content-type": "application/json" }, response_body_bytes: 100 },
          },
        ],
      },
    };
    const decoded = logs.requestDeserialize(logs.requestSerialize(message));
    for (const entry of decoded.http_logs?.log_entry ?? []) toAccessLogRecord(entry);
    const limit = { domain: "warm-up", descriptors: [{ entries: [{ key: "remote_address", value: `203.0.113.${i}` }] }], hits_addend: 1 };
    limits.requestDeserialize(limits.requestSerialize(limit));
    limits.responseSerialize({ overall_code: 1, statuses: [{ code: 1, current_limit: { requests_per_unit: 10, unit: 2 }, limit_remaining: 5 }] });
  }
}

function warmUpRequest(i: number, nowMs: number) {
  const shape = SHAPES[i % SHAPES.length]!;
  const body = shape.body ? Buffer.from(shape.body(i)) : undefined;
  const address = i % 7 === 0 ? `2001:db8::${(i % 200).toString(16)}` : `203.0.113.${i % 200}`;
  const headers: Record<string, string> = { ...BROWSER, "x-forwarded-for": address, ...(shape.contentType ? { "content-type": shape.contentType } : {}) };
  return {
    attributes: {
      source: { address: { socket_address: { address: "192.0.2.1", port_value: 40000 } } },
      request: {
        time: { seconds: Math.floor(nowMs / 1000), nanos: (nowMs % 1000) * 1e6 },
        http: { id: `warm-up-${i}`, method: shape.method, path: shape.path, host: "warm-up.example.invalid", scheme: "https", protocol: "HTTP/1.1", headers, raw_body: body, size: body?.length ?? 0 },
      },
    },
  };
}
