import { createDecisionCore, type DecisionCore } from "../../app/decision-core.js";
import { openStores } from "../../app/stores.js";
import type { AccessLogRecord } from "../../domain/access-log.js";
import type { EveryKey } from "../../domain/every-key.js";
import type { AttemptContext } from "../../detection/login-outcomes.js";
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
  /**
   * Decision cores sharing one in-memory store (1 when absent), as replicas behind Envoy share
   * Redis: each Check goes to the next replica in turn, and so does each access-log entry,
   * independently (Envoy's access-log streams land on any replica). What a replica keeps in its
   * own memory stays its own; what the store holds (and what is merged through it) is shared.
   * The memory store has Redis's semantics, so only Redis's latency is left out.
   */
  replicas?: number;
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
  const logger = createLogger({ level: "silent" });
  const clock = { now: () => virtualNow };
  const replicas = options.replicas ?? 1;
  // One replica opens and closes its own stores; several share stores this target owns.
  const stores = replicas > 1 ? await openStores(settings, { logger, clock }) : undefined;
  const cores: DecisionCore[] = [];
  for (let i = 0; i < replicas; i++) {
    // Replicas share the pseudonymisation key, as they share it from the settings in production.
    const pseudonymiser = options.pseudonymiser ?? cores[0]?.pseudonymiser;
    cores.push(await createDecisionCore(settings, { logger, clock, watchPolicy: false, pseudonymiser, bookkeeping: false, stores }));
  }
  const core = cores[0]!;
  let checks = 0;
  let logs = 0;
  const policy = core.policy.current();
  return {
    name: `offline (${policy.name} ${policy.version}${replicas > 1 ? `, ${replicas} replicas` : ""})`,
    async check(request, timeMs) {
      virtualNow = timeMs;
      const attrs = toHttpAttributes(request);
      const replica = cores[checks++ % replicas]!;
      const { decision } = await replica.pipeline.evaluate(attrs);
      return verdictOf(toCheckResponse(decision, { challenge: replica.policy.current().challenge, incomingHeaderNames: attrs.headers.keys() }));
    },
    async log(entry) {
      const record = toAccessLogRecord(entry);
      if (record.timeMs !== undefined) virtualNow = Math.max(virtualNow, record.timeMs);
      options.onAccessLog?.(record);
      await cores[logs++ % replicas]!.outcomes.record(record);
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
        // An earlier sign-in, as it succeeded: no step-up, nothing its Check knew of cookies or challenges.
        steppedUp: undefined,
        sessionless: undefined,
        bareSession: undefined,
        challenged: undefined,
      } satisfies EveryKey<AttemptContext>, policy);
    },
    async close() {
      for (const replica of cores) await replica.stop();
      await stores?.close();
      return [];
    },
  };
}
