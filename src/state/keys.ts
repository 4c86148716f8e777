import { entityKeyPrefix, windowBucket } from "./store.js";

/** Namespace of every key unless the deployment picks another (e.g. two environments on one Redis). */
export const DEFAULT_NAMESPACE = "palisade";

/**
 * What a key holds, as its first segment after the hash tag: `w` sliding-window counter buckets,
 * `d` distinct-count buckets (HyperLogLog in Redis), `m` remembered sets, `b` baselines.
 */
export type KeyKind = "w" | "d" | "m" | "b";

/** The two fixed buckets a window reads: the one `nowMs` falls in and the one before. */
export interface WindowBucketKeys {
  current: string;
  previous: string;
}

/**
 * `<namespace>:{<entity>}:<kind>:<name>:<windowMs>:<bucket>`. The window length is part of the
 * key so that a policy changing a window does not read buckets counted under the old length.
 * Both stores use the same keys, so they agree on what is one counter.
 */
export function windowBucketKeys(
  namespace: string,
  entity: string,
  kind: KeyKind,
  window: { name: string; windowMs: number },
  nowMs: number,
): WindowBucketKeys {
  const counter = `${entityKeyPrefix(namespace, entity)}:${kind}:${window.name}:${window.windowMs}`;
  const bucket = windowBucket(nowMs, window.windowMs);
  return { current: `${counter}:${bucket}`, previous: `${counter}:${bucket - 1}` };
}

/** `<namespace>:{<entity>}:<kind>:<name>` for state that is not bucketed by time. */
export function entityKey(namespace: string, entity: string, kind: KeyKind, name: string): string {
  return `${entityKeyPrefix(namespace, entity)}:${kind}:${name}`;
}

/**
 * A bucket is read as "current" for one window and as "previous" for the next, so it must live
 * two windows after its last write; no longer, so that memory stays bounded.
 */
export function windowKeyTtlMs(windowMs: number): number {
  return 2 * windowMs;
}
