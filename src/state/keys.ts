import { entityKeyPrefix, windowBucket, type WindowTake } from "./store.js";

/** Namespace of every key unless the deployment picks another (e.g. two environments on one Redis). */
export const DEFAULT_NAMESPACE = "palisade";

/**
 * What a key holds, as its first segment after the hash tag: `w` sliding-window counter buckets,
 * `f` fixed-window counters, `d` distinct-count buckets (HyperLogLog in Redis), `m` remembered
 * sets, `b` baselines.
 */
export type KeyKind = "w" | "f" | "d" | "m" | "b";

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

/** A sliding take counts in the window.add buckets; a fixed one in a counter of its own. */
export function takeKeys(namespace: string, entity: string, op: WindowTake, nowMs: number): WindowBucketKeys {
  return windowBucketKeys(namespace, entity, op.algorithm === "sliding" ? "w" : "f", op, nowMs);
}

/** A fixed bucket is never read after its window ends; a sliding one is read for one more. */
export function takeTtlMs(op: WindowTake): number {
  return op.algorithm === "sliding" ? windowKeyTtlMs(op.windowMs) : op.windowMs;
}
