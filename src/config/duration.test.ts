import { describe, expect, it } from "vitest";
import { durationMs, parseDuration } from "./duration.js";

describe("durations", () => {
  it("parses units and sums, and refuses anything else", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("0s")).toBeUndefined();
    expect(parseDuration("5 minutes")).toBeUndefined();
  });

  it("gives a text the same milliseconds on every call, and throws for a bad one every time", () => {
    expect([durationMs("90s"), durationMs("90s"), durationMs("2m")]).toEqual([90_000, 90_000, 120_000]);
    expect(() => durationMs("soon")).toThrow("not a duration: soon");
    expect(() => durationMs("soon")).toThrow("not a duration: soon");
  });
});
