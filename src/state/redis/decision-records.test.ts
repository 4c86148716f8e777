import { describe, expect, it } from "vitest";
import { countLoopTurns } from "../../../test/helpers/loop-turns.js";
import type { RedisCommands } from "./commands.js";
import { RedisDecisionRecordStore } from "./decision-records.js";

const MINUTE_MS = 60_000;
const T0 = Date.UTC(2026, 10, 24, 9, 0, 0);

/** Commands whose pipelines answer every HGETALL with the same minute of `perMinute` records. */
function commandsWithFullMinutes(perMinute: number): RedisCommands {
  const hash: Record<string, string> = {};
  for (let i = 0; i < perMinute; i++) {
    const field = i.toString(16).padStart(16, "0");
    hash[`r:${field}`] = JSON.stringify({ action: "block", rule: "stuffing", subject: `ip:${i}` });
    hash[`n:${field}`] = "1";
    hash[`l:${field}`] = String(T0 + i);
  }
  const client = {
    pipeline() {
      const minutes: string[] = [];
      const pipeline = {
        hgetall: (key: string) => (minutes.push(key), pipeline),
        exec: async () => minutes.map(() => [null, hash]),
      };
      return pipeline;
    },
  };
  return { call: (_what: string, send: (c: never) => Promise<unknown>) => send(client as never) } as unknown as RedisCommands;
}

describe("RedisDecisionRecordStore", () => {
  it("lists minute after minute with a turn of the event loop between them, not a whole pipeline's records in one turn", async () => {
    const store = new RedisDecisionRecordStore(commandsWithFullMinutes(50), "palisade");
    const loop = countLoopTurns();
    const turnsByMinute = new Map<number, number>();
    const found = await store.list({
      fromMs: T0,
      toMs: T0 + 10 * MINUTE_MS - 1,
      limit: 1_000,
      match: (record) => (turnsByMinute.set(record.minuteMs, loop.turns), record.record.rule === "nothing"),
    });
    loop.stop();
    expect(found).toEqual([]);
    const turnsSeen = [...turnsByMinute.values()];
    expect(turnsSeen).toHaveLength(10);
    // Newest minute first; each decoded at least one turn after the one before.
    for (let i = 1; i < turnsSeen.length; i++) expect(turnsSeen[i]!).toBeGreaterThan(turnsSeen[i - 1]!);
  });
});
