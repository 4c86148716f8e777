import { createDecisionCore } from "../../app/decision-core.js";
import type { AccessLogRecord } from "../../domain/access-log.js";
import { normalise } from "../../pipeline/normalise.js";
import type { Pseudonymiser } from "../../privacy/pseudonymiser.js";
import { settingsSchema, type SettingsInput } from "../../settings/settings.js";
import { createLogger } from "../../telemetry/logger.js";
import { toAccessLogRecord } from "../../transport/grpc/accesslog/converter.js";
import { toCheckResponse, toHttpAttributes } from "../../transport/grpc/authz/converter.js";
import { verdictOf, type ReplayTarget } from "./target.js";

export interface OfflineOptions {
  /** Settings beside the policy (a breached-password list…); event time is always trusted. */
  settings?: SettingsInput;
  /** Sees every record handed to the outcome path, in order (for tests). */
  onAccessLog?: (record: AccessLogRecord) => void;
  /** Keyed like the server (the configured key), so pseudonyms match its logs; a key for this run when absent. */
  pseudonymiser?: Pseudonymiser;
}

/**
 * Decides in this process with the decision core the server builds (src/app/decision-core.ts:
 * the same pipeline, outcome path and response engine, so quarantines hold offline too), on
 * in-memory stores, the caller's pseudonymiser (else a key for this run only), and a virtual clock: "now" is
 * the time of the event being replayed, so windows and expiries follow the traffic.
 */
export async function offlineTarget(policyLocation: string, options: OfflineOptions = {}): Promise<ReplayTarget> {
  let virtualNow = 0;
  const settings = settingsSchema.parse({ ...options.settings, policy: policyLocation, trustEventTime: true, logLevel: "silent" });
  const core = await createDecisionCore(settings, {
    logger: createLogger({ level: "silent" }),
    clock: { now: () => virtualNow },
    watchPolicy: false,
    pseudonymiser: options.pseudonymiser,
    bookkeeping: false,
  });
  const policy = core.policy.current();
  return {
    name: `offline (${policy.name} ${policy.version})`,
    async check(request, timeMs) {
      virtualNow = timeMs;
      const attrs = toHttpAttributes(request);
      const { decision } = await core.pipeline.evaluate(attrs);
      return verdictOf(toCheckResponse(decision, { challenge: core.policy.current().challenge, incomingHeaderNames: attrs.headers.keys() }));
    },
    async log(entry) {
      const record = toAccessLogRecord(entry);
      if (record.timeMs !== undefined) virtualNow = Math.max(virtualNow, record.timeMs);
      options.onAccessLog?.(record);
      await core.outcomes.record(record);
    },
    async history(request, timeMs) {
      virtualNow = Math.max(virtualNow, timeMs);
      const policy = core.policy.current();
      const normalised = normalise(toHttpAttributes(request), {
        policy,
        pseudonymiser: core.pseudonymiser,
        eventTime: { trust: true, maxSkewMs: 0 },
        nowMs: virtualNow,
        geo: core.detection.geo,
      });
      const { request: seen, endpoint } = normalised;
      if (!endpoint?.authentication) return;
      await core.outcomes.learnHistory({
        endpoint: endpoint.name,
        ipId: seen.ipId,
        subnet: seen.subnet,
        usernameId: seen.usernameId,
        fingerprintId: seen.fingerprintId,
        deviceId: seen.deviceId,
        country: seen.country,
        location: seen.location,
        headerShape: seen.headerShape,
        timeMs: seen.timeMs,
        allowed: true,
      }, policy);
    },
    async close() {
      await core.stop();
      return [];
    },
  };
}
