import {
  assertValidRecordWrite,
  byLastDecision,
  listMinutes,
  OVERFLOW_FIELD,
  type DecisionRecordLimits,
  type DecisionRecordQuery,
  type DecisionRecordStore,
  type DecisionRecordWrite,
  type StoredDecisionRecord,
} from "../decision-records.js";
import { nextTurn } from "../../domain/next-turn.js";
import type { RedisCommands } from "./commands.js";

/** Minutes read per pipeline when listing: a page rarely needs more than the newest few. */
const LIST_BATCH = 30;

/**
 * Decision records in one Redis hash per minute, `<ns>:{decisions}:m:<minute ms>` (one hash tag,
 * so a list's pipeline stays in one Cluster slot, as the statistics do). Writes are one script
 * per aggregate (RECORD_WRITE_SCRIPT); a look-up by id is one HMGET; a list is HGETALL per
 * minute, newest first, in pipelines of LIST_BATCH minutes until the page is full.
 */
export class RedisDecisionRecordStore implements DecisionRecordStore {
  readonly #commands: RedisCommands;
  readonly #prefix: string;
  readonly #texts = new WeakMap<Record<string, unknown>, string>();

  constructor(commands: RedisCommands, namespace: string) {
    this.#commands = commands;
    this.#prefix = `${namespace}:{decisions}`;
  }

  async write(writes: readonly DecisionRecordWrite[], limits: DecisionRecordLimits): Promise<boolean[]> {
    const texts = writes.map((write) => [this.#text(write.record), this.#text(write.overflowRecord)] as const);
    for (const [i, write] of writes.entries()) assertValidRecordWrite(write, limits, texts[i]![0]);
    const answers = await Promise.all(
      writes.map((write, i) =>
        this.#commands.script(
          "palisadeRecordWrite",
          [this.#key(write.minuteMs)],
          [write.field, write.overflowField, texts[i]![0], texts[i]![1], String(write.count), String(write.lastMs), String(limits.retentionMs), String(limits.perMinute)],
        ),
      ),
    );
    return answers.map((answer) => Number(answer) === 1);
  }

  /**
   * A record's JSON, made once per record object: an aggregate's record is fixed, and every
   * flush that adds to its count sends it again (in case its minute was lost), so a flood's
   * flushes would otherwise serialise thousands of the same records every few seconds.
   */
  #text(record: Record<string, unknown>): string {
    let text = this.#texts.get(record);
    if (text === undefined) this.#texts.set(record, (text = JSON.stringify(record)));
    return text;
  }

  async get(minuteMs: number, field: string, overflowField: string): Promise<StoredDecisionRecord | undefined> {
    if (!Number.isSafeInteger(minuteMs)) throw new TypeError("record minute must be an integer");
    const names = [field, overflowField];
    const values = await this.#commands.call("HMGET (decisions)", (client) => client.hmget(this.#key(minuteMs), ...names.flatMap((f) => [`r:${f}`, `n:${f}`, `l:${f}`])));
    for (const [i, name] of names.entries()) {
      const record = decode(minuteMs, name, values[i * 3] ?? null, values[i * 3 + 1] ?? null, values[i * 3 + 2] ?? null);
      if (record) return record;
    }
    return undefined;
  }

  async list(query: DecisionRecordQuery): Promise<StoredDecisionRecord[]> {
    const minutes = listMinutes(query);
    const found: StoredDecisionRecord[] = [];
    for (let start = 0; start < minutes.length; start += LIST_BATCH) {
      const batch = minutes.slice(start, start + LIST_BATCH);
      const replies = await this.#commands.call("HGETALL (decisions)", async (client) => {
        const pipeline = client.pipeline();
        for (const minute of batch) pipeline.hgetall(this.#key(minute));
        return (await pipeline.exec()) ?? [];
      });
      for (const [i, minuteMs] of batch.entries()) {
        // A minute's records are decoded and sorted in one turn, the next minute's in the next:
        // 30 minutes of 500 records at once held the event loop 48-60 ms when the filter matched
        // nothing (bench/records-list.ts).
        if (i > 0) await nextTurn();
        const [error, value] = replies[i] ?? [null, null];
        if (error) throw error;
        const hash = (value ?? {}) as Record<string, string>;
        const records = Object.keys(hash)
          .filter((name) => name.startsWith("r:"))
          .flatMap((name) => {
            const field = name.slice(2);
            const record = decode(minuteMs, field, hash[name] ?? null, hash[`n:${field}`] ?? null, hash[`l:${field}`] ?? null);
            return record ? [record] : [];
          })
          .sort(byLastDecision);
        for (const record of records) {
          if (query.match && !query.match(record)) continue;
          found.push(record);
          if (found.length >= query.limit) return found;
        }
      }
    }
    return found;
  }

  #key(minuteMs: number): string {
    return `${this.#prefix}:m:${minuteMs}`;
  }
}

/** A field someone else wrote by hand (not JSON of an object, no count) is skipped. */
function decode(minuteMs: number, field: string, raw: string | null, count: string | null, last: string | null): StoredDecisionRecord | undefined {
  if (raw === null || count === null) return undefined;
  try {
    const record: unknown = JSON.parse(raw);
    if (typeof record !== "object" || record === null || Array.isArray(record)) return undefined;
    return { minuteMs, field, record: record as Record<string, unknown>, count: Number(count), lastMs: Number(last ?? 0), overflow: OVERFLOW_FIELD.test(field) };
  } catch {
    return undefined;
  }
}
