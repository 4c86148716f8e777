import { LRUCache } from "lru-cache";
import { Challenges, type ChallengeObserver } from "../challenge/challenges.js";
import { loadChallengeKey } from "../challenge/keys.js";
import type { Clock } from "../domain/clock.js";
import type { ResponseEvents } from "../response/events.js";
import type { Settings } from "../settings/settings.js";
import type { Store } from "../state/store.js";
import { createChallengeMetrics } from "../telemetry/challenge-metrics.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";

/**
 * The built-in challenge's part of the decision core: its key, metrics and audit records. Its
 * listener (src/transport/http/challenge.ts) always runs, answering 404 while the policy has no
 * proofOfWork, so turning the challenge on is a policy edit, not a restart.
 */
export async function openChallenges(deps: {
  settings: Settings;
  store: Store;
  events: ResponseEvents;
  /** Absent in replay: nothing is counted. */
  metrics?: Metrics;
  logger: Logger;
  clock: Clock;
}): Promise<Challenges> {
  const key = await loadChallengeKey(deps.settings.challengeKeyFile);
  if (key.generated) {
    deps.logger.warn(
      "no challenge key configured: generated a random one for this process; pass tokens do not survive a restart " +
        "and are refused by other replicas (set PALISADE_CHALLENGE_KEY_FILE from a Secret)",
    );
  }
  return new Challenges({
    keys: key.keys,
    store: deps.store,
    clock: () => deps.clock.now(),
    observer: recorded(deps.metrics ? createChallengeMetrics(deps.metrics.registry) : {}, deps.events),
  });
}

/** Failures repeat as fast as a bot can post: one audit record per reason and network per minute. */
const FAILURE_RECORD_MS = 60_000;

/** Everything is counted; solves and (fewer) failures also go to the audit trail. */
function recorded(metrics: ChallengeObserver, events: ResponseEvents): ChallengeObserver {
  const recent = new LRUCache<string, true>({ max: 10_000, ttl: FAILURE_RECORD_MS });
  return {
    issued: metrics.issued,
    pass: metrics.pass,
    solved: (solved) => {
      metrics.solved?.(solved);
      events.publish({ type: "challenge.solved", ...solved });
    },
    failed: (failed) => {
      metrics.failed?.(failed);
      const key = `${failed.reason}\u0000${failed.network ?? ""}`;
      if (recent.has(key)) return;
      recent.set(key, true);
      events.publish({ type: "challenge.failed", ...failed });
    },
  };
}
