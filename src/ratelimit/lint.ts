import { formatIssues } from "../config/issues.js";
import type { LintResult } from "../policy/lint.js";
import { RateLimitConfigError, type RateLimitConfig } from "./config.js";
import { loadRateLimitConfig } from "./config-loader.js";

/**
 * Checks a rate-limit file or ConfigMap directory offline with the loader the server uses, so a
 * configuration that lints clean is one the server accepts.
 */
export async function lintRateLimitConfig(path: string): Promise<LintResult> {
  try {
    return { ok: true, output: summary(path, await loadRateLimitConfig(path)) };
  } catch (error) {
    if (error instanceof RateLimitConfigError) return { ok: false, output: formatIssues(error) };
    throw error;
  }
}

function summary(path: string, config: RateLimitConfig): string {
  const domains = [...config.domains.values()].map(
    (domain) => `${domain.domain} (${domain.ruleCount} rate limit${domain.ruleCount === 1 ? "" : "s"}, failure_mode ${domain.failureMode})`,
  );
  return `${path}: ok: ${domains.length} domain${domains.length === 1 ? "" : "s"}: ${domains.join(", ")}`;
}
