import { entityKeyPrefix, windowBucket, type WindowAdd } from "./store.js";

/** Namespace of every key unless the deployment picks another (e.g. two environments on one Redis). */
export const DEFAULT_NAMESPACE = "palisade";

/** The two fixed buckets a sliding window reads: the one `nowMs` falls in and the one before. */
export interface WindowBucketKeys {
  current: string;
  previous: string;
}

/**
 * `<namespace>:{<entity>}:w:<name>:<windowMs>:<bucket>`. The window length is part of the key so
 * that a policy changing a window does not read buckets counted under the old length. Both
 * stores use the same keys, so they agree on what is one counter.
 */
export function windowBucketKeys(namespace: string, entity: string, op: WindowAdd, nowMs: number): WindowBucketKeys {
  const counter = `${entityKeyPrefix(namespace, entity)}:w:${op.name}:${op.windowMs}`;
  const bucket = windowBucket(nowMs, op.windowMs);
  return { current: `${counter}:${bucket}`, previous: `${counter}:${bucket - 1}` };
}

/**
 * A bucket is read as "current" for one window and as "previous" for the next, so it must live
 * two windows after its last write; no longer, so that memory stays bounded.
 */
export function windowKeyTtlMs(windowMs: number): number {
  return 2 * windowMs;
}
