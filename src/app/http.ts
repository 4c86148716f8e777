import type { Clock } from "../domain/clock.js";
import type { Settings } from "../settings/settings.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { createAdminServer, type AdminServer, type ReadinessReport } from "../transport/http/admin.js";
import { registerAnalystApi } from "../transport/http/analyst/index.js";
import { TokenAuthenticator } from "../transport/http/auth.js";
import { registerConsole } from "../transport/http/console.js";
import { registerOutcomeEndpoint } from "../transport/http/outcomes.js";
import type { DecisionCore } from "./decision-core.js";

export interface HttpWiring {
  settings: Settings;
  core: DecisionCore;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  readiness: () => Promise<ReadinessReport>;
}

/** The admin port: health, metrics, the outcome endpoint, the analyst API and its console over the decision core. */
export async function createHttpServer(wiring: HttpWiring): Promise<AdminServer> {
  const { settings, core, clock } = wiring;
  const admin = createAdminServer({
    host: settings.adminHost,
    port: settings.adminPort,
    metrics: wiring.metrics,
    logger: wiring.logger,
    auth: await TokenAuthenticator.fromFile(settings.adminTokensFile),
    readiness: wiring.readiness,
  });
  const policy = () => core.policy.current();
  registerOutcomeEndpoint({
    admin,
    recorder: core.outcomes,
    policy,
    pseudonymiser: core.pseudonymiser,
    clock,
    relief: (kind, subjects, timeMs) => core.engine.recordRelief(kind, subjects, timeMs),
  });
  registerAnalystApi({ admin, engine: core.engine, pseudonymiser: core.pseudonymiser, policy, clock: () => clock.now() });
  registerConsole(admin);
  return admin;
}
