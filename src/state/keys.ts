import { entityKeyPrefix, windowBucket, type DistinctAdd, type WindowAdd, type WindowTake } from "./store.js";

/**
 * Every key of an entity starts with `<namespace>:{<entity>}:` — the `{…}` hash tag puts all of
 * them in one Redis Cluster slot — followed by one letter for the kind of structure, so that no
 * name of one kind can collide with a key of another:
 *
 *   w  sliding-window counter bucket  `…:w:<name>:<windowMs>:<bucket>`  string (INCRBY)  2 windows
 *   f  fixed-window counter           `…:f:<name>:<windowMs>:<bucket>`  string (INCRBY)  1 window
 *   d  distinct-count bucket          `…:d:<name>:<windowMs>:<bucket>`  HyperLogLog      2 windows
 *   m  remembered set                 `…:m:<name>`                      sorted set       retentionMs
 *   b  learned baseline               `…:b:<name>`                      hash             retentionMs
 *   t  token binding                  `…:t`                             string (JSON)    retentionMs (the binding's)
 *   x  replicas' publications         `…:x:<name>`                      hash             ttlMs (exchange's)
 *
 * The last column is the time to live, restarted by every write; on Redis a bucket's (w, f, d)
 * is set by the write that creates it, which outlasts its window already (store-scripts.ts),
 * and a PFADD that changes a distinct count renews it. Both stores use these keys, so
 * they agree on what is one structure. The keys of an entity's ops are built from its prefix
 * (`entityKeyPrefix`), made once per entity rather than once per key: a Check's script call
 * names about 23 keys of two or three entities.
 */

/** Namespace of every key unless the deployment picks another (e.g. two environments on one Redis). */
export const DEFAULT_NAMESPACE = "palisade";

/** The two fixed buckets a sliding window reads: the one `nowMs` falls in and the one before. */
export interface WindowBucketKeys {
  current: string;
  previous: string;
}

/**
 * `<namespace>:{<entity>}:w:<name>:<windowMs>:<bucket>`. The window length is part of the key so
 * that a policy changing a window does not read buckets counted under the old length.
 */
export function windowBucketKeys(prefix: string, op: WindowAdd, nowMs: number): WindowBucketKeys {
  return bucketKeys(`${prefix}:w:${op.name}:${op.windowMs}`, op.windowMs, nowMs);
}

/** A sliding take counts in the window.add buckets; a fixed one in a counter of its own. */
export function takeBucketKeys(prefix: string, op: WindowTake, nowMs: number): WindowBucketKeys {
  const kind = op.algorithm === "sliding" ? "w" : "f";
  return bucketKeys(`${prefix}:${kind}:${op.name}:${op.windowMs}`, op.windowMs, nowMs);
}

/**
 * A fixed bucket is never read after its window ends; a sliding one is read for one more. Both get
 * their time to live once, from the write that creates them (store-scripts.ts), and that may be
 * the replica whose clock runs furthest ahead: a fixed bucket keeps a slack of one more window (at
 * most FIXED_BUCKET_SLACK_MS), or a replica whose clock lags would find its current count gone
 * before its window ends and let a second quota through.
 */
export function takeTtlMs(op: WindowTake): number {
  return op.algorithm === "sliding" ? windowKeyTtlMs(op.windowMs) : op.windowMs + Math.min(op.windowMs, FIXED_BUCKET_SLACK_MS);
}

/** Clock skew between replicas a fixed bucket's time to live allows for; NTP keeps it far below. */
const FIXED_BUCKET_SLACK_MS = 60_000;

/** `<namespace>:{<entity>}:d:<name>:<windowMs>:<bucket>`: one HyperLogLog per bucket. */
export function distinctBucketKeys(prefix: string, op: DistinctAdd, nowMs: number): WindowBucketKeys {
  return bucketKeys(`${prefix}:d:${op.name}:${op.windowMs}`, op.windowMs, nowMs);
}

/** `<namespace>:{<entity>}:m:<name>`: one sorted set of members scored by the time they were added. */
export function memberSetKey(prefix: string, name: string): string {
  return `${prefix}:m:${name}`;
}

/** `<namespace>:{<entity>}:v:<name>`: one integer (value.swap). */
export function valueKey(prefix: string, name: string): string {
  return `${prefix}:v:${name}`;
}

/** `<namespace>:{<entity>}:b:<name>`: one hash of mean, variance, samples and lastPeriod. */
export function baselineKey(namespace: string, entity: string, name: string): string {
  return `${entityKeyPrefix(namespace, entity)}:b:${name}`;
}

/** `<namespace>:{<token pseudonym>}:t`: one token's binding (token-binding-record.ts). */
export function bindingKey(namespace: string, entity: string): string {
  return `${entityKeyPrefix(namespace, entity)}:t`;
}

/** `<namespace>:{<entity>}:x:<name>`: one hash, a field per replica (Store.exchange). */
export function exchangeKey(namespace: string, entity: string, name: string): string {
  return `${entityKeyPrefix(namespace, entity)}:x:${name}`;
}

/**
 * A bucket is read as "current" for one window and as "previous" for the next, so it must live
 * two windows after its last write; no longer, so that memory stays bounded.
 */
export function windowKeyTtlMs(windowMs: number): number {
  return 2 * windowMs;
}

function bucketKeys(structure: string, windowMs: number, nowMs: number): WindowBucketKeys {
  const bucket = windowBucket(nowMs, windowMs);
  return { current: `${structure}:${bucket}`, previous: `${structure}:${bucket - 1}` };
}
