import type { PolicySource } from "../policy/policy-source.js";
import type { RateLimitConfigSource } from "../ratelimit/config-source.js";
import type { Store } from "../state/store.js";
import type { ReadinessReport } from "../transport/http/admin.js";
import type { FeedStatus } from "./reputation-feeds.js";

/**
 * Ready means a policy is in force. A store outage is reported but does not fail readiness:
 * decisions go on from local state, and pulling every replica out of the Service at once would
 * turn a Redis blip into an ext_authz outage for all of Envoy (docs/design.md, failure semantics).
 */
export async function readiness(
  policy: PolicySource,
  store: Store,
  rateLimits: RateLimitConfigSource | undefined,
  feeds?: { status(): FeedStatus[] },
): Promise<ReadinessReport> {
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
      ...feedCheck(feeds?.status() ?? []),
    },
  };
}

/** A rejected update does not make the service unready (the last good one is in force), but shows. */
function reloadCheck(lastError: { issues: { path: string; message: string }[] } | undefined): { ok: boolean; detail?: string } {
  if (!lastError) return { ok: true };
  return { ok: false, detail: `last update rejected: ${lastError.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}` };
}

/**
 * Reputation feeds, status only: how many are in force and which lists are failing or still
 * loading, never an address from them. A failing feed does not make the replica unready: its
 * last good copy (or, before any, the rest of the policy) still decides.
 */
function feedCheck(feeds: FeedStatus[]): ReadinessReport["checks"] {
  if (feeds.length === 0) return {};
  const troubled = feeds.filter((feed) => feed.state !== "ok");
  const entries = feeds.reduce((sum, feed) => sum + feed.entries, 0);
  const detail = `${feeds.length - troubled.length} of ${feeds.length} feeds loaded, ${entries} ranges` +
    (troubled.length > 0 ? `; ${troubled.map((feed) => `${feed.list}[${feed.feed}] ${feed.state}${feed.entries > 0 ? " (last good copy in force)" : ""}`).join(", ")}` : "");
  return { reputationFeeds: { ok: troubled.length === 0, detail } };
}
