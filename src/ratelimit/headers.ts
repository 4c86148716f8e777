import type { DescriptorStatus } from "./request.js";

/**
 * The x-ratelimit headers Envoy writes itself with `enable_x_ratelimit_headers: DRAFT_VERSION_03`
 * (draft-polli-ratelimit-headers-03), computed here so that clients get them whatever Envoy's
 * setting. As Envoy does: the status with the fewest requests remaining (the first on a tie)
 * gives the limit, remaining and reset; the limit header then lists every limit as a quota
 * policy, `<requests>;w=<window seconds>[;name="<name>"]`. Unlike Envoy, the window is the real
 * one (unit × unit_multiplier), and the reset is rounded up, so "0" never invites a retry
 * before the window has ended.
 */
export function rateLimitHeaders(statuses: readonly DescriptorStatus[]): [string, string][] {
  // One pass: this runs for every ShouldRateLimit.
  let tightest: DescriptorStatus | undefined;
  let policies = "";
  for (const status of statuses) {
    const limit = status.currentLimit;
    if (limit === undefined) continue;
    if (tightest === undefined || status.limitRemaining < tightest.limitRemaining) tightest = status;
    const name = limit.name === undefined ? "" : `;name="${quotable(limit.name)}"`;
    policies += `, ${limit.requestsPerUnit};w=${Math.ceil(limit.windowMs / 1000)}${name}`;
  }
  if (!tightest?.currentLimit) return [];
  return [
    ["x-ratelimit-limit", `${tightest.currentLimit.requestsPerUnit}${policies}`],
    ["x-ratelimit-remaining", String(tightest.limitRemaining)],
    ["x-ratelimit-reset", String(Math.ceil((tightest.durationUntilResetMs ?? 0) / 1000))],
  ];
}

/** Names come from the configuration, but a quote or control character must not break the header. */
function quotable(name: string): string {
  return name.replace(/["\\\p{Cc}]/gu, "");
}
