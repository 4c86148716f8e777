import { readFile, realpath } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import type { ParsedAddress } from "../domain/client-address.js";
import type { FeedLookup, FeedSource } from "../policy/cidr-lists.js";
import { botFeedKey, type CompiledPolicy } from "../policy/compile.js";
import { FeedFormatError, parseFeed, type FeedParseOptions, type ParsedFeed } from "../policy/feed-formats.js";
import { startWorker } from "../policy/off-thread.js";
import { RangeSet } from "../policy/range-set.js";
import { isInside, realRoots } from "../policy/loader.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";

/** What /readyz and the logs may say about one feed: its state, never its contents. */
export interface FeedStatus {
  list: string;
  /** Index of the feed in its list, as in the policy. */
  feed: number;
  /** The file name or the URL without credentials and query (which may hold an API key). */
  source: string;
  state: "loading" | "ok" | "failing";
  /** Ranges in the copy in force (0 before the first good load). */
  entries: number;
  /** Memory the copy in force holds (its merged intervals), bytes. */
  bytes: number;
  lastSuccessMs?: number;
  lastError?: string;
}

export interface ReputationFeedsOptions {
  logger: Logger;
  metrics?: Metrics;
  /** Relative feed file paths are read from here (the policy's folder). */
  baseDir: string;
  /**
   * Directories feed files may be read from, as for list files (settings.policyFileRoots); the
   * policy's folder when empty. A policy must not be a way to read other files of the service.
   */
  fileRoots?: readonly string[];
  now?: () => number;
  /** Largest feed accepted, in bytes; a larger one fails (and the last good copy stays). */
  maxBytes?: number;
  /** How long one HTTP fetch may take. */
  fetchTimeoutMs?: number;
  /** false parses on the main thread (the benchmark's comparison); a worker thread otherwise. */
  parseOffThread?: boolean;
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const DEFAULT_FETCH_TIMEOUT_MS = 60_000;

interface Feed {
  key: string;
  list: string;
  index: number;
  spec: FeedSource;
  set?: RangeSet;
  status: FeedStatus;
  timer?: NodeJS.Timeout;
  loading?: Promise<void>;
}

/**
 * Loads the reputation feeds the policy names, from files or HTTP(S) URLs, each on its own
 * schedule. A failed load (unreachable, too large, not the format it claims) keeps the last
 * good copy in force and is shown in /readyz and the metrics. The decision core reads the
 * feeds through `FeedLookup`: one binary search per feed, no I/O on the Check path.
 */
export class ReputationFeeds implements FeedLookup {
  readonly #feeds = new Map<string, Feed>();
  /** Feeds by list name, for the Check path. */
  #byList = new Map<string, Feed[]>();
  #stopped = false;

  constructor(private readonly options: ReputationFeedsOptions) {}

  has(list: string, address: ParsedAddress): boolean {
    const feeds = this.#byList.get(list);
    if (!feeds) return false;
    for (const feed of feeds) if (feed.set?.has(address.address)) return true;
    return false;
  }

  /**
   * Starts the feeds `policy` names and stops those it no longer names; resolves when each new
   * feed's first load is over (loaded or failed), so start-up serves with the lists in force.
   */
  async reconcile(policy: CompiledPolicy): Promise<void> {
    if (this.#stopped) return;
    const wanted = new Map<string, { list: { name: string }; index: number; spec: FeedSource }>();
    const named = [...policy.lists, ...policy.bots.allowed.map((bot) => ({ name: botFeedKey(bot.name), feeds: bot.feeds }))];
    for (const list of named) {
      list.feeds.forEach((spec, index) => wanted.set(feedKey(list.name, index, spec), { list, index, spec }));
    }
    for (const [key, feed] of this.#feeds) {
      if (wanted.has(key)) continue;
      clearTimeout(feed.timer);
      this.#feeds.delete(key);
      this.options.metrics?.feedEntries.remove({ list: feed.list, feed: String(feed.index) });
      this.options.metrics?.feedLastSuccess.remove({ list: feed.list, feed: String(feed.index) });
    }
    const started: Promise<void>[] = [];
    for (const [key, { list, index, spec }] of wanted) {
      if (this.#feeds.has(key)) continue;
      const feed: Feed = {
        key,
        list: list.name,
        index,
        spec,
        status: { list: list.name, feed: index, source: describeSource(spec.source), state: "loading", entries: 0, bytes: 0 },
      };
      this.#feeds.set(key, feed);
      started.push(this.#load(feed));
    }
    this.#index();
    await Promise.all(started);
  }

  /** Loads every feed again now (tests, and an operator's nudge); resolves when all are over. */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.#feeds.values()].map((feed) => this.#load(feed)));
  }

  status(): FeedStatus[] {
    return [...this.#feeds.values()].map((feed) => ({ ...feed.status }));
  }

  stop(): void {
    this.#stopped = true;
    for (const feed of this.#feeds.values()) clearTimeout(feed.timer);
    this.#feeds.clear();
    this.#byList.clear();
  }

  #index(): void {
    const byList = new Map<string, Feed[]>();
    for (const feed of this.#feeds.values()) byList.set(feed.list, [...(byList.get(feed.list) ?? []), feed]);
    this.#byList = byList;
  }

  #load(feed: Feed): Promise<void> {
    // One load at a time per feed: a slow fetch is not overtaken by the next scheduled one.
    feed.loading ??= this.#loadOnce(feed).finally(() => {
      feed.loading = undefined;
      this.#schedule(feed);
    });
    return feed.loading;
  }

  async #loadOnce(feed: Feed): Promise<void> {
    const { logger, metrics } = this.options;
    const labels = { list: feed.list, feed: String(feed.index) };
    const started = performance.now();
    try {
      const text = await this.#read(feed.spec.source);
      const options = { format: feed.spec.format, column: feed.spec.column };
      const parsed = this.options.parseOffThread === false ? parseFeed(text, options) : await parseOffThread(text, options);
      if (this.#feeds.get(feed.key) !== feed) return;
      feed.set = parsed.set;
      const now = (this.options.now ?? Date.now)();
      feed.status = { ...feed.status, state: "ok", entries: parsed.entries, bytes: parsed.set.bytes, lastSuccessMs: now, lastError: undefined };
      metrics?.feedLoads.inc({ ...labels, result: "success" });
      metrics?.feedEntries.set(labels, parsed.entries);
      metrics?.feedLastSuccess.set(labels, Math.floor(now / 1000));
      logger.info(
        { list: feed.list, feed: feed.index, source: feed.status.source, entries: parsed.entries, invalidLines: parsed.invalid, ms: Math.round(performance.now() - started) },
        "reputation feed loaded",
      );
    } catch (error) {
      const message = errorMessage(error);
      feed.status = { ...feed.status, state: "failing", lastError: message };
      metrics?.feedLoads.inc({ ...labels, result: "failure" });
      logger.warn({ list: feed.list, feed: feed.index, source: feed.status.source, error: message, keptEntries: feed.status.entries }, "reputation feed failed to load; the last good copy stays");
    }
  }

  #schedule(feed: Feed): void {
    if (this.#stopped || this.#feeds.get(feed.key) !== feed) return;
    clearTimeout(feed.timer);
    feed.timer = setTimeout(() => void this.#load(feed), Math.min(feed.spec.refreshMs, 2 ** 31 - 1));
    feed.timer.unref();
  }

  async #read(source: string): Promise<string> {
    const maxBytes = this.options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (/^https?:\/\//i.test(source)) return fetchText(source, maxBytes, this.options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS);
    const path = isAbsolute(source) ? source : resolve(this.options.baseDir, source);
    const real = await realpath(path);
    const roots = await realRoots(this.options.fileRoots?.length ? this.options.fileRoots : [this.options.baseDir]);
    if (!roots.some((root) => isInside(real, root))) throw new Error("the file is outside the allowed policy file roots");
    const bytes = await readFile(real);
    if (bytes.byteLength > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    return bytes.toString("utf8");
  }
}

/** How long parsing one feed may take on its worker before the load fails. */
const PARSE_TIMEOUT_MS = 120_000;

/**
 * Parses a feed on a worker thread of its own, so that Checks go on meanwhile; the range set's
 * arrays come back transferred. A worker per load: loads are minutes or hours apart.
 */
function parseOffThread(text: string, options: FeedParseOptions): Promise<ParsedFeed> {
  const url = new URL(import.meta.url.endsWith(".ts") ? "./feed-worker.ts" : "./feed-worker.js", import.meta.url);
  const worker = startWorker(url, { workerData: { text, options } });
  let timer: NodeJS.Timeout | undefined;
  return new Promise<ParsedFeed>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`parsing took longer than ${PARSE_TIMEOUT_MS / 1000} s`)), PARSE_TIMEOUT_MS);
    worker.once("message", (reply: { ok: true; arrays: unknown[]; entries: number; invalid: number; invalidLines: number[] } | { ok: false; message: string }) => {
      if (!reply.ok) return reject(new FeedFormatError(reply.message));
      try {
        resolve({ set: RangeSet.fromArrays(reply.arrays), entries: reply.entries, invalid: reply.invalid, invalidLines: reply.invalidLines });
      } catch (error) {
        reject(error as Error);
      }
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the parsing worker stopped (exit code ${code})`)));
  }).finally(() => {
    clearTimeout(timer);
    void worker.terminate();
  });
}

/** Reads a URL's body as text, refusing a non-2xx answer or one larger than `maxBytes`. */
async function fetchText(url: string, maxBytes: number, timeoutMs: number): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function feedKey(list: string, index: number, spec: FeedSource): string {
  return JSON.stringify([list, index, spec.source, spec.format, spec.column ?? null, spec.refreshMs]);
}

/** A URL without user, password, query or fragment; a file by its path (paths name no secret). */
export function describeSource(source: string): string {
  if (!/^https?:\/\//i.test(source)) return source;
  try {
    const url = new URL(source);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return "(unparsable URL)";
  }
}

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? (error.name === "TimeoutError" ? "timed out" : error.message) : String(error);
  // Node's fetch hides the reason in `cause`; the URL is never repeated.
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${text}${cause}`.slice(0, 200);
}
