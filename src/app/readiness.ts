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
  const status = policy.status();
  const storeUp = await store.ping();
  const rateLimitStatus = rateLimits?.status();
  return {
    ready: true,
    checks: {
      policy: { ok: true, detail: `${status.name} ${status.version}` },
      policyReload: reloadCheck(status.lastError),
      ...(rateLimitStatus
        ? {
            rateLimits: { ok: true, detail: `domains ${rateLimitStatus.domains.join(", ")}` },
            rateLimitReload: reloadCheck(rateLimitStatus.lastError),
          }
        : {}),
      store: { ok: storeUp, detail: storeUp ? store.kind : `${store.kind} unreachable: deciding from local state` },
    },
  };
}

/** A rejected update does not make the service unready (the last good one is in force), but shows. */
function reloadCheck(lastError: { issues: { path: string; message: string }[] } | undefined): { ok: boolean; detail?: string } {
  if (!lastError) return { ok: true };
  return { ok: false, detail: `last update rejected: ${lastError.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}` };
}
