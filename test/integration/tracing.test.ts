/**
 * Joined traces: with an SDK registered (here an in-memory exporter, as OTEL_* would register
 * an OTLP one), the Check span continues the trace of the request it checks (W3C traceparent,
 * or B3 as Envoy's Zipkin tracer sends it) or of Envoy's own call; ShouldRateLimit, access-log
 * batches and Redis calls get spans of their own; no span attribute holds a raw address or user.
 */
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { palisadePropagator } from "../../src/telemetry/tracing.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { upstreamGrpc } from "../contract/upstream.js";
import { startTestApp } from "../support/app.js";
import { checkRequest, envoyAccessLogClient, envoyAuthzClient, type CheckInput, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { palisadeServices } from "../../src/transport/grpc/protos.js";
import { repoRoot } from "../support/policies.js";

const exporter = new InMemorySpanExporter();
const IP = "100.64.33.9";
const USER = "alice.tracing@example.com";
let redis: RedisServerHandle;
let app: App;
let authz: EnvoyAuthzClient;

beforeAll(async () => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(palisadePropagator());
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, ratelimitConfig: `${repoRoot}examples/ratelimit.yaml` });
  authz = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  authz?.close();
  await app?.stop();
  await redis?.stop();
  trace.disable();
  context.disable();
  propagation.disable();
});

beforeEach(() => exporter.reset());

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const named = (name: string) => exporter.getFinishedSpans().filter((span) => span.name === name);

function login(headers: Record<string, string>, ip = IP): CheckInput {
  return {
    method: "POST",
    path: "/api/v1/login",
    ip,
    headers: { "content-type": "application/json", "user-agent": "Mozilla/5.0", accept: "application/json", ...headers },
    body: JSON.stringify({ username: USER, password: "wrong" }),
  };
}

describe("the Check span", () => {
  it("continues a W3C traceparent from the checked request, with Redis calls inside it", async () => {
    const [traceId, spanId] = [hex(16), hex(8)];
    await authz.check(login({ traceparent: `00-${traceId}-${spanId}-01` }));
    const [check] = named("palisade.check");
    expect(check!.spanContext().traceId).toBe(traceId);
    expect(parentOf(check!)).toBe(spanId);
    expect(check!.attributes["palisade.action"]).toBeTypeOf("string");
    const redisCalls = exporter.getFinishedSpans().filter((span) => span.name.startsWith("redis "));
    expect(redisCalls.length).toBeGreaterThan(0);
    for (const call of redisCalls) {
      expect(call.spanContext().traceId).toBe(traceId);
      expect(call.attributes["db.system"]).toBe("redis");
    }
    expect(redisCalls.some((call) => parentOf(call) === check!.spanContext().spanId)).toBe(true);
  });

  it("continues B3 as Envoy's Zipkin tracer sends it (x-b3-* headers)", async () => {
    const [traceId, spanId] = [hex(16), hex(8)];
    await authz.check(login({ "x-b3-traceid": traceId, "x-b3-spanid": spanId, "x-b3-sampled": "1" }));
    const [check] = named("palisade.check");
    expect(check!.spanContext().traceId).toBe(traceId);
    expect(parentOf(check!)).toBe(spanId);
  });

  it("continues single-header B3 (b3: trace-span-sampled)", async () => {
    const [traceId, spanId] = [hex(16), hex(8)];
    await authz.check(login({ b3: `${traceId}-${spanId}-1` }));
    const [check] = named("palisade.check");
    expect(check!.spanContext().traceId).toBe(traceId);
    expect(parentOf(check!)).toBe(spanId);
  });

  it("prefers the context of Envoy's own call (gRPC metadata) to the request's", async () => {
    const [callTrace, callSpan] = [hex(16), hex(8)];
    const Authorization = (upstreamGrpc() as any).envoy.service.auth.v3.Authorization as grpc.ServiceClientConstructor;
    const client = new Authorization(`127.0.0.1:${app.grpcPort}`, grpc.credentials.createInsecure()) as any;
    const metadata = new grpc.Metadata();
    metadata.set("traceparent", `00-${callTrace}-${callSpan}-01`);
    await new Promise((resolve, reject) =>
      client.Check(checkRequest(login({ traceparent: `00-${hex(16)}-${hex(8)}-01` })), metadata, (error: Error | null, response: unknown) => (error ? reject(error) : resolve(response))),
    );
    client.close();
    const [check] = named("palisade.check");
    expect(check!.spanContext().traceId).toBe(callTrace);
    expect(parentOf(check!)).toBe(callSpan);
  });

  it("ignores malformed trace headers: a decision, in a trace of its own", async () => {
    const response = await authz.check(login({ traceparent: "00-zz-not-a-trace-01", "x-b3-traceid": "x".repeat(5000), "x-b3-spanid": "", b3: "-" }));
    expect(response.status.code).toBe(0);
    const [check] = named("palisade.check");
    expect(check!.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(parentOf(check!)).toBeUndefined();
  });

  it("starts a trace of its own when no header carries one", async () => {
    await authz.check(login({}));
    const [check] = named("palisade.check");
    expect(check!.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(parentOf(check!)).toBeUndefined();
  });
});

describe("other spans", () => {
  it("ShouldRateLimit continues Envoy's call, naming the domain and counts only", async () => {
    const [traceId, spanId] = [hex(16), hex(8)];
    const client = new (palisadeServices().rateLimit.Client)(`127.0.0.1:${app.grpcPort}`, grpc.credentials.createInsecure()) as any;
    const metadata = new grpc.Metadata();
    metadata.set("x-b3-traceid", traceId);
    metadata.set("x-b3-spanid", spanId);
    metadata.set("x-b3-sampled", "1");
    const request = { domain: "storefront", descriptors: [{ entries: [{ key: "endpoint", value: "login" }, { key: "remote_address", value: IP }, { key: "palisade_risk", value: "0" }] }] };
    await new Promise((resolve, reject) => client.ShouldRateLimit(request, metadata, (error: Error | null, response: unknown) => (error ? reject(error) : resolve(response))));
    client.close();
    const [span] = named("palisade.ratelimit");
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(parentOf(span!)).toBe(spanId);
    expect(span!.attributes).toMatchObject({ "palisade.ratelimit.domain": "storefront", "palisade.ratelimit.descriptors": 1, "palisade.ratelimit.overall_code": "OK" });
    // Background writes (statistics, decision records, the audit follower) trace on their own;
    // the Redis calls of this request are the ones in its trace, and each hangs under its span.
    const redisCalls = exporter.getFinishedSpans().filter((s) => s.name.startsWith("redis ") && s.spanContext().traceId === traceId);
    expect(redisCalls.length).toBeGreaterThan(0);
    expect(redisCalls.every((s) => parentOf(s) === span!.spanContext().spanId)).toBe(true);
  });

  it("an access-log batch is one span with its entry count", async () => {
    const logs = envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`);
    await logs.send([
      { requestId: "r-1", method: "POST", path: "/api/v1/login", ip: IP, status: 401 },
      { requestId: "r-2", method: "GET", path: "/api/v1/search", ip: IP, status: 200 },
    ]);
    logs.close();
    const [batch] = named("palisade.accesslog.batch");
    expect(batch!.attributes["palisade.accesslog.entries"]).toBe(2);
  });

  it("no span attribute anywhere holds the raw address or username", async () => {
    // A fresh address: the earlier logins may have it quarantined, and a quarantined client is
    // answered before any counting (so without Redis calls).
    const fresh = "100.64.33.10";
    await authz.check(login({ traceparent: `00-${hex(16)}-${hex(8)}-01` }, fresh));
    const spans = exporter.getFinishedSpans();
    expect(spans.length).toBeGreaterThan(1);
    const attributes = JSON.stringify(spans.map((span) => [span.name, span.attributes]));
    expect(attributes).not.toContain(fresh);
    expect(attributes).not.toContain(IP);
    expect(attributes).not.toContain(USER);
    expect(named("palisade.check")[0]!.attributes["palisade.subject"]).toMatch(/^[A-Za-z0-9_:.-]+$/);
  });
});
