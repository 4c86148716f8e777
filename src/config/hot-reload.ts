import { createHash } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import type { ConfigError, ConfigIssue } from "./config-error.js";
import { isDirectory } from "./files.js";

/** The logging this module needs; pino's logger fits. */
export interface ReloadLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** The outcome of one load: the value built from the files, or why they were rejected. */
export type LoadResult<T, E extends ConfigError> = { ok: true; value: T } | { ok: false; error: E };

/** A read of the files: what identifies their content, and how to build the value from it. */
export interface Reading<T, E extends ConfigError> {
  key: string;
  source: string;
  /** May work asynchronously (off the event loop's critical path); never rejects. */
  compile(): LoadResult<T, E> | Promise<LoadResult<T, E>>;
}

/** What one kind of hot-reloaded configuration (the policy, the rate-limit configuration) supplies. */
export interface ReloadSpec<T, E extends ConfigError> {
  /** For log messages: "policy", "rate-limit configuration". */
  what: string;
  /** A file, or a directory mounted from a ConfigMap. */
  location: string;
  /**
   * A cheap summary of the files, compared on every poll: when it is unchanged nothing is read.
   * A change only means "read again"; whether the content changed is decided on the content.
   */
  fingerprint(): Promise<string>;
  /** Reads the files. Never rejects: unreadable files are a Reading whose compile() fails. */
  read(): Promise<Reading<T, E>>;
  /** Fields to log about a value taking effect. */
  describe(value: T): object;
  /** Fields to log, beside a rejection, about the value that stays in force. */
  describeInForce(value: T): object;
}

export interface HotReloadOptions<T, E extends ConfigError> {
  logger: ReloadLogger;
  /** Called after each reload that changed something (not for the first load): count, alert. */
  onReload?: (result: LoadResult<T, E>) => void;
  /** How often the files are checked even when no watch event came. */
  pollIntervalMs?: number;
  /** false relies on polling alone (filesystems without inotify, tests of the safety net). */
  watch?: boolean;
}

export interface InForce<T> {
  value: T;
  source: string;
  loadedAt: Date;
}

export interface Rejection<E> {
  error: E;
  at: Date;
}

/** Watch events come in bursts (kubelet renames several links; editors write then rename). */
const WATCH_SETTLE_MS = 50;

/**
 * A configuration in force, hot-reloaded with last-good semantics: a valid update replaces it, an
 * invalid one is logged and reported but never takes effect.
 *
 * Changes are noticed two ways. fs.watch on the directory gives a fast signal (a ConfigMap
 * update shows as renames of `..data`), but it misses changes on some filesystems and after
 * symlink swaps, so a poll compares the spec's cheap fingerprint every pollIntervalMs as a
 * safety net. Either way the files are re-read and compared by content, so a touch or a kubelet
 * resync with the same data is not a reload. Checks run one at a time.
 */
export class HotReloader<T, E extends ConfigError> {
  readonly #spec: ReloadSpec<T, E>;
  readonly #logger: ReloadLogger;
  readonly #onReload: ((result: LoadResult<T, E>) => void) | undefined;
  readonly #pollIntervalMs: number;
  readonly #useWatch: boolean;
  #inForce: (InForce<T> & { key: string }) | undefined;
  #rejection: (Rejection<E> & { key: string }) | undefined;
  #fingerprint = "";
  #watcher: FSWatcher | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #checkQueued = false;
  #running = false;

  constructor(spec: ReloadSpec<T, E>, options: HotReloadOptions<T, E>) {
    this.#spec = spec;
    this.#logger = options.logger;
    this.#onReload = options.onReload;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#useWatch = options.watch ?? true;
  }

  /** Loads the configuration, then watches for changes. Throws its error when the first load fails. */
  async start(): Promise<T> {
    if (this.#running) return this.current();
    this.#fingerprint = await this.#spec.fingerprint();
    const reading = await this.#spec.read();
    const result = await reading.compile();
    if (!result.ok) throw result.error;
    this.#apply(result.value, reading, "loaded");
    this.#running = true;
    const location = this.#spec.location;
    this.#watch((await isDirectory(location)) ? location : dirname(location));
    this.#pollTimer = setInterval(() => this.#requestCheck(), this.#pollIntervalMs);
    this.#pollTimer.unref();
    return result.value;
  }

  /** The value in force. Synchronous and cheap: request hot paths call it. */
  current(): T {
    return this.inForce().value;
  }

  inForce(): InForce<T> {
    if (!this.#inForce) throw new Error(`the ${this.#spec.what} was read before start() succeeded`);
    const { value, source, loadedAt } = this.#inForce;
    return { value, source, loadedAt };
  }

  /** The last rejected update, until a valid one (or the content in force) replaces it. */
  rejection(): Rejection<E> | undefined {
    return this.#rejection && { error: this.#rejection.error, at: this.#rejection.at };
  }

  /**
   * Re-reads the files now, whatever the fingerprint says (SIGHUP). Resolves to the value in
   * force, or the error that rejected the content found.
   */
  reload(): Promise<LoadResult<T, E>> {
    if (!this.#inForce) return Promise.reject(new Error(`the ${this.#spec.what} was reloaded before start() succeeded`));
    return this.#enqueue(async () => {
      this.#fingerprint = await this.#spec.fingerprint();
      return this.#readAndApply();
    });
  }

  /** Stops watching and polling; waits for a check in progress. The value stays readable. */
  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#settleTimer);
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#queue;
  }

  #watch(dir: string): void {
    if (!this.#useWatch) return;
    try {
      // Not persistent: watching must not keep a process alive that has nothing else to do.
      const watcher = watch(dir, { persistent: false }, () => this.#settleThenCheck());
      watcher.on("error", (error) => {
        this.#logger.warn({ err: error, dir }, `${this.#spec.what} watch failed; relying on polling`);
        watcher.close();
      });
      this.#watcher = watcher;
    } catch (error) {
      this.#logger.warn({ err: error, dir }, `cannot watch the ${this.#spec.what} directory; relying on polling`);
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
      const fingerprint = await this.#spec.fingerprint();
      if (fingerprint === this.#fingerprint) return;
      // Taken before reading: a change during the read moves the fingerprint again, so it is not lost.
      this.#fingerprint = fingerprint;
      await this.#readAndApply();
    }).catch((error: unknown) => this.#logger.error({ err: error }, `${this.#spec.what} check failed`));
  }

  #enqueue<R>(task: () => Promise<R>): Promise<R> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #readAndApply(): Promise<LoadResult<T, E>> {
    const reading = await this.#spec.read();
    const inForce = this.#inForce!;
    if (reading.key === inForce.key) return this.#unchanged(inForce);
    if (reading.key === this.#rejection?.key) return { ok: false, error: this.#rejection.error };
    const result = await reading.compile();
    if (result.ok) this.#apply(result.value, reading, "reloaded");
    else this.#reject(result.error, reading.key);
    this.#notify(result);
    return result;
  }

  /** Same content as the value in force: not a reload. An edit reverted after a rejection clears the error. */
  #unchanged(inForce: InForce<T>): LoadResult<T, E> {
    if (this.#rejection) {
      this.#logger.info({ source: inForce.source, ...this.#spec.describe(inForce.value) }, `${this.#spec.what} files match the ${this.#spec.what} in force again`);
      this.#rejection = undefined;
    }
    return { ok: true, value: inForce.value };
  }

  #apply(value: T, reading: Reading<T, E>, verb: string): void {
    this.#inForce = { value, source: reading.source, key: reading.key, loadedAt: new Date() };
    this.#rejection = undefined;
    this.#logger.info({ source: reading.source, ...this.#spec.describe(value) }, `${this.#spec.what} ${verb}`);
  }

  #reject(error: E, key: string): void {
    this.#rejection = { key, error, at: new Date() };
    const inForce = this.#inForce ? this.#spec.describeInForce(this.#inForce.value) : {};
    this.#logger.error(
      { source: error.source, issues: error.issues, ...inForce },
      `${this.#spec.what} rejected; the last good ${this.#spec.what} stays in force`,
    );
  }

  #notify(result: LoadResult<T, E>): void {
    try {
      this.#onReload?.(result);
    } catch (error) {
      this.#logger.error({ err: error }, `${this.#spec.what} onReload callback failed`);
    }
  }
}

/** Identifies content by its files (name, text): equal keys build equal values. */
export function contentKey(files: Iterable<readonly [string, string]>): string {
  const hash = createHash("sha256");
  for (const [name, text] of files) hash.update(name).update("\0").update(text).update("\0");
  return hash.digest("hex");
}

/**
 * A Reading of files that could not be read. It is keyed by the error itself, so the same
 * unreadable state is reported once, not on every poll.
 */
export function unreadable<T, E extends ConfigError>(error: E): Reading<T, E> {
  return { key: `unreadable\n${error.message}`, source: error.source, compile: () => ({ ok: false, error }) };
}

/** Builds a value; an unexpected throw (a bug) is turned into a rejection by `asError`, never a crash. */
export function buildSafely<T, E extends ConfigError>(build: () => T, asError: (error: unknown) => E): LoadResult<T, E> {
  try {
    return { ok: true, value: build() };
  } catch (error) {
    return { ok: false, error: asError(error) };
  }
}

/**
 * The configuration error `error` is, or one reporting it as an internal error: a bug while
 * loading must not take the service down or replace the value in force either.
 */
export function asConfigError<E extends ConfigError>(error: unknown, source: string, Type: new (source: string, issues: ConfigIssue[]) => E): E {
  if (error instanceof Type) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new Type(source, [{ path: "", message: `internal error while loading: ${message}` }]);
}
