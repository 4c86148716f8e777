import { parse } from "@bufbuild/cel";
import { describe, expect, it } from "vitest";
import { compileCondition, ConditionCostError, RULE_COST_BUDGET } from "./cel.js";
import { estimateCost, MAX_SIGNALS } from "./cel-cost.js";

/**
 * The static cost model of rule conditions, figure by figure: one step per node, a membership
 * test pays for the size of what it searches, a string function for a short scan, and a
 * comprehension pays its loop once per element its range can hold. `reasons` and `signal` hold
 * at most MAX_SIGNALS (256) entries, `request.headers` and values of unknown size 1024.
 */

const cost = (source: string) => estimateCost(parse(source).expr);

describe("estimateCost", () => {
  it("prices a constant, a variable and an operator one step per node", () => {
    expect(cost("1")).toBe(1);
    expect(cost("risk")).toBe(1);
    expect(cost("risk > 50")).toBe(3);
    expect(cost("risk > 50 && risk < 90")).toBe(7);
    expect(cost("risk > 50 ? 1 : 2")).toBe(6);
  });

  it("adds one step per field selected", () => {
    expect(cost("request.path")).toBe(2);
    expect(cost("request.headers")).toBe(2);
  });

  it("charges a membership test the largest size of what it searches", () => {
    expect(MAX_SIGNALS).toBe(256);
    // `in`, the needle, the list: 3 steps, then one per element the list can hold.
    expect(cost('"a" in reasons')).toBe(3 + 256);
    expect(cost('"a" in signal')).toBe(3 + 256);
    expect(cost('"a" in request')).toBe(3 + 1024);
    expect(cost('"a" in request.path')).toBe(4 + 1024);
    // An index into a map can yield anything: unknown size.
    expect(cost('"a" in request["x"]')).toBe(5 + 1024);
    // Any other identifier is a scalar.
    expect(cost('"a" in other')).toBe(4);
  });

  it("sizes a literal list by its elements, an empty one as one", () => {
    expect(cost('"a" in ["a", "b", "c"]')).toBe(1 + 1 + (1 + 3) + 3);
    expect(cost('"a" in []')).toBe(1 + 1 + 1 + 1);
    expect(cost('"a" in [request.path]')).toBe(1 + 1 + (1 + 2) + 1);
  });

  it("prices a map literal's keys as well as its values", () => {
    expect(cost("{}")).toBe(1);
    expect(cost('{"k": request.path}')).toBe(1 + 1 + 2);
    expect(cost('{request.path: 1}')).toBe(1 + 2 + 1);
    expect(cost('"a" in {"a": 1, "b": 2}')).toBe(1 + 1 + (1 + 4) + 4);
  });

  it("adds the sizes of two lists joined with +", () => {
    expect(cost('"a" in (reasons + reasons)')).toBe(1 + 1 + 3 + 512);
    expect(cost('"a" in (reasons + ["x"])')).toBe(1 + 1 + (1 + 1 + 2) + 257);
  });

  it("prices string functions as a short scan", () => {
    expect(cost('request.path.startsWith("/a")')).toBe(1 + 2 + 1 + 16);
    expect(cost('request.path.matches("^/a")')).toBe(20);
    expect(cost("size(reasons)")).toBe(1 + 1 + 16);
    // Other functions are one step.
    expect(cost("int(risk)")).toBe(2);
  });

  it("charges a comprehension its loop once per element of its range", () => {
    // exists(): range 1, init 1, per element the condition (3) and the step (5), result 1.
    expect(cost('reasons.exists(r, r == "a")')).toBe(1 + 1 + 256 * (3 + 5) + 1);
    expect(cost('request.headers.exists(k, k == "x")')).toBe(2 + 1 + 1024 * (3 + 5) + 1);
    expect(cost('["a", "b"].exists(r, r == "a")')).toBe(3 + 1 + 2 * (3 + 5) + 1);
  });

  it("lets map() and filter() yield up to one element per iteration", () => {
    const mapped = cost("reasons.map(r, r)");
    expect(mapped).toBe(1 + 1 + 256 * (1 + 4) + 1);
    expect(cost('"a" in reasons.map(r, r)')).toBe(2 + mapped + 256);
    // Nested, the inner comprehension runs once per element of the outer one.
    const nested = cost("reasons.exists(a, reasons.exists(b, a == b))");
    expect(nested).toBeGreaterThan(256 * 256 * 8);
    expect(nested).toBe(1 + 1 + 256 * (3 + (1 + 1 + (1 + 1 + 256 * (3 + 5) + 1))) + 1);
  });

  it("takes what it does not know as one step of unknown size", () => {
    expect(estimateCost(undefined)).toBe(1);
    expect(estimateCost({})).toBe(1);
    expect(estimateCost({ exprKind: { case: "callExpr", value: { function: "@in", args: [{}, {}] } } })).toBe(3 + 1024);
  });
});

describe("compileCondition's cost", () => {
  it("is the model's estimate", () => {
    expect(compileCondition('"a" in reasons').cost).toBe(259);
  });

  it("refuses a condition over the rule budget, naming the estimate", () => {
    const source = "reasons.exists(a, reasons.exists(b, reasons.exists(c, a == b && b == c)))";
    expect(cost(source)).toBeGreaterThan(RULE_COST_BUDGET);
    expect(() => compileCondition(source)).toThrow(ConditionCostError);
    expect(() => compileCondition(source)).toThrow(`estimated cost ${cost(source)} exceeds the rule budget of 100000`);
  });
});
