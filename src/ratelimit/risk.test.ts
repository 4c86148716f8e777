import { describe, expect, it } from "vitest";
import { parseRisk, riskScaledLimit } from "./risk.js";

describe("risk scaling", () => {
  it("gives the whole limit at risk 0, the floor at risk 100, linearly between, rounded down", () => {
    expect([0, 25, 50, 100].map((risk) => riskScaledLimit(100, 0.2, risk))).toEqual([100, 80, 60, 20]);
    expect(riskScaledLimit(100, 0.1, 100)).toBe(10); // not 9: 1 − 0.9 is not exact in binary
    expect(riskScaledLimit(7, 0, 100)).toBe(0);
    expect(riskScaledLimit(3, 0.5, 1)).toBe(2);
  });

  it("reads risk entries leniently and clamps them to 0-100", () => {
    expect(["42", " 7 ", "73.5", "250", "-3", "", "high"].map(parseRisk)).toEqual([42, 7, 73.5, 100, 0, undefined, undefined]);
  });
});
