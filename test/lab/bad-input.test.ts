import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { LabLine } from "../../src/lab/lines.js";
import { generate, replayFile, tempFile } from "./support.js";

const ONE = `
site: { users: 20, products: 20 }
legit: { sessionsPerMinute: 30 }
scenarios: [{ name: one, duration: 1m }]
`;

/** A short, valid lab file as lines of text, so tests can break some of them. */
function validLines(): string[] {
  return generate(ONE).map((line) => JSON.stringify(line));
}

function withTime(line: string, time: string): string {
  return JSON.stringify({ ...(JSON.parse(line) as LabLine), time });
}

describe("replay of bad input: reported with line numbers, the rest replayed", () => {
  it("reports lines that are not JSON, unknown event types and invalid messages, and skips them", async () => {
    const lines = validLines();
    const valid = lines.length;
    lines.splice(2, 0, "this is not json", JSON.stringify({ type: "ratelimit", time: "2026-03-02T09:00:00Z" }));
    lines.splice(6, 0, JSON.stringify({ type: "check", time: "2026-03-02T09:00:05Z", checkRequest: { attributes: { request: { htp: {} } } } }));
    const { result } = await replayFile(tempFile(lines.join("\n") + "\n"));
    expect(result.problems).toEqual([
      { line: 3, kind: "not_json", message: "not JSON", skipped: true },
      { line: 4, kind: "unknown_type", message: 'unknown event type "ratelimit" (expected check, access_log or history)', skipped: true },
      { line: 7, kind: "invalid", message: "checkRequest: attributes.request.htp: unknown field of envoy.service.auth.v3.AttributeContext.Request", skipped: true },
    ]);
    expect(result.events.checks + result.events.accessLogs).toBe(valid);
  });

  it("says so when the last line is cut short, and replays every line before it", async () => {
    const lines = validLines();
    const cut = lines.join("\n").slice(0, -25); // no newline at the end, half a JSON object
    const { result } = await replayFile(tempFile(cut));
    expect(result.problems).toContainEqual({ line: lines.length, kind: "truncated", message: expect.stringContaining("truncated"), skipped: true });
    expect(result.events.checks + result.events.accessLogs).toBe(lines.length - 1);
  });

  it("reads gzip, and reports a gzip stream that breaks off", async () => {
    const lines = validLines();
    const packed = gzipSync(lines.join("\n") + "\n");
    const whole = await replayFile(tempFile(packed, "whole.jsonl.gz"));
    expect(whole.result.events.checks + whole.result.events.accessLogs).toBe(lines.length);
    const broken = await replayFile(tempFile(packed.subarray(0, Math.floor(packed.length * 0.6)), "broken.jsonl.gz"));
    expect(broken.result.problems).toContainEqual(expect.objectContaining({ kind: "input_error", message: expect.stringContaining("input ends abruptly") }));
    expect(broken.result.events.checks).toBeGreaterThan(0);
  });

  it("puts slightly late events back in time order and skips one far out of order", async () => {
    const lines = validLines();
    const last = lines.length - 1;
    const newest = (JSON.parse(lines[last]!) as LabLine).time;
    const tenSecondsBack = new Date(Date.parse(newest) - 10_000).toISOString();
    const anHourBack = new Date(Date.parse(newest) - 3_600_000).toISOString();
    lines.push(withTime(lines[0]!, tenSecondsBack), withTime(lines[1]!, anHourBack));
    const { result } = await replayFile(tempFile(lines.join("\n") + "\n"));
    const disorder = result.problems.filter((p) => p.kind === "out_of_order");
    expect(disorder).toEqual([
      { line: last + 3, kind: "out_of_order", message: "3600 s earlier than an event before it: skipped (more than 60 s out of order)", skipped: true },
      { line: last + 2, kind: "out_of_order", message: `1 out-of-order events, up to 10 s late (lines ${last + 2}): replayed in time order`, skipped: false },
    ]);
    expect(result.events.checks + result.events.accessLogs).toBe(lines.length - 1);
  });
});
