import { celEnv, celList, celMap, CelScalar, isCelError, listType, mapType, parse, plan, type CelList, type CelMap } from "@bufbuild/cel";
import { estimateCost } from "./cel-cost.js";
import { DIRECT_ERROR, directCondition, type DirectVariables } from "./cel-direct.js";

/**
 * The variables a rule condition can read. Maps are untyped (`dyn`) so new signals need no
 * schema change; a lookup of a key that is absent is an evaluation error, which makes the rule
 * not match (and is counted) rather than act on a guess.
 */
const RULE_VARIABLES = {
  request: mapType(CelScalar.STRING, CelScalar.DYN),
  signal: mapType(CelScalar.STRING, CelScalar.DOUBLE),
  reasons: listType(CelScalar.STRING),
  risk: CelScalar.INT,
} as const;

const ruleEnv = celEnv({ variables: RULE_VARIABLES });

/** What a rule condition sees. */
export interface RuleActivation {
  /** Maps are passed as they are: CEL reads them without copying every header per request. */
  request: Record<string, string | number | boolean | ReadonlyMap<string, string>>;
  signal: ReadonlyMap<string, number>;
  reasons: string[];
  risk: number;
}

export type RuleOutcome = "match" | "no-match" | "error";

/**
 * One request's activation, shared by every rule evaluated for it, in the form the evaluator
 * reads. Handed a plain object, @bufbuild/cel converts `request` into a new map (every entry
 * copied) and `reasons` into a new list on each look-up of either, in every rule; here each is
 * built and converted once, on first read, and a request whose rules read neither pays for
 * neither. The values are those the conversion of the plain RuleActivation gives. A subclass
 * says how each part is built (methods, not closures: nothing is allocated per part).
 */
export abstract class SharedActivation implements DirectVariables {
  readonly risk: bigint;
  #request: CelMap | undefined;
  #signal: CelMap | undefined;
  #reasons: CelList | undefined;
  #signalValues: ReadonlyMap<string, number> | undefined;
  #reasonCodes: string[] | undefined;

  constructor(readonly riskValue: number) {
    this.risk = BigInt(riskValue);
  }

  protected abstract requestRecord(): RuleActivation["request"];
  protected abstract signalValues(): ReadonlyMap<string, number>;
  protected abstract reasonCodes(): string[];

  signalMap(): ReadonlyMap<string, number> {
    return (this.#signalValues ??= this.signalValues());
  }

  reasonList(): string[] {
    return (this.#reasonCodes ??= this.reasonCodes());
  }

  get request(): CelMap {
    return (this.#request ??= celMap(new Map(Object.entries(this.requestRecord()))));
  }

  get signal(): CelMap {
    return (this.#signal ??= celMap(this.signalMap()));
  }

  get reasons(): CelList {
    return (this.#reasons ??= celList(this.reasonList()));
  }
}

/** A RuleActivation given whole (tests, tools), read through the same path. */
class WholeActivation extends SharedActivation {
  constructor(private readonly whole: RuleActivation) {
    super(whole.risk);
  }

  protected requestRecord(): RuleActivation["request"] {
    return this.whole.request;
  }

  protected signalValues(): ReadonlyMap<string, number> {
    return this.whole.signal;
  }

  protected reasonCodes(): string[] {
    return this.whole.reasons;
  }
}

export type CompiledCondition = (activation: RuleActivation | SharedActivation) => RuleOutcome;

/**
 * What one rule condition may cost, in the steps of cel-cost.ts: about a millisecond of
 * evaluation on a 2020s server core. A condition over every header costs ~10,000.
 */
export const RULE_COST_BUDGET = 100_000;
/** Longer conditions are refused before parsing: parsing is what a huge one would stall on. */
export const MAX_CONDITION_CHARS = 4096;

export interface PlannedCondition {
  evaluate: CompiledCondition;
  /** Estimated cost of one evaluation (cel-cost.ts). */
  cost: number;
}

/** Thrown for a condition that is valid CEL but too expensive; the message carries the figure. */
export class ConditionCostError extends Error {}

/**
 * Compiles a CEL condition with its estimated cost, or throws an Error whose message says what
 * is wrong with it (ConditionCostError when it is too long or too expensive).
 */
export function compileCondition(source: string): PlannedCondition {
  if (source.length > MAX_CONDITION_CHARS) {
    throw new ConditionCostError(`the condition is ${source.length} characters; at most ${MAX_CONDITION_CHARS}`);
  }
  const parsed = parse(source);
  const unknown = unknownIdentifiers(parsed.expr, new Set(Object.keys(RULE_VARIABLES)));
  if (unknown.length > 0) {
    throw new Error(`unknown variable ${unknown.map((n) => `'${n}'`).join(", ")}; use request, signal, reasons or risk`);
  }
  const cost = estimateCost(parsed.expr);
  if (cost > RULE_COST_BUDGET) {
    throw new ConditionCostError(`estimated cost ${cost} exceeds the rule budget of ${RULE_COST_BUDGET}`);
  }
  const program = plan(ruleEnv, parsed);
  // The common forms run as plain functions (cel-direct.ts), the rest through @bufbuild/cel.
  const direct = directCondition(parsed.expr);
  const evaluate: CompiledCondition = (activation) => {
    const variables = activation instanceof SharedActivation ? activation : new WholeActivation(activation);
    if (direct) {
      const answer = direct(variables);
      return answer === DIRECT_ERROR ? "error" : answer ? "match" : "no-match";
    }
    const result = program(variables as unknown as Parameters<typeof program>[0]);
    if (isCelError(result)) return "error";
    return result === true ? "match" : "no-match";
  };
  return { evaluate, cost };
}

/**
 * Identifiers the expression reads that are neither rule variables nor variables bound by a
 * comprehension (macros such as `reasons.exists(r, …)` expand to comprehensions at parse time).
 * The evaluator would only fail at run time; catching them at load time rejects a typo'd
 * policy instead of shipping a rule that never matches.
 */
function unknownIdentifiers(expr: unknown, known: Set<string>): string[] {
  const bound = new Set<string>();
  const seen = new Set<string>();
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach(visit);
    const kind = (node as { exprKind?: { case?: string; value?: Record<string, unknown> } }).exprKind;
    if (kind?.case === "identExpr") seen.add(String(kind.value?.name));
    if (kind?.case === "comprehensionExpr") {
      for (const field of ["iterVar", "iterVar2", "accuVar"]) {
        const variable = kind.value?.[field];
        if (typeof variable === "string" && variable !== "") bound.add(variable);
      }
    }
    for (const value of Object.values(node)) visit(value);
  };
  visit(expr);
  return [...seen].filter((name) => !known.has(name) && !bound.has(name));
}
