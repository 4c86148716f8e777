import { ProxyTracerProvider, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";

/** Non-recording until an SDK registers a provider (see telemetry/tracing.ts). */
const tracer = trace.getTracer("palisade");

/** No tracer provider registered: a span would record nothing (telemetry/tracing.ts, `tracingOff`). */
export function noTracerProvider(): boolean {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider && provider.getDelegateTracer("palisade") === undefined;
}

/**
 * Runs one Redis call in a client span (`redis <what>`) under whatever span is active (a Check,
 * a ShouldRateLimit, an access-log batch, an analyst request). A call with no span around it is
 * the replica's own housekeeping (the keeper's merges and exchanges every few hundred
 * milliseconds, app/start.ts): traced, each would be a trace of its own, so it is not. Made here by hand rather than by
 * @opentelemetry/instrumentation-ioredis: that patches ioredis through require hooks, which an
 * ES module's import of ioredis bypasses unless a loader hook is registered before start, and
 * its span would name EVALSHA where this one names the script. No keys or arguments are
 * recorded: they hold pseudonyms at best, and the metrics count the rest.
 */
export function redisSpan<T>(what: string, call: () => Promise<T>): Promise<T> {
  if (noTracerProvider() || trace.getActiveSpan() === undefined) return call(); // nothing to record, or nothing to record it under
  return tracer.startActiveSpan(`redis ${what}`, { kind: SpanKind.CLIENT, attributes: { "db.system": "redis", "db.operation.name": what } }, async (span) => {
    try {
      return await call();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}
