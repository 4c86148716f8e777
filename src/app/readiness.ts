import type { PolicySource } from "../policy/policy-source.js";
import type { RateLimitConfigSource } from "../ratelimit/config-source.js";
import type { Store } from "../state/store.js";
import type { ReadinessReport } from "../transport/http/admin.js";
import type { FeedStatus } from "./reputation-feeds.js";

/**
 * Ready means a policy is in force. A store outage is reported but does not fail readiness:
 * decisions go on from local state, and pulling every replica out of the Service at once would
 * turn a Redis blip into an ext_authz outage for all of Envoy (docs/design.md, failure semantics).
 * Nor do the policy's warnings: counted here, so an operator reading /readyz sees them, and
 * listed in the log at each load and by `palisade policy lint`.
 */
export async function readiness(
  policy: PolicySource,
  store: Store,
  rateLimits: RateLimitConfigSource | undefined,
  feeds?: { status(): FeedStatus[] },
): Promise<ReadinessReport> {
  const storeUp = await store.ping();
  const rateLimitStatus = rateLimits?.status();
  return {
    ready: true,
    checks: {
      policy: "ok",
      policyReload: reloadCheck(policy.status().lastError),
      ...(rateLimitStatus ? { rateLimits: "ok", rateLimitReload: reloadCheck(rateLimitStatus.lastError) } : {}),
      store: storeUp ? "ok" : "unreachable",
      ...feedCheck(feeds?.status() ?? []),
    },
    warnings: { policy: policy.current().warnings.length },
  };
}

/**
 * A rejected update does not make the service unready (the last good one is in force), but
 * shows; its issues are in the log and `palisade policy lint`, never in this unauthenticated answer.
 */
function reloadCheck(lastError: unknown): string {
  return lastError ? "rejected" : "ok";
}

/**
 * Reputation feeds, one code for all: `ok`, `loading` (a first load under way) or `failing` (the
 * last good copy, if any, is in force). Which list fails and why is in the log and the
 * palisade_reputation_feed_* metrics, never in this unauthenticated answer. A failing feed does
 * not make the replica unready: the rest of the policy still decides.
 */
function feedCheck(feeds: FeedStatus[]): ReadinessReport["checks"] {
  if (feeds.length === 0) return {};
  const state = feeds.some((feed) => feed.state === "failing") ? "failing" : feeds.some((feed) => feed.state === "loading") ? "loading" : "ok";
  return { reputationFeeds: state };
}
