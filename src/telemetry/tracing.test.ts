import { context, propagation, trace } from "@opentelemetry/api";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "./logger.js";
import { startTracing, tracer, tracingRequested } from "./tracing.js";

const OTEL_VARIABLES = [
  "OTEL_SDK_DISABLED",
  "OTEL_TRACES_EXPORTER",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_PROPAGATORS",
];
const silent = createLogger({ level: "silent" });

/** Global providers are process-wide: put the API back the way a fresh process has it. */
function resetOpenTelemetry(): void {
  trace.disable();
  context.disable();
  propagation.disable();
}

describe("tracingRequested", () => {
  it.each([
    [{}, false],
    [{ OTEL_TRACES_EXPORTER: "none" }, false],
    [{ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, false],
    [{ OTEL_TRACES_EXPORTER: "otlp" }, true],
    [{ OTEL_TRACES_EXPORTER: " console , none" }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" }, true],
    [{ OTEL_SDK_DISABLED: "TRUE", OTEL_TRACES_EXPORTER: "otlp" }, false],
  ])("%j → %s", (env, expected) => {
    expect(tracingRequested(env)).toBe(expected);
  });
});

describe("startTracing", () => {
  beforeEach(() => {
    for (const name of OTEL_VARIABLES) vi.stubEnv(name, undefined);
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    resetOpenTelemetry();
  });

  it("does nothing without OTEL variables: spans are not recorded", async () => {
    const tracing = await startTracing({ serviceName: "palisade", logger: silent });
    const span = tracer.startSpan("probe");
    expect(span.isRecording()).toBe(false);
    expect(trace.isSpanContextValid(span.spanContext())).toBe(false);
    span.end();
    await expect(tracing.shutdown()).resolves.toBeUndefined();
  });

  it("starts the SDK when an exporter is asked for, and shuts down once", async () => {
    vi.stubEnv("OTEL_TRACES_EXPORTER", "console");
    const tracing = await startTracing({ serviceName: "palisade", logger: silent });
    // A fresh tracer: the module's `tracer` stays bound to the provider the previous test reset.
    const span = trace.getTracer("palisade-test").startSpan("probe");
    expect(span.isRecording()).toBe(true);
    // Not ended: the console exporter would print it.
    await tracing.shutdown();
    await expect(tracing.shutdown()).resolves.toBeUndefined();
  });

  it("reads W3C and B3 trace headers once started, unless OTEL_PROPAGATORS says otherwise", async () => {
    vi.stubEnv("OTEL_TRACES_EXPORTER", "console");
    const tracing = await startTracing({ serviceName: "palisade", logger: silent });
    expect(propagation.fields()).toEqual(expect.arrayContaining(["traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled"]));
    await tracing.shutdown();
    resetOpenTelemetry();
    vi.stubEnv("OTEL_PROPAGATORS", "tracecontext");
    const chosen = await startTracing({ serviceName: "palisade", logger: silent });
    expect(propagation.fields()).not.toContain("x-b3-traceid");
    await chosen.shutdown();
  });
});
