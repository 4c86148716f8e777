import {
  DiagLogLevel,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  diag,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapPropagator,
} from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { B3InjectEncoding, B3Propagator } from "@opentelemetry/propagator-b3";
import type { Logger } from "./logger.js";

/**
 * Palisade's tracer. Until an SDK registers a provider the API hands out non-recording spans,
 * so instrumented code costs next to nothing when tracing is off.
 */
export const tracer = trace.getTracer("palisade");

export interface Tracing {
  /** Flushes spans still buffered; safe to call more than once. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  serviceName: string;
  logger: Logger;
}

const NO_TRACING: Tracing = { shutdown: async () => {} };

function listFromEnv(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "" && item !== "null");
}

/**
 * True when the standard OTEL_* variables ask for traces, read the way sdk-node 0.223 reads
 * them: OTEL_SDK_DISABLED wins; an OTEL_TRACES_EXPORTER list starting with "none" means none;
 * otherwise any exporter, or an OTLP endpoint (the SDK's default exporter is OTLP).
 */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  const exporters = listFromEnv(env.OTEL_TRACES_EXPORTER);
  if (exporters.length > 0) return exporters[0] !== "none";
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/** OTEL_SERVICE_NAME or a service.name resource attribute set by the operator win over ours. */
function serviceNameSetInEnv(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.OTEL_SERVICE_NAME?.trim()) || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? "");
}

/** Routes the SDK's own warnings (failed exports, bad settings) into our JSON logs. */
function bridgeDiagnostics(logger: Logger): void {
  const log = logger.child({ component: "opentelemetry" });
  diag.setLogger(
    {
      error: (message) => log.error(message),
      warn: (message) => log.warn(message),
      info: (message) => log.info(message),
      debug: (message) => log.debug(message),
      verbose: (message) => log.trace(message),
    },
    DiagLogLevel.WARN,
  );
}

/**
 * Starts OpenTelemetry tracing when the environment asks for it; otherwise does nothing. The
 * SDK picks exporters, endpoint, protocol, sampler and propagators from OTEL_* itself.
 *
 * Traces only: metrics are Prometheus' (GET /metrics) and logs go to stdout, so the SDK's
 * OTLP metric and log pipelines are switched off. No auto-instrumentation either (startup
 * stays lean, and nothing needs patching), which is also why this may run after other imports.
 * The SDK is imported lazily: loading it costs ~300 ms that a process without tracing skips.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  if (!tracingRequested(process.env)) {
    options.logger.debug("tracing off: no OTEL_TRACES_EXPORTER or OTLP endpoint set");
    return NO_TRACING;
  }
  bridgeDiagnostics(options.logger);
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    ...(serviceNameSetInEnv(process.env) ? {} : { serviceName: options.serviceName }),
    // OTEL_PROPAGATORS, when set, is the operator's choice; otherwise ours reads both W3C and B3.
    ...(process.env.OTEL_PROPAGATORS?.trim() ? {} : { textMapPropagator: palisadePropagator() }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  options.logger.info({ exporter: process.env.OTEL_TRACES_EXPORTER ?? "otlp" }, "tracing started");
  return { shutdown: once(() => shutdownQuietly(sdk, options.logger)) };
}

async function shutdownQuietly(sdk: { shutdown(): Promise<void> }, logger: Logger): Promise<void> {
  try {
    await sdk.shutdown();
  } catch (error) {
    // Losing the last spans must not turn a clean shutdown into a failed one.
    logger.warn({ err: error }, "tracing shutdown failed");
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

/**
 * The trace headers Palisade reads and writes: W3C `traceparent`/`tracestate` and baggage, and
 * B3 in both of Envoy's forms (the `x-b3-*` headers its Zipkin tracer sends, or the single `b3`
 * header). These are the OpenTelemetry propagators themselves; nothing here parses headers.
 */
export function palisadePropagator(): TextMapPropagator {
  return new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER })],
  });
}

/** Headers as transports hold them: gRPC metadata, or the headers of the request Envoy checks. */
export interface TraceCarrier {
  get(name: string): string | undefined;
  keys(): string[];
}

const carrierGetter: TextMapGetter<TraceCarrier> = {
  get: (carrier, key) => carrier.get(key.toLowerCase()),
  keys: (carrier) => carrier.keys(),
};

/**
 * The trace context to continue: the first carrier that holds one (Envoy's own call to Palisade
 * first, then the headers of the request it checks), otherwise the active context. Extraction is
 * done by the registered propagator, so with tracing off (no SDK) this costs next to nothing.
 */
export function parentContext(carriers: readonly TraceCarrier[]): Context {
  for (const carrier of carriers) {
    const extracted = propagation.extract(ROOT_CONTEXT, carrier, carrierGetter);
    if (trace.getSpanContext(extracted)) return extracted;
  }
  return context.active();
}

export interface SpanOptions {
  /**
   * The context to start the span in (or a function giving it, called only when a tracer
   * provider is registered); the active one when absent.
   */
  parent?: Context | (() => Context);
  kind?: SpanKind;
}

export { SpanKind };

/** What `withSpan` hands `fn` while no tracer provider is registered: records nothing. */
const NOT_TRACED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * True while no tracer provider is registered (no SDK started, none set by a test): every span
 * the API would start is then a non-recording one, and nothing reads the context it carries.
 */
export function tracingOff(): boolean {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider && provider.getDelegateTracer("palisade") === undefined;
}

/**
 * Runs `fn` in an active span named `name`: nested spans become its children, an exception is
 * recorded and marks the span as failed, and the span ends whatever happens. Attributes must
 * hold pseudonyms only, never raw identifiers. With no tracer provider registered `fn` runs
 * directly: the API would only build a non-recording span and a context for it, a few
 * microseconds of every Check and ShouldRateLimit (bench/ profiles).
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, options: SpanOptions = {}): Promise<T> {
  if (tracingOff()) {
    try {
      return fn(NOT_TRACED);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }
  const parent = typeof options.parent === "function" ? options.parent() : options.parent;
  return tracer.startActiveSpan(name, { attributes, kind: options.kind ?? SpanKind.INTERNAL }, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

function recordFailure(span: Span, error: unknown): void {
  const exception = error instanceof Error ? error : String(error);
  span.recordException(exception);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
