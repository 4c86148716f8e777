import { createHash, randomUUID } from "node:crypto";
import type { RedisCommands } from "./commands.js";
import type { RedisSubscriber } from "./subscriber.js";
import { StoreUnavailableError } from "../store.js";
import {
  assertValidAuditedChange,
  assertValidMapKey,
  IN_DOUBT_FOLLOW_UP_MS,
  IdempotencyConflictError,
  WriteInDoubtError,
  type AuditedChange,
  type AuditedOutcome,
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
 * A shared map in Redis. Its keys share the hash tag `{response}` with the audit stream and the
 * idempotency records, so a change and its audit record are one script in one Cluster slot:
 *
 *   <ns>:{response}:map:<name>:e   hash        key → value
 *   <ns>:{response}:map:<name>:d   sorted set  key → deadline (Redis time, ms)
 *   <ns>:{response}:map:<name>:m   hash        epoch, seq
 *   <ns>:{response}:idem:<sha256>  string      the answer of an audited write, for a day
 *
 * The response engine's data is small and written rarely, so one slot (one Cluster master)
 * holds all of it. Each key expires with its longest-lived entry. Changes are announced on the
 * channel `<ns>:map:<name>` as JSON `{op, key, value?, ttlMs?, epoch, seq}`.
 *
 * Audited writes carry a deadline in Redis time: the script runs only if Redis reaches it
 * within three quarters of the command timeout after a fresh TIME reading (see #deadline).
 */
export class RedisSharedMap implements SharedMapStore {
  readonly #commands: RedisCommands;
  readonly #subscriber: RedisSubscriber;
  readonly #keys: [string, string, string];
  readonly #channel: string;
  readonly #prefix: string;
  readonly #auditKey: string;

  constructor(commands: RedisCommands, subscriber: RedisSubscriber, namespace: string, name: string) {
    assertValidMapName(name);
    this.#commands = commands;
    this.#subscriber = subscriber;
    this.#prefix = responseKeyPrefix(namespace);
    const prefix = `${this.#prefix}:map:${name}`;
    this.#keys = [`${prefix}:e`, `${prefix}:d`, `${prefix}:m`];
    this.#auditKey = auditStreamKey(namespace);
    this.#channel = `${namespace}:map:${name}`;
  }

  async put(key: string, value: string, ttlMs: number, audited?: AuditedChange): Promise<MapWrite & AuditedOutcome> {
    assertValidMapWrite(key, value, ttlMs);
    assertValidAuditedChange(audited);
    const args = [key, value, String(ttlMs), "0", randomUUID(), this.#channel];
    if (audited) {
      const { changed: _changed, ...written } = await this.#audited("put", args, audited);
      return written;
    }
    const { value: stored, epoch, seq } = await this.#put(args);
    return { value: stored, epoch, seq };
  }

  async putIfAbsent(key: string, value: string, ttlMs: number, audited?: AuditedChange): Promise<MapWrite & { created: boolean } & AuditedOutcome> {
    assertValidMapWrite(key, value, ttlMs);
    assertValidAuditedChange(audited);
    const args = [key, value, String(ttlMs), "1", randomUUID(), this.#channel];
    if (audited) {
      const { changed, ...written } = await this.#audited("put", args, audited);
      return { created: changed, ...written };
    }
    return this.#put(args);
  }

  async remove(key: string, expected?: string, audited?: AuditedChange): Promise<MapRemoval & AuditedOutcome> {
    assertValidMapKey(key);
    assertValidAuditedChange(audited);
    const args = [key, expected === undefined ? "0" : "1", expected ?? "", randomUUID(), this.#channel];
    if (audited) {
      const { changed, value, epoch, seq, ...outcome } = await this.#audited("remove", args, audited);
      return changed ? { removed: true, value, epoch, seq, ...outcome } : { removed: false, epoch, seq, ...outcome };
    }
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

  async read(keys: readonly string[]): Promise<(string | undefined)[]> {
    for (const key of keys) assertValidMapKey(key);
    if (keys.length === 0) return [];
    const reply = (await this.#commands.script("palisadeMapRead", this.#keys, keys)) as (string | null)[];
    return keys.map((_, i) => reply[i] ?? undefined);
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

  /**
   * One audited change. The deadline is Redis time read just before, plus three quarters of the
   * command timeout: if the script runs at all, it runs while this call still waits, with a
   * quarter of the timeout left for the reply to come back. A TIME reading that does not come
   * back fails the call before anything that changes state was sent.
   */
  async #audited(op: "put" | "remove", args: string[], audited: AuditedChange): Promise<MapWrite & { changed: boolean } & AuditedOutcome> {
    const budgetMs = Math.floor((this.#commands.timeoutMs * 3) / 4);
    const redisNow = Number(await this.#commands.script("palisadeTime", [this.#auditKey], []));
    const idempotency = `${this.#prefix}:idem:${createHash("sha256").update(audited.idempotencyKey).digest("hex")}`;
    const keys = [...this.#keys, this.#auditKey, idempotency];
    const { maxEntries, maxAgeMs } = audited.retention;
    const head = [op, String(redisNow + budgetMs), String(audited.idempotencyTtlMs), audited.fingerprint ?? "", JSON.stringify(audited.record), String(maxEntries), String(maxAgeMs)];
    let sent: unknown;
    try {
      sent = await this.#commands.script("palisadeMapAudited", keys, [...head, ...args]);
    } catch (error) {
      void this.#settleLater(idempotency, audited);
      throw new WriteInDoubtError(`${(error as Error).message}; refused by Redis unless it ran within its deadline`, { cause: error });
    }
    const reply = JSON.parse(String(sent)) as AuditedReply;
    if (reply.outcome === "mismatch") throw new IdempotencyConflictError();
    if (reply.outcome === "late") {
      throw new StoreUnavailableError("redis answered after the write's deadline; the script refused it and nothing was changed");
    }
    return {
      changed: reply.changed === 1,
      value: String(reply.value ?? ""),
      epoch: String(reply.epoch ?? ""),
      seq: Number(reply.seq ?? 0),
      ...(reply.auditId === undefined ? {} : { auditId: reply.auditId }),
      ...(reply.outcome === "replayed" ? { replayed: true } : {}),
    };
  }

  /**
   * After an audited write's reply did not come back: reads its idempotency record until Redis
   * answers. Commands on one connection run in order, so once the read is answered the write
   * has run or never will (refused late, or lost with its connection); a record that says it
   * changed something means the reply was lost, and `onAppliedLater` is told.
   */
  async #settleLater(idempotencyKey: string, audited: AuditedChange): Promise<void> {
    for (let attempt = 0; attempt < SETTLE_ATTEMPTS; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_PAUSE_MS).unref());
      let kept: string | null;
      try {
        kept = await this.#commands.call("GET", (client) => client.get(idempotencyKey));
      } catch {
        continue; // still unreachable
      }
      const reply = kept === null ? undefined : (JSON.parse(kept) as Partial<AuditedReply>);
      if (reply?.changed === 1 && reply.auditId !== undefined && reply.fingerprint === (audited.fingerprint ?? "")) audited.onAppliedLater?.({ auditId: reply.auditId });
      return;
    }
  }

  async #put(args: string[]): Promise<MapWrite & { created: boolean }> {
    const [created, stored, epoch, seq] = (await this.#commands.script("palisadeMapPut", this.#keys, args)) as Reply;
    return { created: created === 1, value: String(stored), epoch: String(epoch), seq: Number(seq) };
  }
}

type Reply = [number, string, string, number];

/** An in-doubt write is followed up with a read a second for IN_DOUBT_FOLLOW_UP_MS. */
const SETTLE_PAUSE_MS = 1_000;
const SETTLE_ATTEMPTS = IN_DOUBT_FOLLOW_UP_MS / SETTLE_PAUSE_MS;
interface AuditedReply {
  outcome: "done" | "replayed" | "late" | "mismatch";
  changed?: number;
  value?: string;
  epoch?: string;
  seq?: number;
  auditId?: string;
  fingerprint?: string;
}

/** The hash-tagged prefix of every key of the response engine (one Cluster slot). */
export const responseKeyPrefix = (namespace: string) => `${namespace}:{response}`;
export const auditStreamKey = (namespace: string) => `${responseKeyPrefix(namespace)}:audit`;
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
