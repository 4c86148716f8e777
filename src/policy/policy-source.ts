import { PolicyError, type CompiledPolicy, type PolicyIssue } from "./compile.js";
import { policyFingerprint } from "../config/fingerprint.js";
import { asConfigError, contentKey, HotReloader, unreadable, type LoadResult, type ReloadLogger, type Reading } from "../config/hot-reload.js";
import { compileSnapshot, compileSnapshotOffThread, readPolicySnapshot, type PolicySnapshot } from "./loader.js";
import { PolicyValidator } from "./off-thread.js";

/** The logging this module needs; pino's logger fits. */
export type PolicyLogger = ReloadLogger;

/** The outcome of one reload: the new policy in force, or why it was rejected. */
export type ReloadResult = { ok: true; policy: CompiledPolicy } | { ok: false; error: PolicyError };

export interface PolicySourceOptions {
  /** A policy file, or a directory mounted from a ConfigMap. */
  location: string;
  /**
   * Reloads parse and validate on a worker thread (default), so Checks are never held up by
   * one; false does it on the event loop (tests, tools). The first load is always on the event
   * loop: nothing is decided before it.
   */
  reloadOffThread?: boolean;
  /** Where list files may be read from; see PolicyReadOptions. */
  fileRoots?: readonly string[];
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
  /** Name and version of the policy decisions use: the override when one is set. */
  name: string;
  version: string;
  loadedAt: string;
  /** A runtime override (rollback, disabled rules, threshold overrides) wins over the file. */
  override?: { reason: string; since: string; fileVersion: string };
  /** The last rejected update, until a valid one (or the content in force) replaces it. */
  lastError?: { at: string; source: string; issues: PolicyIssue[] };
}

interface Override {
  policy: CompiledPolicy;
  reason: string;
  since: Date;
}

/**
 * The policy in force, hot-reloaded with last-good semantics (see HotReloader): a valid update
 * replaces it, an invalid one is logged and reported but never takes effect. Besides the policy
 * file, the list files it names are watched.
 *
 * A runtime override (set by the response engine for a rollback, disabled rules or threshold
 * overrides) wins over the file until it is cleared: file changes are still loaded, validated
 * and reported, but decisions keep using the override. Clearing it is the explicit step that
 * puts the file's policy back in force.
 */
export class PolicySource {
  readonly #location: string;
  readonly #fileRoots: readonly string[];
  readonly #validator: PolicyValidator | undefined;
  #started = false;
  readonly #logger: PolicyLogger;
  readonly #reloader: HotReloader<CompiledPolicy, PolicyError>;
  #listPaths: readonly string[] = [];
  /** What each compiled file policy was built from, kept so it can be restored by a rollback. */
  readonly #snapshots = new WeakMap<CompiledPolicy, PolicySnapshot>();
  #override: Override | undefined;
  readonly #fileListeners = new Set<(policy: CompiledPolicy, snapshot: PolicySnapshot) => void>();

  constructor(options: PolicySourceOptions) {
    this.#location = options.location;
    this.#fileRoots = options.fileRoots ?? [];
    this.#validator = options.reloadOffThread === false ? undefined : new PolicyValidator();
    this.#logger = options.logger;
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
        onReload: (result) => {
          onReload?.(toReloadResult(result));
          if (result.ok) {
            this.#warnAbout(result.value);
            this.#notifyFileChange(result.value);
          }
        },
      },
    );
  }

  /** Loads the policy, then watches for changes. Throws PolicyError when the first load fails: no policy, no service. */
  async start(): Promise<CompiledPolicy> {
    const policy = await this.#reloader.start();
    this.#started = true;
    this.#warnAbout(policy);
    return policy;
  }

  #warnAbout(policy: CompiledPolicy): void {
    if (policy.warnings.length > 0) this.#logger.warn({ version: policy.version, warnings: policy.warnings }, "policy loaded with warnings");
  }

  /** The policy in force: the override when set, else the file's. Synchronous and cheap: the Check hot path calls it. */
  current(): CompiledPolicy {
    return this.#override?.policy ?? this.#reloader.current();
  }

  /** The last good policy read from the files, whatever override is set. */
  filePolicy(): CompiledPolicy {
    return this.#reloader.current();
  }

  /** What the file's policy was built from, so it can be kept for a later rollback. */
  fileSnapshot(): PolicySnapshot {
    const snapshot = this.#snapshots.get(this.filePolicy());
    if (!snapshot) throw new Error("PolicySource used before start() succeeded");
    return snapshot;
  }

  /** Sets (or, with undefined, clears) the runtime override; see the class comment. */
  setOverride(policy: CompiledPolicy | undefined, reason = ""): void {
    const before = this.current().version;
    this.#override = policy && { policy, reason, since: new Date() };
    const after = this.current().version;
    if (before !== after || policy) {
      this.#logger.info({ version: after, fileVersion: this.filePolicy().version, reason }, policy ? "policy override set" : "policy override cleared");
    }
  }

  /** Called after each file change that was applied (not the first load), after onReload. */
  onFileChange(listener: (policy: CompiledPolicy, snapshot: PolicySnapshot) => void): () => void {
    this.#fileListeners.add(listener);
    return () => this.#fileListeners.delete(listener);
  }

  status(): PolicySourceStatus {
    const { value: filePolicy, source, loadedAt } = this.#reloader.inForce();
    const policy = this.current();
    const status: PolicySourceStatus = { source, name: policy.name, version: policy.version, loadedAt: loadedAt.toISOString() };
    if (this.#override) {
      const { reason, since } = this.#override;
      status.override = { reason, since: since.toISOString(), fileVersion: filePolicy.version };
    }
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
  async stop(): Promise<void> {
    await this.#reloader.stop();
    await this.#validator?.close();
  }

  #notifyFileChange(policy: CompiledPolicy): void {
    const snapshot = this.#snapshots.get(policy);
    if (!snapshot) return;
    for (const listener of this.#fileListeners) {
      try {
        listener(policy, snapshot);
      } catch (error) {
        this.#logger.error({ err: error }, "policy reload listener failed");
      }
    }
  }

  async #read(): Promise<Reading<CompiledPolicy, PolicyError>> {
    try {
      const validator = this.#started ? this.#validator : undefined;
      const snapshot = await readPolicySnapshot(
        this.#location,
        { fileRoots: this.#fileRoots },
        validator && ((text, source) => validator.listFileNames(text, source)),
      );
      this.#listPaths = snapshot.listPaths;
      const key = contentKey(snapshotFiles(snapshot));
      const compile = async (): Promise<LoadResult<CompiledPolicy, PolicyError>> => {
        try {
          const policy = validator ? await compileSnapshotOffThread(snapshot, validator) : compileSnapshot(snapshot);
          this.#snapshots.set(policy, snapshot);
          return { ok: true, value: policy };
        } catch (error) {
          return { ok: false, error: asConfigError(error, snapshot.source, PolicyError) };
        }
      };
      return { key, source: snapshot.source, compile };
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
