/**
 * Warm before ready: a cold process answers its first Checks in tens of milliseconds (V8 has
 * not compiled the hot path, protobuf codecs and CEL programs run for the first time), a warm
 * one in a few. `startApp` runs these warm-up decisions before it opens any port, so neither
 * gRPC health nor /readyz can report ready while the first real Check would still be slow.
 *
 * The decisions run the whole Check path — protobuf bytes decoded as the gRPC server decodes
 * them, the converter, the pipeline on the policy in force, the response encoded — with fresh
 * detection state: most on a private in-memory store, the last few on the real store (its
 * connection, scripts, fallback) under entities prefixed `warm-up/`, so no counter, baseline
 * or site-wide figure of the real service sees them; those few keys expire with their windows.
 * Clients come from the documentation address ranges (RFC 5737, RFC 3849) with usernames
 * under example.invalid. No metric or log line counts them.
 */
import { performance } from "node:perf_hooks";
import type { Clock } from "../domain/clock.js";
import type { Settings } from "../settings/settings.js";
import { MemoryStore } from "../state/memory-store.js";
import { NamespacedStore } from "../state/namespaced-store.js";
import type { Store } from "../state/store.js";
import { toAccessLogRecord } from "../transport/grpc/accesslog/converter.js";
import { toCheckResponse, toHttpAttributes } from "../transport/grpc/authz/converter.js";
import { palisadeServices } from "../transport/grpc/protos.js";
import { withHandEncodedResponses } from "../transport/grpc/ratelimit/response-encoder.js";
import type { DecisionCore } from "./decision-core.js";

/** Enough rounds for V8 to optimise the hot functions (it tiers up after some hundreds of calls). */
export const WARM_UP_DECISIONS = 600;
/** Then each request shape twice on the real store: loads its scripts and runs its code once. */
const STORE_ROUNDS = 2;

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
  ms: number;
}

export async function warmUp(core: DecisionCore, settings: Settings, clock: Clock, decisions = WARM_UP_DECISIONS): Promise<WarmUpReport> {
  const started = performance.now();
  const memory = new MemoryStore();
  try {
    await run(core, settings, clock, memory, 0, decisions);
  } finally {
    await memory.close();
  }
  if (decisions === 0) return { decisions: 0, ms: 0 };
  const real = new NamespacedStore(core.stores.store, "warm-up/");
  await run(core, settings, clock, real, decisions, SHAPES.length * STORE_ROUNDS);
  warmCodecs(clock.now());
  return { decisions: decisions + SHAPES.length * STORE_ROUNDS, ms: Math.round(performance.now() - started) };
}

async function run(core: DecisionCore, settings: Settings, clock: Clock, store: Store, from: number, count: number): Promise<void> {
  const pipeline = core.pipelineOn(store);
  const check = palisadeServices().authorization.definition.Check;
  for (let i = from; i < from + count; i++) {
    const bytes = check.requestSerialize(warmUpRequest(i, clock.now()));
    const attrs = toHttpAttributes(check.requestDeserialize(bytes));
    const { decision } = await pipeline.evaluate(attrs);
    const policy = core.policy.current();
    check.responseSerialize(toCheckResponse(decision, { challenge: policy.challenge, incomingHeaderNames: attrs.headers.keys() }));
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
