import type { PolicySource } from "../policy/policy-source.js";
import type { RateLimitConfigSource } from "../ratelimit/config-source.js";
import type { Store } from "../state/store.js";
import type { ReadinessReport } from "../transport/http/admin.js";

/**
 * Ready means a policy is in force. A store outage is reported but does not fail readiness:
 * decisions go on from local state, and pulling every replica out of the Service at once would
 * turn a Redis blip into an ext_authz outage for all of Envoy (docs/design.md, failure semantics).
 */
export async function readiness(policy: PolicySource, store: Store, rateLimits: RateLimitConfigSource | undefined): Promise<ReadinessReport> {
  const storeUp = await store.ping();
  const rateLimitStatus = rateLimits?.status();
  return {
    ready: true,
    checks: {
      policy: "ok",
      policyReload: reloadCheck(policy.status().lastError),
      ...(rateLimitStatus ? { rateLimits: "ok", rateLimitReload: reloadCheck(rateLimitStatus.lastError) } : {}),
      store: storeUp ? "ok" : "unreachable",
    },
  };
}

/**
 * A rejected update does not make the service unready (the last good one is in force), but
 * shows; its issues are in the log and `palisade policy lint`, never in this unauthenticated answer.
 */
function reloadCheck(lastError: unknown): string {
  return lastError ? "rejected" : "ok";
}
