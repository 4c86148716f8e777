import {
  assertValidStatsAdd,
  bucketStart,
  bucketStarts,
  MAX_MINUTE_RETENTION_MS,
  MAX_STATS_FIELDS,
  STATS_OVERFLOW_FIELD,
  type DecisionStatsStore,
  type StatsBucket,
  type StatsResolution,
  type StatsRetention,
} from "../decision-stats.js";
import type { RedisCommands } from "./commands.js";

/**
 * Decision statistics in Redis hashes, `<ns>:{stats}:m:<minute ms>` and `<ns>:{stats}:h:<hour ms>`
 * (one hash tag, so a read's pipeline stays in one Cluster slot). Adds are one script
 * (STATS_ADD_SCRIPT) that caps each hash's fields; reads are HGETALL per bucket in one pipeline.
 */
export class RedisDecisionStatsStore implements DecisionStatsStore {
  readonly #commands: RedisCommands;
  readonly #prefix: string;

  constructor(commands: RedisCommands, namespace: string) {
    this.#commands = commands;
    this.#prefix = `${namespace}:{stats}`;
  }

  async add(minuteMs: number, counts: Readonly<Record<string, number>>, retention: StatsRetention): Promise<void> {
    assertValidStatsAdd(minuteMs, counts, retention);
    const fields = Object.entries(counts).filter(([, count]) => count > 0);
    if (fields.length === 0) return;
    const keys = [this.#key("minute", minuteMs), this.#key("hour", bucketStart("hour", minuteMs))];
    const args = [String(MAX_STATS_FIELDS), String(Math.min(retention.minuteMs, MAX_MINUTE_RETENTION_MS)), String(retention.hourMs), STATS_OVERFLOW_FIELD];
    for (const [field, count] of fields) args.push(field, String(count));
    await this.#commands.script("palisadeStatsAdd", keys, args);
  }

  async read(resolution: StatsResolution, fromMs: number, toMs: number): Promise<StatsBucket[]> {
    const starts = bucketStarts(resolution, fromMs, toMs);
    const replies = await this.#commands.call("HGETALL (stats)", async (client) => {
      const pipeline = client.pipeline();
      for (const start of starts) pipeline.hgetall(this.#key(resolution, start));
      return (await pipeline.exec()) ?? [];
    });
    return starts.flatMap((startMs, i) => {
      const [error, value] = replies[i] ?? [null, null];
      if (error) throw error;
      const counts: Record<string, number> = {};
      for (const [field, text] of Object.entries((value ?? {}) as Record<string, string>)) {
        const count = Number(text);
        if (Number.isSafeInteger(count) && count > 0) counts[field] = count;
      }
      return Object.keys(counts).length > 0 ? [{ startMs, counts }] : [];
    });
  }

  #key(resolution: StatsResolution, startMs: number): string {
    return `${this.#prefix}:${resolution === "minute" ? "m" : "h"}:${startMs}`;
  }
}
