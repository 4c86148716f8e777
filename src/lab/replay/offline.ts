import { randomBytes } from "node:crypto";
import type { OutcomeRecorder } from "../../domain/access-log.js";
import { LoginOutcomeRecorder } from "../../detection/login-outcomes.js";
import { createDetectionState, createPipeline, type Pipeline } from "../../pipeline/pipeline.js";
import type { CompiledPolicy } from "../../policy/compile.js";
import { HmacPseudonymiser } from "../../privacy/pseudonymiser.js";
import { MemoryStore } from "../../state/memory-store.js";
import type { Store } from "../../state/store.js";
import { toAccessLogRecord } from "../../transport/grpc/accesslog/converter.js";
import { toCheckResponse, toHttpAttributes } from "../../transport/grpc/authz/converter.js";
import { verdictOf, type ReplayTarget } from "./target.js";

/** What the offline target is built from; the wiring mirrors src/app/start.ts so replay decides alike. */
export interface OfflineParts {
  store: Store;
  pipeline: Pipeline;
  /** Where access-log entries go, as the server's StreamAccessLogs hands them on. */
  outcomes?: OutcomeRecorder;
}

export type OfflineWiring = (deps: { policy: CompiledPolicy; store: Store; clock: { now(): number } }) => OfflineParts;

/**
 * The composition src/app/start.ts does, minus the network: one in-memory store, detection state shared
 * by the pipeline and the login-outcome recorder (so an outcome finds the attempt its Check
 * remembered), a pseudonymiser with a key for this run only, and event time trusted (replay
 * mode). Keep it in step with src/app/start.ts, or replay and the server decide differently.
 */
export const defaultWiring: OfflineWiring = ({ policy, store, clock }) => {
  const pseudonymiser = new HmacPseudonymiser({ current: randomBytes(32) });
  const detection = createDetectionState(store);
  return {
    store,
    pipeline: createPipeline({ store, detection, pseudonymiser, policy: () => policy, clock, eventTime: { trust: true, maxSkewMs: 0 } }),
    outcomes: new LoginOutcomeRecorder({ store, policy: () => policy, recent: detection.recent, site: detection.site, pseudonymiser }),
  };
};

/**
 * Decides in this process on a virtual clock: "now" is the time of the event being replayed,
 * so windows and expiries follow the traffic, not the wall clock.
 */
export function offlineTarget(policy: CompiledPolicy, wiring: OfflineWiring = defaultWiring): ReplayTarget {
  let virtualNow = 0;
  const parts = wiring({ policy, store: new MemoryStore(), clock: { now: () => virtualNow } });
  return {
    name: `offline (${policy.name} ${policy.version})`,
    async check(request, timeMs) {
      virtualNow = timeMs;
      const attrs = toHttpAttributes(request);
      const { decision } = await parts.pipeline.evaluate(attrs);
      return verdictOf(toCheckResponse(decision, { challenge: policy.challenge, incomingHeaderNames: attrs.headers.keys() }));
    },
    async log(entry) {
      if (!parts.outcomes) return;
      const record = toAccessLogRecord(entry);
      if (record.timeMs !== undefined) virtualNow = Math.max(virtualNow, record.timeMs);
      await parts.outcomes.record(record);
    },
    async close() {
      await parts.store.close();
      return [];
    },
  };
}
