import { describe, expect, it } from "vitest";
import { rateLimitHeaders } from "./headers.js";
import type { DescriptorStatus } from "./request.js";

const status = (requestsPerUnit: number, windowMs: number, remaining: number, resetMs: number, name?: string): DescriptorStatus => ({
  code: remaining > 0 ? "OK" : "OVER_LIMIT",
  currentLimit: { requestsPerUnit, unit: "minute", windowMs, ...(name ? { name } : {}) },
  limitRemaining: remaining,
  durationUntilResetMs: resetMs,
});

describe("rateLimitHeaders (Envoy's DRAFT_VERSION_03)", () => {
  it("takes limit, remaining and reset from the tightest status and lists every limit's policy", () => {
    const headers = rateLimitHeaders([status(100, 60_000, 40, 30_000, "per-ip"), { code: "OK", limitRemaining: 0 }, status(20, 300_000, 3, 120_500)]);
    expect(headers).toEqual([
      ["x-ratelimit-limit", '20, 100;w=60;name="per-ip", 20;w=300'],
      ["x-ratelimit-remaining", "3"],
      ["x-ratelimit-reset", "121"],
    ]);
  });

  it("picks the first status on a tie, and says nothing when no limit applied", () => {
    expect(rateLimitHeaders([status(5, 1_000, 0, 400), status(9, 60_000, 0, 9_000)])[0]).toEqual(["x-ratelimit-limit", "5, 5;w=1, 9;w=60"]);
    expect(rateLimitHeaders([{ code: "OK", limitRemaining: 0xffff_ffff }])).toEqual([]);
  });

  it("keeps quotes and control characters in names from breaking the header", () => {
    expect(rateLimitHeaders([status(5, 1_000, 1, 1_000, 'a"b\nc')])[0]?.[1]).toBe('5, 5;w=1;name="abc"');
  });
});
