import { createHash } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { PolicyError, type CompiledPolicy, type PolicyIssue } from "./compile.js";
import { policyFingerprint } from "./fingerprint.js";
import { compileSnapshot, readPolicySnapshot, type PolicySnapshot } from "./loader.js";
import { isDirectory } from "./policy-file.js";

/** The logging this module needs; pino's logger fits. */
export interface PolicyLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

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
  /** Name and version of the policy decisions use: the override when one is set. */
  name: string;
  version: string;
  loadedAt: string;
  /** A runtime override (rollback, disabled rules, threshold overrides) wins over the file. */
  override?: { reason: string; since: string; fileVersion: string };
  /** The last rejected update, until a valid one (or the content in force) replaces it. */
  lastError?: { at: string; source: string; issues: PolicyIssue[] };
}

interface InForce {
  policy: CompiledPolicy;
  snapshot: PolicySnapshot;
  source: string;
  key: string;
  loadedAt: Date;
}

interface Override {
  policy: CompiledPolicy;
  reason: string;
  since: Date;
}

interface Rejection {
  key: string;
  error: PolicyError;
  at: Date;
}

/** A read of the files: what identifies their content, and how to compile it. */
interface Reading {
  key: string;
  source: string;
  /** Absent when the files could not be read at all. */
  snapshot?: PolicySnapshot;
  compile: () => ReloadResult;
}

/** Watch events come in bursts (kubelet renames several links; editors write then rename). */
const WATCH_SETTLE_MS = 50;

/**
 * The policy in force, hot-reloaded with last-good semantics: a valid update replaces it, an
 * invalid one is logged and reported but never takes effect.
 *
 * Changes are noticed two ways. fs.watch on the directory gives a fast signal (a ConfigMap
 * update shows as renames of `..data`), but it misses changes on some filesystems and after
 * symlink swaps, so a poll compares a cheap fingerprint (policyFingerprint) every
 * pollIntervalMs as a safety net. Either way the files are re-read and compared by content, so
 * a touch or a kubelet resync with the same data is not a reload. Checks run one at a time.
 *
 * A runtime override (set by the response engine for a rollback, disabled rules or threshold
 * overrides) wins over the file until it is cleared: file changes are still loaded, validated
 * and reported, but decisions keep using the override. Clearing it is the explicit step that
 * puts the file's policy back in force.
 */
export class PolicySource {
  readonly #location: string;
  readonly #logger: PolicyLogger;
  readonly #onReload: ((result: ReloadResult) => void) | undefined;
  readonly #pollIntervalMs: number;
  readonly #useWatch: boolean;
  #inForce: InForce | undefined;
  #override: Override | undefined;
  readonly #fileListeners = new Set<(policy: CompiledPolicy, snapshot: PolicySnapshot) => void>();
  #rejection: Rejection | undefined;
  #fingerprint = "";
  #listPaths: readonly string[] = [];
  #watcher: FSWatcher | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #checkQueued = false;
  #running = false;

  constructor(options: PolicySourceOptions) {
    this.#location = options.location;
    this.#logger = options.logger;
    this.#onReload = options.onReload;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#useWatch = options.watch ?? true;
  }

  /** Loads the policy, then watches for changes. Throws PolicyError when the first load fails: no policy, no service. */
  async start(): Promise<CompiledPolicy> {
    if (this.#running) return this.current();
    this.#fingerprint = await policyFingerprint(this.#location, []);
    const reading = await this.#read();
    const result = reading.compile();
    if (!result.ok) throw result.error;
    this.#apply(result.policy, reading, "policy loaded");
    this.#running = true;
    this.#watch((await isDirectory(this.#location)) ? this.#location : dirname(this.#location));
    this.#pollTimer = setInterval(() => this.#requestCheck(), this.#pollIntervalMs);
    this.#pollTimer.unref();
    return result.policy;
  }

  /** The policy in force: the override when set, else the file's. Synchronous and cheap: the Check hot path calls it. */
  current(): CompiledPolicy {
    return this.#override?.policy ?? this.#file().policy;
  }

  /** The last good policy read from the files, whatever override is set. */
  filePolicy(): CompiledPolicy {
    return this.#file().policy;
  }

  /** What the file's policy was built from, so it can be kept for a later rollback. */
  fileSnapshot(): PolicySnapshot {
    return this.#file().snapshot;
  }

  /** Sets (or, with undefined, clears) the runtime override; see the class comment. */
  setOverride(policy: CompiledPolicy | undefined, reason = ""): void {
    const before = this.current().version;
    this.#override = policy && { policy, reason, since: new Date() };
    const after = this.current().version;
    if (before !== after || policy) this.#logger.info({ version: after, fileVersion: this.filePolicy().version, reason }, policy ? "policy override set" : "policy override cleared");
  }

  /** Called after each file change that was applied (not the first load), after onReload. */
  onFileChange(listener: (policy: CompiledPolicy, snapshot: PolicySnapshot) => void): () => void {
    this.#fileListeners.add(listener);
    return () => this.#fileListeners.delete(listener);
  }

  status(): PolicySourceStatus {
    const inForce = this.#file();
    const current = this.current();
    const status: PolicySourceStatus = {
      source: inForce.source,
      name: current.name,
      version: current.version,
      loadedAt: inForce.loadedAt.toISOString(),
    };
    if (this.#override) {
      const { reason, since } = this.#override;
      status.override = { reason, since: since.toISOString(), fileVersion: inForce.policy.version };
    }
    const rejection = this.#rejection;
    if (rejection) {
      status.lastError = { at: rejection.at.toISOString(), source: rejection.error.source, issues: rejection.error.issues };
    }
    return status;
  }

  /**
   * Re-reads the files now, whatever the fingerprint says (SIGHUP). Resolves to the policy in
   * force, or the error that rejected the content found.
   */
  reload(): Promise<ReloadResult> {
    if (!this.#inForce) return Promise.reject(new Error("PolicySource.reload() called before start() succeeded"));
    return this.#enqueue(async () => {
      this.#fingerprint = await policyFingerprint(this.#location, this.#listPaths);
      return this.#readAndApply();
    });
  }

  /** Stops watching and polling; waits for a check in progress. The policy stays readable. */
  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#settleTimer);
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#queue;
  }

  #file(): InForce {
    if (!this.#inForce) throw new Error("PolicySource used before start() succeeded");
    return this.#inForce;
  }

  #watch(dir: string): void {
    if (!this.#useWatch) return;
    try {
      // Not persistent: watching must not keep a process alive that has nothing else to do.
      const watcher = watch(dir, { persistent: false }, () => this.#settleThenCheck());
      watcher.on("error", (error) => {
        this.#logger.warn({ err: error, dir }, "policy watch failed; relying on polling");
        watcher.close();
      });
      this.#watcher = watcher;
    } catch (error) {
      this.#logger.warn({ err: error, dir }, "cannot watch the policy directory; relying on polling");
    }
  }

  #settleThenCheck(): void {
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => this.#requestCheck(), WATCH_SETTLE_MS);
    this.#settleTimer.unref();
  }

  /** Queues a fingerprint check unless one is already waiting (it will see this change too). */
  #requestCheck(): void {
    if (!this.#running || this.#checkQueued) return;
    this.#checkQueued = true;
    void this.#enqueue(async () => {
      this.#checkQueued = false;
      const fingerprint = await policyFingerprint(this.#location, this.#listPaths);
      if (fingerprint === this.#fingerprint) return;
      // Taken before reading: a change during the read moves the fingerprint again, so it is not lost.
      this.#fingerprint = fingerprint;
      await this.#readAndApply();
    }).catch((error: unknown) => this.#logger.error({ err: error }, "policy check failed"));
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #readAndApply(): Promise<ReloadResult> {
    const reading = await this.#read();
    const inForce = this.#inForce!;
    if (reading.key === inForce.key) return this.#unchanged(inForce);
    if (reading.key === this.#rejection?.key) return { ok: false, error: this.#rejection.error };
    const result = reading.compile();
    if (result.ok) this.#apply(result.policy, reading, "policy reloaded");
    else this.#reject(result.error, reading.key);
    this.#notify(result);
    return result;
  }

  async #read(): Promise<Reading> {
    try {
      const snapshot = await readPolicySnapshot(this.#location);
      this.#listPaths = snapshot.listPaths;
      return { key: contentKey(snapshot), source: snapshot.source, snapshot, compile: () => compileToResult(snapshot) };
    } catch (error) {
      const rejected = asPolicyError(error, this.#location);
      // Keyed by the error itself, so the same unreadable state is reported once, not every poll.
      return { key: `unreadable\n${rejected.message}`, source: rejected.source, compile: () => ({ ok: false, error: rejected }) };
    }
  }

  /** Same content as the policy in force: not a reload. An edit reverted after a rejection clears the error. */
  #unchanged(inForce: InForce): ReloadResult {
    if (this.#rejection) {
      this.#logger.info({ source: inForce.source, version: inForce.policy.version }, "policy files match the policy in force again");
      this.#rejection = undefined;
    }
    return { ok: true, policy: inForce.policy };
  }

  #apply(policy: CompiledPolicy, reading: Reading, message: string): void {
    // A reading that compiled always has its snapshot: only unreadable files lack one.
    this.#inForce = { policy, snapshot: reading.snapshot!, source: reading.source, key: reading.key, loadedAt: new Date() };
    this.#rejection = undefined;
    const overriddenBy = this.#override?.policy.version;
    this.#logger.info({ source: this.#inForce.source, name: policy.name, version: policy.version, overriddenBy }, message);
  }

  #reject(error: PolicyError, key: string): void {
    this.#rejection = { key, error, at: new Date() };
    this.#logger.error(
      { source: error.source, issues: error.issues, versionInForce: this.#inForce?.policy.version },
      "policy rejected; the last good policy stays in force",
    );
  }

  #notify(result: ReloadResult): void {
    const callbacks = [() => this.#onReload?.(result)];
    if (result.ok) for (const listener of this.#fileListeners) callbacks.push(() => listener(result.policy, this.#file().snapshot));
    for (const callback of callbacks) {
      try {
        callback();
      } catch (error) {
        this.#logger.error({ err: error }, "policy reload listener failed");
      }
    }
  }
}

/** Identifies what a policy was built from: equal keys compile to equal policies. */
function contentKey(snapshot: PolicySnapshot): string {
  const hash = createHash("sha256").update(snapshot.source).update("\0").update(snapshot.text);
  for (const [name, text] of [...snapshot.listFiles].sort(([a], [b]) => a.localeCompare(b))) {
    hash.update("\0").update(name).update("\0").update(text);
  }
  return hash.digest("hex");
}

function compileToResult(snapshot: PolicySnapshot): ReloadResult {
  try {
    return { ok: true, policy: compileSnapshot(snapshot) };
  } catch (error) {
    return { ok: false, error: asPolicyError(error, snapshot.source) };
  }
}

/** A bug in compiling must not take the service down or replace the last good policy either. */
function asPolicyError(error: unknown, source: string): PolicyError {
  if (error instanceof PolicyError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PolicyError(source, [{ path: "", message: `internal error while loading: ${message}` }]);
}
