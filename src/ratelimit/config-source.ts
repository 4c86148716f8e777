import { policyFingerprint } from "../config/fingerprint.js";
import { asConfigError, buildSafely, contentKey, HotReloader, unreadable, type LoadResult, type Reading, type ReloadLogger } from "../config/hot-reload.js";
import { RateLimitConfigError, type RateLimitConfig } from "./config.js";
import { buildRateLimitConfig, readRateLimitSnapshot } from "./config-loader.js";

export type RateLimitReloadResult = LoadResult<RateLimitConfig, RateLimitConfigError>;

export interface RateLimitConfigSourceOptions {
  /** A file, or a directory mounted from a ConfigMap. */
  location: string;
  logger: ReloadLogger;
  /** Called after each reload that changed something (not for the first load). */
  onReload?: (result: RateLimitReloadResult) => void;
  pollIntervalMs?: number;
  watch?: boolean;
}

/** What /readyz shows about the rate-limit configuration. */
export interface RateLimitConfigStatus {
  source: string;
  domains: string[];
  loadedAt: string;
  lastError?: { at: string; source: string; issues: RateLimitConfigError["issues"] };
}

/**
 * The rate-limit configuration in force, hot-reloaded with the policy's last-good semantics
 * (HotReloader): same ConfigMap handling, same "an invalid edit changes nothing".
 */
export class RateLimitConfigSource {
  readonly #reloader: HotReloader<RateLimitConfig, RateLimitConfigError>;

  constructor(options: RateLimitConfigSourceOptions) {
    const { location } = options;
    this.#reloader = new HotReloader(
      {
        what: "rate-limit configuration",
        location,
        fingerprint: () => policyFingerprint(location, []),
        read: () => readConfig(location),
        describe: (config) => ({ domains: [...config.domains.keys()] }),
        describeInForce: (config) => ({ domainsInForce: [...config.domains.keys()] }),
      },
      options,
    );
  }

  start(): Promise<RateLimitConfig> {
    return this.#reloader.start();
  }

  /** The configuration in force; cheap, for every ShouldRateLimit. */
  current(): RateLimitConfig {
    return this.#reloader.current();
  }

  reload(): Promise<RateLimitReloadResult> {
    return this.#reloader.reload();
  }

  stop(): Promise<void> {
    return this.#reloader.stop();
  }

  status(): RateLimitConfigStatus {
    const { value, source, loadedAt } = this.#reloader.inForce();
    const status: RateLimitConfigStatus = { source, domains: [...value.domains.keys()], loadedAt: loadedAt.toISOString() };
    const rejection = this.#reloader.rejection();
    if (rejection) status.lastError = { at: rejection.at.toISOString(), source: rejection.error.source, issues: rejection.error.issues };
    return status;
  }
}

async function readConfig(location: string): Promise<Reading<RateLimitConfig, RateLimitConfigError>> {
  try {
    const snapshot = await readRateLimitSnapshot(location);
    return { key: contentKey(snapshot.files), source: location, compile: () => buildSafely(() => buildRateLimitConfig(snapshot), (e) => asConfigError(e, location, RateLimitConfigError)) };
  } catch (error) {
    return unreadable(asConfigError(error, location, RateLimitConfigError));
  }
}
