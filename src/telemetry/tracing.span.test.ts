import { SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { withSpan } from "./tracing.js";

// A file of its own: the module's `tracer` binds to the first provider it sees, so these tests
// must not share a process with the ones that start the real SDK.
describe("withSpan", () => {
  const exporter = new InMemorySpanExporter();

  beforeAll(() => {
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
  });
  afterEach(() => exporter.reset());
  afterAll(() => {
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it("returns the function's result and ends the span with its attributes", async () => {
    const result = await withSpan("palisade.check", { "palisade.endpoint": "login" }, async () => 42);
    expect(result).toBe(42);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe("palisade.check");
    expect(span?.attributes).toEqual({ "palisade.endpoint": "login" });
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("rethrows the error after recording it and marking the span failed", async () => {
    const failure = new Error("store timed out");
    await expect(
      withSpan("palisade.store", {}, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: "store timed out" });
    expect(span?.events.map((event) => event.name)).toEqual(["exception"]);
  });

  it("hands the span to the function so it can add attributes", async () => {
    await withSpan("palisade.decide", {}, async (span) => {
      span.setAttribute("palisade.action", "throttle");
    });
    expect(exporter.getFinishedSpans()[0]?.attributes["palisade.action"]).toBe("throttle");
  });
});
