/**
 * grpc.health.v1.Health, for Kubernetes gRPC probes and grpc_health_probe. The caller owns
 * the truth (`getStatus`) and calls `notify()` whenever it may have changed.
 */
import * as grpc from "@grpc/grpc-js";
import type { HealthCheckRequest, HealthCheckResponse, HealthImplementation, ServingStatus } from "./protos.js";

export type HealthStatus = Extract<ServingStatus, "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN">;

export interface HealthService {
  /** Pass to `server.addService(palisadeServices().health.definition, implementation)`. */
  implementation: HealthImplementation;
  /** Re-reads every watched service's status and sends it to watchers whose status changed. */
  notify(): void;
  /**
   * Ends every open Watch stream. Call it before `server.tryShutdown()`, which otherwise
   * waits forever for these never-ending streams.
   */
  close(): void;
}

type WatchCall = grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

interface Watcher {
  call: WatchCall;
  service: string;
  lastSent?: HealthStatus;
}

export function createHealthService(getStatus: (service: string) => HealthStatus): HealthService {
  const watchers = new Set<Watcher>();

  /** A failing status source must not break the probe: report the service as not serving. */
  const statusOf = (service: string): HealthStatus => {
    try {
      return getStatus(service);
    } catch {
      return "NOT_SERVING";
    }
  };

  const send = (watcher: Watcher): void => {
    const status = statusOf(watcher.service);
    if (status === watcher.lastSent) return;
    watcher.lastSent = status;
    watcher.call.write({ status });
  };

  const check: HealthImplementation["Check"] = (call, callback) => {
    const service = serviceName(call.request);
    const status = statusOf(service);
    // The protocol answers an unknown service with NOT_FOUND, not with a status.
    if (status === "SERVICE_UNKNOWN") {
      callback({ code: grpc.status.NOT_FOUND, details: `unknown service: ${service}` });
      return;
    }
    callback(null, { status });
  };

  const watch: HealthImplementation["Watch"] = (call) => {
    const watcher: Watcher = { call, service: serviceName(call.request) };
    watchers.add(watcher);
    const forget = (): void => {
      watchers.delete(watcher);
    };
    call.on("cancelled", forget);
    call.on("close", forget);
    call.on("error", forget);
    // Watch reports SERVICE_UNKNOWN as a status and keeps the stream open: the service may
    // be registered later.
    send(watcher);
  };

  return {
    implementation: { Check: check, Watch: watch },
    notify: () => {
      for (const watcher of watchers) send(watcher);
    },
    close: () => {
      for (const watcher of watchers) watcher.call.end();
      watchers.clear();
    },
  };
}

function serviceName(request: HealthCheckRequest | null | undefined): string {
  return typeof request?.service === "string" ? request.service : "";
}
