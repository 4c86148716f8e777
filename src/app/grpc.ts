import type { RateLimitConfigSource } from "../ratelimit/config-source.js";
import { RateLimiter } from "../ratelimit/limiter.js";
import type { Clock } from "../domain/clock.js";
import { createDecisionObserver } from "../telemetry/decision-observer.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { createRateLimitObserver } from "../telemetry/ratelimit-metrics.js";
import { createRateLimitTelemetry } from "../telemetry/ratelimit-telemetry.js";
import { createAccessLogService } from "../transport/grpc/accesslog/service.js";
import { createAuthorizationService } from "../transport/grpc/authz/service.js";
import { createHealthService } from "../transport/grpc/health.js";
import { createRateLimitService } from "../transport/grpc/ratelimit/service.js";
import { createGrpcServer, type GrpcServer } from "../transport/grpc/server.js";
import type { Settings } from "../settings/settings.js";
import type { DecisionCore } from "./decision-core.js";

export interface GrpcWiring {
  settings: Settings;
  /** The decision core, or warm-up's view of it (its own pipeline, and a built-in challenge of its own with a throwaway key). */
  core: Pick<DecisionCore, "pipeline" | "policy" | "outcomes" | "stores" | "pseudonymiser"> & Partial<Pick<DecisionCore, "challenges">>;
  /** Absent when no rate-limit configuration is set: ShouldRateLimit is then not served. */
  rateLimitConfig?: RateLimitConfigSource;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
}

/** Envoy's three services and gRPC health on one port, over the decision core. */
export function createEnvoyServer(wiring: GrpcWiring): GrpcServer {
  const { settings, core, metrics, logger } = wiring;
  const observer = createDecisionObserver({ metrics, logger });
  return createGrpcServer({
    host: settings.grpcHost,
    port: settings.grpcPort,
    authorization: createAuthorizationService({ pipeline: core.pipeline, policy: () => core.policy.current(), observer, challenges: core.challenges }),
    accessLog: createAccessLogService({
      outcomes: core.outcomes,
      onEntry: (result) => metrics.accessLogEntries.inc({ result }),
      onStreamError: (error) => logger.debug({ err: error }, "access-log stream ended with an error"),
    }),
    rateLimit: wiring.rateLimitConfig && rateLimitService(wiring, observer),
    health: createHealthService(() => "SERVING"),
  });
}

/**
 * ShouldRateLimit on the store ext_authz uses (same Redis, same fallback, one round trip per
 * call), with counters named by keyed pseudonyms like every other stored identifier.
 */
function rateLimitService(wiring: GrpcWiring, decisions: ReturnType<typeof createDecisionObserver>) {
  const { settings, core, metrics, logger } = wiring;
  const config = wiring.rateLimitConfig!;
  const limiter = new RateLimiter({
    config: () => config.current(),
    store: core.stores.store,
    clock: wiring.clock,
    pseudonymise: (identity) => core.pseudonymiser.pseudonymise("ratelimit", identity),
    compat: settings.ratelimitCompat,
    stopIncrementWhenOverLimit: settings.ratelimitStopIncrementWhenOverLimit,
    observer: createRateLimitObserver(metrics.rateLimit, logger, () => [...config.current().domains.keys()]),
  });
  return createRateLimitService({ limiter, telemetry: createRateLimitTelemetry({ metrics, logger, decisions }) });
}
