import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ReplayEvent } from "./events.js";
import { TimeOrder } from "./reorder.js";

const event = (line: number, timeMs: number): ReplayEvent => ({ line, timeMs, scenario: "s", label: "legit", kind: "access_log", entry: {} as never });

/** What TimeOrder must do, kept obviously right: everything held in one array, sorted on every release. */
function reference(times: number[], toleranceMs: number): { out: number[]; skipped: number[] } {
  let held: { line: number; timeMs: number }[] = [];
  const out: number[] = [];
  const skipped: number[] = [];
  let newest = -Infinity;
  times.forEach((timeMs, line) => {
    if (newest - timeMs > toleranceMs) return void skipped.push(line);
    newest = Math.max(newest, timeMs);
    held.push({ line, timeMs });
    held.sort((a, b) => a.timeMs - b.timeMs || a.line - b.line);
    while (held.length > 0 && held[0]!.timeMs <= newest - toleranceMs) out.push(held.shift()!.line);
  });
  held = held.sort((a, b) => a.timeMs - b.timeMs || a.line - b.line);
  return { out: [...out, ...held.map((h) => h.line)], skipped };
}

describe("TimeOrder", () => {
  it("releases in event-time order (ties in input order) exactly as a sorted buffer would, and skips what comes too late", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -30, max: 50 }), { maxLength: 300 }), fc.integer({ min: 0, max: 40 }), (steps, toleranceMs) => {
        // A clock that mostly moves forward and sometimes steps back, as a web server's log does.
        let now = 1_000;
        const times = steps.map((step) => (now = Math.max(0, now + step)));
        const order = new TimeOrder(toleranceMs);
        const out: number[] = [];
        const skipped: number[] = [];
        times.forEach((timeMs, line) => {
          const result = order.push(event(line, timeMs));
          if (Array.isArray(result)) out.push(...result.map((e) => e.line));
          else skipped.push(result.line);
        });
        out.push(...order.drain().map((e) => e.line));
        expect({ out, skipped }).toEqual(reference(times, toleranceMs));
      }),
      { numRuns: 300 },
    );
  });

  it("keeps order over a long in-order stream (its queue is compacted as it goes)", () => {
    const order = new TimeOrder(10);
    const out: number[] = [];
    for (let line = 0; line < 20_000; line++) {
      const result = order.push(event(line, line * 3 + (line % 7 === 0 ? -5 : 0)));
      if (Array.isArray(result)) out.push(...result.map((e) => e.timeMs));
    }
    out.push(...order.drain().map((e) => e.timeMs));
    expect(out).toHaveLength(20_000);
    expect(out.every((time, i) => i === 0 || out[i - 1]! <= time)).toBe(true);
  });
});
