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
  const limited = statuses.filter((status) => status.currentLimit !== undefined);
  const tightest = limited.reduce<DescriptorStatus | undefined>(
    (best, status) => (best === undefined || status.limitRemaining < best.limitRemaining ? status : best),
    undefined,
  );
  if (!tightest?.currentLimit) return [];
  const policies = limited.map(({ currentLimit: limit }) => {
    const name = limit!.name === undefined ? "" : `;name="${quotable(limit!.name)}"`;
    return `, ${limit!.requestsPerUnit};w=${Math.ceil(limit!.windowMs / 1000)}${name}`;
  });
  return [
    ["x-ratelimit-limit", `${tightest.currentLimit.requestsPerUnit}${policies.join("")}`],
    ["x-ratelimit-remaining", String(tightest.limitRemaining)],
    ["x-ratelimit-reset", String(Math.ceil((tightest.durationUntilResetMs ?? 0) / 1000))],
  ];
}

/** Names come from the configuration, but a quote or control character must not break the header. */
function quotable(name: string): string {
  return name.replace(/["\\\p{Cc}]/gu, "");
}
