import { randomUUID } from "node:crypto";
import type { RedisCommands } from "./commands.js";
import type { RedisSubscriber } from "./subscriber.js";
import {
  assertValidMapKey,
  assertValidMapName,
  assertValidMapWrite,
  type MapChange,
  type MapRemoval,
  type MapSnapshot,
  type MapSubscription,
  type MapVersion,
  type MapWrite,
  type SharedMapStore,
} from "../shared-map.js";

/**
 * A shared map in Redis. Its three keys share the hash tag `{map:<name>}`, so each script runs
 * in one Cluster slot:
 *
 *   <ns>:{map:<name>}:e   hash        key → value
 *   <ns>:{map:<name>}:d   sorted set  key → deadline (Redis time, ms)
 *   <ns>:{map:<name>}:m   hash        epoch, seq
 *
 * Each key expires with its longest-lived entry. Changes are announced on the channel
 * `<ns>:map:<name>` as JSON `{op, key, value?, ttlMs?, epoch, seq}`.
 */
export class RedisSharedMap implements SharedMapStore {
  readonly #commands: RedisCommands;
  readonly #subscriber: RedisSubscriber;
  readonly #keys: [string, string, string];
  readonly #channel: string;

  constructor(commands: RedisCommands, subscriber: RedisSubscriber, namespace: string, name: string) {
    assertValidMapName(name);
    this.#commands = commands;
    this.#subscriber = subscriber;
    const prefix = `${namespace}:{map:${name}}`;
    this.#keys = [`${prefix}:e`, `${prefix}:d`, `${prefix}:m`];
    this.#channel = `${namespace}:map:${name}`;
  }

  async put(key: string, value: string, ttlMs: number): Promise<MapWrite> {
    assertValidMapWrite(key, value, ttlMs);
    const { value: stored, epoch, seq } = await this.#put(key, value, ttlMs, false);
    return { value: stored, epoch, seq };
  }

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<MapWrite & { created: boolean }> {
    assertValidMapWrite(key, value, ttlMs);
    return this.#put(key, value, ttlMs, true);
  }

  async remove(key: string, expected?: string): Promise<MapRemoval> {
    assertValidMapKey(key);
    const args = [key, expected === undefined ? "0" : "1", expected ?? "", randomUUID(), this.#channel];
    const [removed, value, epoch, seq] = (await this.#commands.script("palisadeMapRemove", this.#keys, args)) as Reply;
    const version = { epoch: String(epoch), seq: Number(seq) };
    return removed === 1 ? { removed: true, value: String(value), ...version } : { removed: false, ...version };
  }

  async snapshot(): Promise<MapSnapshot> {
    const reply = (await this.#commands.script("palisadeMapSnapshot", this.#keys, [])) as SnapshotReply;
    const [epoch, seq, now, flatEntries, flatDeadlines] = reply;
    const deadlines = new Map<string, number>();
    for (let i = 0; i < flatDeadlines.length; i += 2) deadlines.set(flatDeadlines[i]!, Number(flatDeadlines[i + 1]));
    const entries = new Map<string, { value: string; ttlMs: number }>();
    for (let i = 0; i < flatEntries.length; i += 2) {
      const key = flatEntries[i]!;
      entries.set(key, { value: flatEntries[i + 1]!, ttlMs: Math.max(1, (deadlines.get(key) ?? now) - now) });
    }
    return { epoch: String(epoch), seq: Number(seq), entries };
  }

  async version(): Promise<MapVersion> {
    const [epoch, seq] = await this.#commands.call("HMGET", (client) => client.hmget(this.#keys[2], "epoch", "seq"));
    return { epoch: epoch ?? "", seq: Number(seq ?? 0) };
  }

  async subscribe(onChange: (change: MapChange) => void, onResubscribed: () => void): Promise<MapSubscription> {
    const close = await this.#subscriber.listen(this.#channel, (message) => {
      const change = parseChange(message);
      if (change) onChange(change);
    }, onResubscribed);
    return { close };
  }

  async #put(key: string, value: string, ttlMs: number, onlyIfAbsent: boolean): Promise<MapWrite & { created: boolean }> {
    const args = [key, value, String(ttlMs), onlyIfAbsent ? "1" : "0", randomUUID(), this.#channel];
    const [created, stored, epoch, seq] = (await this.#commands.script("palisadeMapPut", this.#keys, args)) as Reply;
    return { created: created === 1, value: String(stored), epoch: String(epoch), seq: Number(seq) };
  }
}

type Reply = [number, string, string, number];
type SnapshotReply = [string, number, number, string[], string[]];

/** An announcement that is not one of ours (someone else publishing on the channel) is ignored. */
function parseChange(message: string): MapChange | undefined {
  try {
    const change = JSON.parse(message) as Partial<Record<string, unknown>>;
    const version = { epoch: String(change.epoch ?? ""), seq: Number(change.seq) };
    if (typeof change.key !== "string" || !Number.isSafeInteger(version.seq)) return undefined;
    if (change.op === "remove") return { op: "remove", key: change.key, ...version };
    if (change.op === "put" && typeof change.value === "string") {
      return { op: "put", key: change.key, value: change.value, ttlMs: Number(change.ttlMs), ...version };
    }
  } catch {
    // fall through
  }
  return undefined;
}
