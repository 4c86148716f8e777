import { PolicyError, type CompiledPolicy, type PolicyIssue } from "./compile.js";
import { policyFingerprint } from "./fingerprint.js";
import { asConfigError, buildSafely, contentKey, HotReloader, unreadable, type ReloadLogger, type Reading } from "./hot-reload.js";
import { compileSnapshot, readPolicySnapshot, type PolicySnapshot } from "./loader.js";

/** The logging this module needs; pino's logger fits. */
export type PolicyLogger = ReloadLogger;

/** The outcome of one reload: the new policy in force, or why it was rejected. */
export type ReloadResult = { ok: true; policy: CompiledPolicy } | { ok: false; error: PolicyError };

export interface PolicySourceOptions {
  /** A policy file, or a directory mounted from a ConfigMap. */
  location: string;
  logger: PolicyLogger;
  /** Called after each reload that changed something (not for the first load): count, alert. */
  onReload?: (result: ReloadResult) => void;
  /** How often the files are checked even when no watch event came. */
  pollIntervalMs?: number;
  /** false relies on polling alone (filesystems without inotify, tests of the safety net). */
  watch?: boolean;
}

/** What /readyz shows about the policy. Times are ISO 8601. */
export interface PolicySourceStatus {
  source: string;
  name: string;
  version: string;
  loadedAt: string;
  /** The last rejected update, until a valid one (or the content in force) replaces it. */
  lastError?: { at: string; source: string; issues: PolicyIssue[] };
}

/**
 * The policy in force, hot-reloaded with last-good semantics (see HotReloader): a valid update
 * replaces it, an invalid one is logged and reported but never takes effect. Besides the policy
 * file, the list files it names are watched.
 */
export class PolicySource {
  readonly #location: string;
  readonly #reloader: HotReloader<CompiledPolicy, PolicyError>;
  #listPaths: readonly string[] = [];

  constructor(options: PolicySourceOptions) {
    this.#location = options.location;
    const { onReload } = options;
    this.#reloader = new HotReloader(
      {
        what: "policy",
        location: options.location,
        fingerprint: () => policyFingerprint(this.#location, this.#listPaths),
        read: () => this.#read(),
        describe: (policy) => ({ name: policy.name, version: policy.version }),
        describeInForce: (policy) => ({ versionInForce: policy.version }),
      },
      {
        logger: options.logger,
        pollIntervalMs: options.pollIntervalMs,
        watch: options.watch,
        onReload: onReload && ((result) => onReload(toReloadResult(result))),
      },
    );
  }

  /** Loads the policy, then watches for changes. Throws PolicyError when the first load fails: no policy, no service. */
  start(): Promise<CompiledPolicy> {
    return this.#reloader.start();
  }

  /** The policy in force. Synchronous and cheap: the Check hot path calls it. */
  current(): CompiledPolicy {
    return this.#reloader.current();
  }

  status(): PolicySourceStatus {
    const { value: policy, source, loadedAt } = this.#reloader.inForce();
    const status: PolicySourceStatus = { source, name: policy.name, version: policy.version, loadedAt: loadedAt.toISOString() };
    const rejection = this.#reloader.rejection();
    if (rejection) {
      status.lastError = { at: rejection.at.toISOString(), source: rejection.error.source, issues: rejection.error.issues };
    }
    return status;
  }

  /**
   * Re-reads the files now, whatever the fingerprint says (SIGHUP). Resolves to the policy in
   * force, or the error that rejected the content found.
   */
  async reload(): Promise<ReloadResult> {
    return toReloadResult(await this.#reloader.reload());
  }

  /** Stops watching and polling; waits for a check in progress. The policy stays readable. */
  stop(): Promise<void> {
    return this.#reloader.stop();
  }

  async #read(): Promise<Reading<CompiledPolicy, PolicyError>> {
    try {
      const snapshot = await readPolicySnapshot(this.#location);
      this.#listPaths = snapshot.listPaths;
      const key = contentKey(snapshotFiles(snapshot));
      return { key, source: snapshot.source, compile: () => buildSafely(() => compileSnapshot(snapshot), (e) => asConfigError(e, snapshot.source, PolicyError)) };
    } catch (error) {
      return unreadable(asConfigError(error, this.#location, PolicyError));
    }
  }
}

function toReloadResult(result: { ok: true; value: CompiledPolicy } | { ok: false; error: PolicyError }): ReloadResult {
  return result.ok ? { ok: true, policy: result.value } : result;
}

/** The policy file first, then the list files in name order. */
function snapshotFiles(snapshot: PolicySnapshot): [string, string][] {
  const lists = [...snapshot.listFiles].sort(([a], [b]) => a.localeCompare(b));
  return [[snapshot.source, snapshot.text], ...lists];
}
