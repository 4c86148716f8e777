import type { Metadata } from "@grpc/grpc-js";
import type { TraceCarrier } from "../../telemetry/tracing.js";

/**
 * Trace headers of a gRPC call: what Envoy injects into its own ext_authz, rate-limit and
 * access-log calls when its tracing is on (traceparent, or x-b3-* with the Zipkin tracer).
 */
export function metadataCarrier(metadata: Metadata | undefined): TraceCarrier {
  return {
    get: (name) => {
      const value = metadata?.get(name)[0];
      return typeof value === "string" ? value : undefined;
    },
    keys: () => Object.keys(metadata?.getMap() ?? {}),
  };
}

/** The checked request's headers (lower-case names), where the client's or Envoy's trace context travels. */
export function headersCarrier(headers: ReadonlyMap<string, string>): TraceCarrier {
  return { get: (name) => headers.get(name), keys: () => [...headers.keys()] };
}
