import { describe, expect, it } from "vitest";
import { compileCondition, ConditionCostError, MAX_CONDITION_CHARS, SharedActivation, type RuleActivation } from "./cel.js";

/**
 * Rule conditions: what they may read, how an evaluation error counts (neither a match nor a
 * plain no-match), and what is refused at load time with which message.
 */

function activation(overrides: Partial<RuleActivation> = {}): RuleActivation {
  return {
    request: { path: "/login", method: "POST", headers: new Map([["user-agent", "curl/8"]]) },
    signal: new Map([["login.failures", 4]]),
    reasons: ["velocity.ip"],
    risk: 40,
    ...overrides,
  };
}

const evaluate = (source: string, overrides: Partial<RuleActivation> = {}) => compileCondition(source).evaluate(activation(overrides));

describe("compileCondition", () => {
  it("reads the request, signals, reasons and risk", () => {
    expect(evaluate('request.path == "/login" && request.method == "POST"')).toBe("match");
    expect(evaluate('request.headers["user-agent"].startsWith("curl/")')).toBe("match");
    expect(evaluate('signal["login.failures"] >= 4.0')).toBe("match");
    expect(evaluate('"velocity.ip" in reasons')).toBe("match");
    expect(evaluate("risk >= 40")).toBe("match");
    expect(evaluate("risk > 40")).toBe("no-match");
  });

  it("gives one request's shared activation the outcomes of the plain one, building only what is read", () => {
    const sources = [
      'request.path == "/login" && request.method == "POST"',
      'request.headers["user-agent"].startsWith("curl/")',
      'signal["login.failures"] >= 4.0',
      'signal["absent"] > 1.0',
      '"velocity.ip" in reasons',
      'reasons.exists(r, r.startsWith("velocity."))',
      "risk >= 40 && size(reasons) == 1",
      "request.missing == 1",
    ].map((source) => compileCondition(source));
    const built: string[] = [];
    const plain = activation();
    const shared = new (class extends SharedActivation {
      protected requestRecord() {
        built.push("request");
        return plain.request;
      }
      protected signalValues() {
        built.push("signal");
        return plain.signal;
      }
      protected reasonCodes() {
        built.push("reasons");
        return plain.reasons;
      }
    })(plain.risk);
    expect(compileCondition("risk >= 40").evaluate(shared)).toBe("match");
    expect(built).toEqual([]);
    expect(sources.map((c) => c.evaluate(shared))).toEqual(sources.map((c) => c.evaluate(plain)));
    expect(built).toEqual(["request", "signal", "reasons"]);
  });

  it("counts only true as a match", () => {
    expect(evaluate("false")).toBe("no-match");
    expect(evaluate('"true"')).toBe("no-match");
    expect(evaluate("1")).toBe("no-match");
  });

  it("answers error, not no-match, when a lookup fails", () => {
    expect(evaluate('signal["absent"] > 1.0')).toBe("error");
    expect(evaluate("request.absent == 1")).toBe("error");
  });

  it("lets a comprehension bind its own variables", () => {
    expect(evaluate('reasons.exists(r, r.startsWith("velocity."))')).toBe("match");
    expect(evaluate('reasons.all(r, r == "velocity.ip") && [1, 2].map(x, x * 2) == [2, 4]')).toBe("match");
  });

  it("refuses unknown variables at load time, naming each once", () => {
    expect(() => compileCondition("rsik > 1 && rsik < 5 || sgnal.x == 1")).toThrow(new Error("unknown variable 'rsik', 'sgnal'; use request, signal, reasons or risk"));
    // The check is not scoped: a comprehension's variable counts as known anywhere in the
    // condition, and reading it outside the comprehension fails only when evaluated.
    expect(evaluate('reasons.exists(r, true) && r == "x"')).toBe("error");
    expect(() => compileCondition("x == 1")).toThrow("unknown variable 'x'");
  });

  it("refuses a condition longer than the limit before parsing it", () => {
    const long = `risk > 1${" ".repeat(MAX_CONDITION_CHARS - 8)}`;
    expect(long).toHaveLength(MAX_CONDITION_CHARS);
    expect(compileCondition(long).cost).toBe(3);
    const tooLong = `${long} `;
    expect(() => compileCondition(tooLong)).toThrow(ConditionCostError);
    expect(() => compileCondition(tooLong)).toThrow(`the condition is ${MAX_CONDITION_CHARS + 1} characters; at most 4096`);
  });

  it("refuses what does not parse", () => {
    expect(() => compileCondition("risk >")).toThrow();
    expect(() => compileCondition("risk >")).not.toThrow(ConditionCostError);
  });
});
